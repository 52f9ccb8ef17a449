"""Writes that only the web pages need: sign-up and inviting members. Everything else goes through the
apps' services (accounts, strategies, execution), which audit every change.

Invitations are signed, expiring tokens (django.core.signing with SECRET_KEY): nothing is stored until
someone uses one, and a token names the tenant, the email and the role, so it cannot be edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils.text import slugify

from accounts import services as account_services
from accounts.models import Membership, Role, Tenant

INVITE_SALT = "web.invite"
INVITE_MAX_AGE = timedelta(days=7)


class InvalidInvitation(Exception):
    """An invitation token is forged, altered, expired or names a tenant that no longer exists."""


@dataclass(frozen=True)
class Invitation:
    tenant: Tenant
    email: str
    role: str


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "desk"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def signup(
    *, username: str, email: str, password: str, desk_name: str | None, invitation: str | None
) -> AbstractBaseUser:
    """A new user; with an invitation they join that desk, otherwise they own a new desk."""
    invite = invitation_read(token=invitation) if invitation else None
    if invite is not None and invite.email.lower() != email.lower():
        raise ValidationError({"email": "use the address the invitation was sent to"})
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    if invite is not None:
        account_services.membership_add(
            tenant=invite.tenant, user=user, role=invite.role, actor=None
        )
    else:
        if not desk_name:
            raise ValidationError({"desk_name": "name your trading desk"})
        account_services.tenant_create(name=desk_name, slug=_unique_slug(desk_name), owner=user)
    return user


def invitation_token(*, tenant: Tenant, email: str, role: str) -> str:
    return signing.dumps(
        {"tenant": tenant.pk, "email": email.lower(), "role": role},
        salt=INVITE_SALT,
        compress=True,
    )


def invitation_read(*, token: str) -> Invitation:
    try:
        data = signing.loads(token, salt=INVITE_SALT, max_age=INVITE_MAX_AGE.total_seconds())
    except signing.SignatureExpired as exc:
        raise InvalidInvitation("this invitation has expired; ask for a new one") from exc
    except signing.BadSignature as exc:
        raise InvalidInvitation("this invitation link is not valid") from exc
    tenant = Tenant.objects.filter(pk=data.get("tenant")).first()
    if tenant is None or data.get("role") not in Role.values:
        raise InvalidInvitation("this invitation link is not valid")
    return Invitation(tenant=tenant, email=str(data["email"]), role=data["role"])


@transaction.atomic
def member_invite(
    *, tenant: Tenant, actor: AbstractBaseUser, email: str, role: str, signup_url: str
) -> Membership | None:
    """Add an existing user (matched by email, unambiguously) or email a sign-up link.

    Returns the new membership, or None when a link was sent. The owner sees the same message either
    way, so the form cannot be used to probe which addresses have accounts.
    """
    if role not in Role.values:
        raise ValidationError({"role": f"choose one of {', '.join(Role.values)}"})
    users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    if len(users) == 1:
        user = users[0]
        if Membership.objects.for_tenant(tenant).filter(user=user).exists():
            return None
        membership = account_services.membership_add(
            tenant=tenant, user=user, role=role, actor=actor
        )
        transaction.on_commit(
            lambda: send_mail(
                f"You have been added to {tenant.name}",
                f"{actor.get_username()} added you to the trading desk {tenant.name} as {role}.",
                settings.DEFAULT_FROM_EMAIL,
                [user.email],
            )
        )
        return membership
    token = invitation_token(tenant=tenant, email=email, role=role)
    link = f"{signup_url}?invite={token}"
    account_services.audit_record(
        tenant=tenant, actor=actor, action="membership.invite", after={"email": email, "role": role}
    )
    transaction.on_commit(
        lambda: send_mail(
            f"Invitation to {tenant.name}",
            f"{actor.get_username()} invited you to the trading desk {tenant.name} as {role}.\n\n"
            f"Create your login here (the link works for {INVITE_MAX_AGE.days} days):\n{link}\n",
            settings.DEFAULT_FROM_EMAIL,
            [email],
        )
    )
    return None
