"""Sign-up: a new login with its own desk, or a new login joining a desk through its invitation link.

A login created from an invitation link has its address verified by that link (the link was sent
there); any other sign-up gets a verification link, and its address claims nothing until verified.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from accounts.invitations import email_verification_send, invitation_accept, invitation_for_token
from accounts.models import Tenant
from accounts.services import tenant_create


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "desk"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def signup(
    *,
    username: str,
    email: str,
    password: str,
    desk_name: str | None,
    invitation_token: str | None,
    verify_link_for: Callable[[str], str],
) -> AbstractBaseUser:
    """With an invitation the user joins that desk under the invited address (whatever was posted);
    otherwise they own a new desk and are sent a link to verify their address."""
    invitation = invitation_for_token(token=invitation_token) if invitation_token else None
    if invitation is None and not desk_name:
        raise ValidationError({"desk_name": "name your trading desk"})
    address = invitation.email if invitation is not None else email
    user = get_user_model().objects.create_user(username=username, email=address, password=password)
    if invitation is not None:
        invitation_accept(token=invitation_token, user=user)
    else:
        tenant_create(name=desk_name, slug=_unique_slug(desk_name), owner=user)
        email_verification_send(user=user, link_for=verify_link_for)
    return user
