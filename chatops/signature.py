"""Discord's request signature: Ed25519 over the timestamp header followed by the raw body.

https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
Discord also sends deliberately bad signatures when the endpoint URL is saved, and refuses an endpoint
that accepts them. A valid signature alone does not stop a replay, so the timestamp must be fresh
(here) and the interaction id new (chatops.guard).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"


class RequestRefused(Exception):
    """The request is not provably Discord's, fresh and new; answer 401 and do nothing."""


def load_public_key(hex_key: str) -> Ed25519PublicKey:
    """The application's public key as shown in the developer portal (64 hex characters)."""
    try:
        raw = bytes.fromhex(hex_key)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError("DISCORD_PUBLIC_KEY must be 64 hex characters (32 bytes)") from exc


def verify(
    *,
    public_key: Ed25519PublicKey,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
    max_age: timedelta,
) -> datetime:
    """Check the signature and the timestamp's freshness; return the signed instant (aware, UTC)."""
    if not signature or not timestamp:
        raise RequestRefused("unsigned request")
    try:
        public_key.verify(bytes.fromhex(signature), timestamp.encode() + body)
    except (ValueError, InvalidSignature) as exc:
        raise RequestRefused("bad signature") from exc
    try:
        signed_at = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
    except (ValueError, OverflowError, OSError) as exc:
        raise RequestRefused("bad timestamp") from exc
    # Both directions: a clock skewed ahead is as suspicious as a stale request.
    if abs(now - signed_at) > max_age:
        raise RequestRefused("stale timestamp")
    return signed_at
