"""Reads of API sign-ins. Every read is by user: a token is its user's business only."""

import uuid
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from apiauth.models import ApiToken


def api_token_list_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("user").order_by("-created_at", "-pk")


def api_token_get_live(*, public_id: Any, user_id: Any) -> ApiToken | None:
    """The unrevoked, unexpired row a token names, with its user (one query), or None."""
    try:
        public_id, user_id = uuid.UUID(str(public_id)), int(user_id)
    except (TypeError, ValueError):
        return None
    return (
        ApiToken.objects.select_related("user")
        .filter(public_id=public_id, user_id=user_id, revoked_at__isnull=True)
        .filter(expires_at__gt=timezone.now())
        .first()
    )


def api_token_password_unchanged(*, api_token: ApiToken) -> bool:
    return constant_time_compare(
        api_token.password_fingerprint, api_token.user.get_session_auth_hash()
    )


def api_token_state(*, api_token: ApiToken, now: datetime | None = None) -> str:
    """What the list shows: active, expired, or why it was revoked (password change included, even
    before the next request has noticed it)."""
    if api_token.is_revoked:
        return api_token.get_revoked_reason_display()
    if not api_token_password_unchanged(api_token=api_token):
        return "Password changed"
    if api_token.expires_at <= (now or timezone.now()):
        return "Expired"
    return "Active"
