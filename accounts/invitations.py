"""Joining a desk: invitations, accepted only by their recipient, and verified email addresses.

Rules (tests: accounts/tests/test_invitations.py, web/tests/test_auth.py):
- An owner invites an address; the link goes to that address and nowhere else. Nobody is ever added
  because an account with that address exists: every new membership is accepted by its user.
- The link's secret is stored as a SHA-256 hash; the link expires (INVITATION_VALID_FOR), works once
  and the desk can revoke it. A new invitation to the same address replaces the pending one.
- Accepting needs a logged-in user whose login's email is the invited address; opening the link
  proves that address, so it becomes the user's verified email.
- Sign-up without an invitation sends a verification link; an address counts as the user's own only
  once verified (`verified_email_of`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, Tenant, VerifiedEmail
from accounts.services import audit_record, membership_add, snapshot

INVITATION_VALID_FOR = timedelta(days=7)
VERIFY_SALT = "accounts.verify-email"
VERIFY_VALID_FOR = timedelta(days=3)


class InvalidInvitation(Exception):
    """The link is unknown, used, revoked or expired; the message says which, for the recipient."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _normalise(email: str) -> str:
    return email.strip().lower()


# ------------------------------------------------------------------------------ the desk's side


@transaction.atomic
def invitation_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser,
    email: str,
    role: str,
    link_for: Callable[[str], str],
) -> Invitation:
    """Store an invitation and email its link (`link_for(token)`, an absolute URL) after commit."""
    if role not in Role.values:
        raise ValidationError({"role": f"choose one of {', '.join(Role.values)}"})
    email = _normalise(email)
    members = Membership.objects.for_tenant(tenant).filter(user__email__iexact=email)
    if members.exists():
        raise ValidationError({"email": "a member of this desk already has this address"})
    now = timezone.now()
    pending = Invitation.objects.for_tenant(tenant).filter(
        email=email, accepted_at=None, revoked_at=None
    )
    pending.update(revoked_at=now)  # one live link per address: the newest
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor,
        expires_at=now + INVITATION_VALID_FOR,
    )
    invitation.full_clean(exclude=["tenant", "invited_by", "accepted_by"])
    invitation.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="invitation.create",
        target=invitation,
        after={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    link = link_for(token)
    subject = f"Invitation to {tenant.name}"
    body = (
        f"{actor.get_username()} invited you to the trading desk {tenant.name} as {role}.\n\n"
        f"Open this link to accept (it works once, for {INVITATION_VALID_FOR.days} days):\n"
        f"{link}\n\nIf you did not expect this, ignore this message: nothing happens without you.\n"
    )
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))
    return invitation


@transaction.atomic
def invitation_revoke(
    *, tenant: Tenant, invitation: Invitation, actor: AbstractBaseUser | None
) -> Invitation:
    invitation.require_tenant(tenant)
    if invitation.accepted_at is not None:
        raise ValidationError("this invitation was already accepted; remove the member instead")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="invitation.revoke",
            target=invitation,
            after={"email": invitation.email},
        )
    return invitation


# -------------------------------------------------------------------------- the recipient's side


def invitation_for_token(*, token: str) -> Invitation:
    """The pending invitation behind a link, or InvalidInvitation saying why not."""
    invitation = (
        Invitation.all_tenants.select_related("tenant")  # the link names no desk: found by its hash
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise InvalidInvitation("this invitation link is not valid")
    if invitation.accepted_at is not None:
        raise InvalidInvitation("this invitation has already been used")
    if invitation.revoked_at is not None:
        raise InvalidInvitation("this invitation was withdrawn; ask the desk for a new one")
    if not invitation.is_pending(timezone.now()):
        raise InvalidInvitation("this invitation has expired; ask the desk for a new one")
    return invitation


def _for_recipient(*, token: str, user: AbstractBaseUser) -> Invitation:
    """The pending invitation, locked, if `user` is its recipient (their login uses the address)."""
    invitation = invitation_for_token(token=token)
    invitation = Invitation.all_tenants.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending(timezone.now()):  # lost a race with another click
        raise InvalidInvitation("this invitation has already been used")
    if _normalise(user.email or "") != invitation.email:
        raise InvalidInvitation(
            "this invitation was sent to another address; log in with the login that uses it, "
            "or sign up from the link"
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """The recipient accepts: their login's email must be the invited address."""
    invitation = _for_recipient(token=token, user=user)
    email_mark_verified(user=user, email=invitation.email)
    tenant = invitation.tenant
    membership = Membership.objects.for_tenant(tenant).filter(user=user).first()
    if membership is None:
        membership = membership_add(tenant=tenant, user=user, role=invitation.role, actor=user)
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        tenant=tenant,
        actor=user,
        action="invitation.accept",
        target=invitation,
        after=snapshot(membership),
    )
    return membership


@transaction.atomic
def invitation_decline(*, token: str, user: AbstractBaseUser) -> Invitation:
    invitation = _for_recipient(token=token, user=user)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        tenant=invitation.tenant,
        actor=user,
        action="invitation.decline",
        target=invitation,
        after={"email": invitation.email},
    )
    return invitation


# --------------------------------------------------------------------------- verified addresses


def email_mark_verified(*, user: AbstractBaseUser, email: str) -> VerifiedEmail:
    record, _ = VerifiedEmail.objects.update_or_create(
        user=user, defaults={"email": _normalise(email), "verified_at": timezone.now()}
    )
    return record


def verified_email_of(*, user: AbstractBaseUser) -> str | None:
    """The user's address if they proved it and it is still their login's; otherwise None."""
    record = VerifiedEmail.objects.filter(user=user).first()
    email = _normalise(getattr(user, "email", "") or "")
    return email if record is not None and record.email == email and email else None


def email_verification_send(*, user: AbstractBaseUser, link_for: Callable[[str], str]) -> None:
    """Email a signed, expiring link (`link_for(token)`) to the user's address."""
    token = signing.dumps({"user": user.pk, "email": _normalise(user.email)}, salt=VERIFY_SALT)
    link = link_for(token)
    body = (
        f"Confirm that {user.email} is yours by opening this link (it works for "
        f"{VERIFY_VALID_FOR.days} days):\n{link}\n"
    )
    transaction.on_commit(
        lambda: send_mail(
            "Confirm your email address", body, settings.DEFAULT_FROM_EMAIL, [user.email]
        )
    )


def email_verification_confirm(*, token: str, user: AbstractBaseUser) -> VerifiedEmail:
    """Mark the address verified if the link is the user's own, unexpired, for their current email."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_VALID_FOR.total_seconds())
    except signing.SignatureExpired as exc:
        raise ValidationError("this confirmation link has expired; ask for a new one") from exc
    except signing.BadSignature as exc:
        raise ValidationError("this confirmation link is not valid") from exc
    if data.get("user") != user.pk or data.get("email") != _normalise(user.email or ""):
        raise ValidationError("this confirmation link is for another login or address")
    return email_mark_verified(user=user, email=data["email"])
