"""Writes for API sign-ins: issue a token pair, refresh it (rotating the refresh token), revoke.

Refusals are one exception, TokenRefused, whose message is safe to show: it never says whether the
user, the row or the signature was the problem.
"""

import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from apiauth import selectors, tokens
from apiauth.models import ApiToken, RevokedReason
from apiauth.tokens import TokenPair

REFUSED = "This token is invalid, expired or revoked."


class TokenRefused(Exception):
    def __init__(self, message: str = REFUSED) -> None:
        super().__init__(message)


def api_token_issue(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, TokenPair]:
    """A new sign-in for a user whose password was just checked."""
    api_token = ApiToken(
        user=user,
        name=name[:120],
        password_fingerprint=user.get_session_auth_hash(),
        created_at=timezone.now(),
    )
    pair = tokens.pair_mint(user=user, sid=api_token.public_id)
    api_token.jti_sha256 = tokens.jti_digest(pair.refresh_jti)
    api_token.expires_at = pair.refresh_expires_at
    api_token.save()
    return api_token, pair


def api_token_refresh(*, raw_refresh: str) -> TokenPair:
    """A new pair for a live refresh token; the presented one stops working (rotation). Presenting
    an already-rotated refresh token means two parties hold it: the whole sign-in is revoked."""
    outcome = _refresh_locked(raw_refresh=raw_refresh)
    if not isinstance(outcome, TokenPair):
        raise TokenRefused()  # after the commit: a revocation decided inside must stick
    return outcome


@transaction.atomic
def _refresh_locked(*, raw_refresh: str) -> TokenPair | None:
    try:
        claims = tokens.refresh_read(raw_refresh)
        public_id = uuid.UUID(str(claims.get(tokens.SID_CLAIM)))
    except (TokenError, ValueError):
        return None
    api_token = (
        ApiToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(public_id=public_id, user_id=claims.get(api_settings.USER_ID_CLAIM))
        .first()
    )
    if api_token is None or api_token.is_revoked:
        return None
    if tokens.jti_digest(claims[api_settings.JTI_CLAIM]) != api_token.jti_sha256:
        _revoke(api_token, RevokedReason.REFRESH_REUSED)
        return None
    if not api_token_confirm(api_token=api_token):
        return None
    pair = tokens.pair_mint(user=api_token.user, sid=api_token.public_id)
    api_token.jti_sha256 = tokens.jti_digest(pair.refresh_jti)
    api_token.expires_at = pair.refresh_expires_at
    api_token.refreshed_at = timezone.now()
    api_token.save(update_fields=["jti_sha256", "expires_at", "refreshed_at"])
    return pair


def api_token_confirm(*, api_token: ApiToken) -> bool:
    """Whether a live row's user may still use it; revokes it (for good) when not."""
    if not api_token.user.is_active:
        _revoke(api_token, RevokedReason.USER_INACTIVE)
        return False
    if not selectors.api_token_password_unchanged(api_token=api_token):
        _revoke(api_token, RevokedReason.PASSWORD_CHANGED)
        return False
    return True


def api_token_revoke(*, user: AbstractBaseUser, public_id: uuid.UUID) -> bool:
    """Revoke one of the user's own sign-ins; False if there is no such live one."""
    live = ApiToken.objects.filter(user=user, public_id=public_id, revoked_at__isnull=True)
    return _revoke_rows(live, RevokedReason.USER) == 1


def api_token_revoke_all(*, user: AbstractBaseUser) -> int:
    return _revoke_rows(
        ApiToken.objects.filter(user=user, revoked_at__isnull=True), RevokedReason.USER
    )


def api_token_purge(*, older_than: timedelta = timedelta(days=30)) -> int:
    """Delete sign-ins that ended (expired or revoked) over `older_than` ago (fleet job): a script
    that signs in every run would otherwise grow its list forever. Kept a while to show what ended."""
    cutoff = timezone.now() - older_than
    deleted, _ = ApiToken.objects.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return deleted


def _revoke(api_token: ApiToken, reason: str) -> None:
    _revoke_rows(ApiToken.objects.filter(pk=api_token.pk, revoked_at__isnull=True), reason)
    api_token.revoked_reason = reason


def _revoke_rows(rows, reason: str, *, now: datetime | None = None) -> int:
    return rows.update(revoked_at=now or timezone.now(), revoked_reason=reason)
