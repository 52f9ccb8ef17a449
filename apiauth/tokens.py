"""The JWTs themselves: djangorestframework-simplejwt signs and checks them (SIMPLE_JWT in settings).

A refresh token and the access tokens minted from it carry `sid`, the public id of their ApiToken row,
which is how a request finds out whether its sign-in has been revoked.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

SID_CLAIM = "sid"


@dataclass(frozen=True)
class TokenPair:
    sid: str  # the ApiToken row's public id
    access: str
    refresh: str
    refresh_jti: str
    access_expires_at: datetime
    refresh_expires_at: datetime


def pair_mint(*, user: AbstractBaseUser, sid: Any) -> TokenPair:
    refresh = RefreshToken.for_user(user)
    refresh[SID_CLAIM] = str(sid)
    access = refresh.access_token  # copies sid and the user id
    return TokenPair(
        sid=str(sid),
        access=str(access),
        refresh=str(refresh),
        refresh_jti=refresh[api_settings.JTI_CLAIM],
        access_expires_at=datetime_from_epoch(access["exp"]),
        refresh_expires_at=datetime_from_epoch(refresh["exp"]),
    )


def refresh_read(raw: str) -> RefreshToken:
    """A refresh token whose signature, type and expiry hold; raises simplejwt's TokenError."""
    return RefreshToken(raw)


def jti_digest(jti: str) -> str:
    """What we store instead of the token: the jti is random, so a plain SHA-256 is enough."""
    return hashlib.sha256(jti.encode()).hexdigest()
