"""Session-token bookkeeping: when a token expires and when it is due for renewal.

The gateway issues a JWT valid for 24 h (§1); clients read its `exp` claim. We renew (Auth/validate,
else a fresh login) when less than `refresh_margin` remains or every `validate_every`, whichever
comes first, so a long-lived process never presents an expired token.

Busy windows (the 09:30 burst of entries) move renewals out of the way: a token that would come
due during the next window is renewed in the `lead` before it, and none is renewed inside a
window unless it is about to expire, so an order never waits behind Auth/validate.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT as an aware UTC datetime, or None if it cannot be read.

    The signature is not verified: the token is the gateway's to check; we only schedule renewal.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class SessionToken:
    """A token and the times that govern its renewal. `value` is a secret: never log it."""

    value: str
    obtained_at: datetime
    expires_at: datetime

    def __repr__(self) -> str:
        return f"SessionToken(obtained_at={self.obtained_at!r}, expires_at={self.expires_at!r})"

    @classmethod
    def issue(cls, value: str, *, now: datetime, fallback_lifetime: timedelta) -> SessionToken:
        return cls(
            value=value,
            obtained_at=now,
            expires_at=jwt_expiry(value) or now + fallback_lifetime,
        )

    def renew_at(self, *, refresh_margin: timedelta, validate_every: timedelta) -> datetime:
        """The earlier of `refresh_margin` before exp and `validate_every` after issue, but never
        before half the token's life: a margin longer than the lifetime must not turn every
        call into a login."""
        due = min(self.expires_at - refresh_margin, self.obtained_at + validate_every)
        return max(due, self.obtained_at + (self.expires_at - self.obtained_at) / 2)

    def needs_renewal(
        self, now: datetime, *, refresh_margin: timedelta, validate_every: timedelta
    ) -> bool:
        return now >= self.renew_at(refresh_margin=refresh_margin, validate_every=validate_every)

    def is_usable(self, now: datetime, *, refresh_margin: timedelta) -> bool:
        """Still far enough from expiry to present (validate may hand back the same token)."""
        return now < self.expires_at - refresh_margin


@dataclass(frozen=True)
class BusyWindows:
    """Daily spans of exchange time (`time_zone`) when order bursts go out."""

    spans: tuple[tuple[time, time], ...]
    time_zone: str = "America/New_York"
    lead: timedelta = timedelta(minutes=30)

    def current_or_next(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The window under way at `now`, or the first one starting within `lead`."""
        zone = ZoneInfo(self.time_zone)
        local = now.astimezone(zone)
        candidates = []
        for day in (local.date(), (local + self.lead).date()):
            for start, end in self.spans:
                opens = datetime.combine(day, start, tzinfo=zone)
                closes = datetime.combine(day, end, tzinfo=zone)
                if opens - self.lead <= now < closes:
                    candidates.append((opens, closes))
        return min(candidates, default=None)


def renewal_due(
    token: SessionToken,
    now: datetime,
    *,
    refresh_margin: timedelta,
    validate_every: timedelta,
    busy: BusyWindows,
) -> bool:
    """Whether to renew `token` now (pure; see the module docstring)."""
    window = busy.current_or_next(now)
    if window is not None:
        opens, closes = window
        if opens <= now:  # mid-burst: only a token about to lapse is renewed
            return now >= token.expires_at - min(refresh_margin, timedelta(seconds=30))
        lifetime = token.expires_at - token.obtained_at
        due_in_window = token.expires_at - refresh_margin <= closes
        if due_in_window and now + lifetime - refresh_margin > closes:
            return True  # a token renewed now outlasts the window
    return token.needs_renewal(now, refresh_margin=refresh_margin, validate_every=validate_every)
