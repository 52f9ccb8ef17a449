"""Connection settings and credentials, passed in by the caller (the lead maps Django settings and
the encrypted broker credentials onto these), so the client runs in Celery, management commands and
the hub process alike without importing Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from urllib.parse import urlsplit

from execution.gateway.auth import BusyWindows
from execution.gateway.errors import InvalidRequest


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway is and how patient to be with it.

    The three URLs are configuration, never code (§1): TopstepX, another ProjectX firm, or our
    simulator all look the same to the client. `base_url` includes the `/api` suffix.
    """

    base_url: str
    user_hub_url: str
    market_hub_url: str
    connect_timeout_seconds: float = 5.0
    timeout_seconds: float = 15.0
    # Reads and other idempotent calls: attempts in total, exponential back-off with full jitter.
    max_attempts: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    # 429 without Retry-After: project-x-py assumes 60 s; we back off the group for this long.
    default_retry_after_seconds: float = 60.0
    # How long a call may wait for the shared rate-limit budget before raising RateLimited.
    rate_limit_wait_seconds: float = 30.0
    # Token: renew when less than this remains, and at least every `token_validate_every`.
    token_refresh_margin: timedelta = timedelta(minutes=5)
    token_validate_every: timedelta = timedelta(hours=12)
    token_fallback_lifetime: timedelta = timedelta(hours=1)  # when the JWT has no readable exp
    # Order bursts (the 09:30 entries): renew before them, never during them (auth.BusyWindows).
    busy_windows: BusyWindows = field(
        default_factory=lambda: BusyWindows(spans=((time(9, 29), time(9, 36)),))
    )
    # Order/place reconciliation: search this far back for the customTag, and how many places
    # (first one included) we allow when the order certainly does not exist.
    place_lookup_window: timedelta = timedelta(minutes=15)
    place_max_attempts: int = 3
    # Sign bracket ticks (long SL negative) as the live gateway reportedly requires (§3).
    signed_bracket_ticks: bool = True
    # History/retrieveBars hard cap per call (§3).
    max_bars_per_call: int = 20_000

    def __post_init__(self) -> None:
        for name in ("base_url", "user_hub_url", "market_hub_url"):
            url = getattr(self, name)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
                raise InvalidRequest(f"{name} is not an http(s) URL: {url!r}")
        if self.max_attempts < 1 or self.place_max_attempts < 1:
            raise InvalidRequest("max_attempts and place_max_attempts must be >= 1")
        if not 1 <= self.max_bars_per_call <= 20_000:
            raise InvalidRequest("max_bars_per_call must be 1..20000 (the gateway's cap)")

    @property
    def api_root(self) -> str:
        return self.base_url.rstrip("/")


@dataclass(frozen=True)
class Credentials:
    """A broker login. The API key never appears in repr, logs or exceptions."""

    username: str
    api_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username or not self.api_key:
            raise InvalidRequest("username and api_key are required")
