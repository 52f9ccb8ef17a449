"""Session tokens: real HS256 JWTs with an `exp` claim, like the gateway's.

Clients read `exp` to decide when to refresh (project-x-py falls back to 1 h without it), so the
simulator issues genuine JWTs signed with a per-store secret (tokens survive a restart). PyJWT is
not a dependency; HS256 is a dozen lines of hmac.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["Claims", "InvalidToken", "TokenExpired", "decode", "encode"]


class InvalidToken(ValueError):
    """Not a JWT we signed (garbage, tampered, wrong algorithm)."""


class TokenExpired(InvalidToken):
    """A genuine token whose `exp` has passed."""

    def __init__(self, claims: Claims) -> None:
        super().__init__("the token has expired")
        self.claims = claims


@dataclass(frozen=True, slots=True)
class Claims:
    user: str
    session_id: str
    issued_at: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(secret: bytes, *, user: str, issued_at: int, ttl_seconds: int) -> tuple[str, Claims]:
    """A signed token for `user`; the session id (`jti`) lets logout revoke it."""
    claims = Claims(user, secrets.token_hex(16), issued_at, issued_at + ttl_seconds)
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": user,
        "sub": user,
        "jti": claims.session_id,
        "iat": claims.issued_at,
        "nbf": claims.issued_at,
        "exp": claims.expires_at,
        "iss": "projectx-simulator",
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}", claims


def decode(secret: bytes, token: str, *, now: int) -> Claims:
    """The claims of a token we signed; raises InvalidToken or TokenExpired."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header: dict[str, Any] = json.loads(_unb64(parts[0]))
        payload: dict[str, Any] = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken(f"malformed JWT: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported JWT algorithm")
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad JWT signature")
    try:
        claims = Claims(
            str(payload["sub"]), str(payload["jti"]), int(payload["iat"]), int(payload["exp"])
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidToken("JWT lacks the simulator's claims") from None
    if now >= claims.expires_at:
        raise TokenExpired(claims)
    return claims
