"""What stops a signed request from being used twice, and a user from flooding the desk.

Both live in the shared cache (Redis), so every web process sees every interaction:
- an interaction id is remembered for twice the freshness window: a request older than the window is
  refused by its timestamp, so a replay inside the window is the only one left to catch;
- a fixed-window counter per Discord user (count per window_seconds).
Both fail closed: if the cache cannot answer we cannot tell a replay from a first request, and a
command that can flatten an account is not worth that risk (the endpoint answers 503).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache

_SEEN = "chatops:seen:"
_RATE = "chatops:rate:"


class GuardUnavailable(Exception):
    """The cache did not answer; nothing may run."""


@dataclass(frozen=True)
class RateLimit:
    count: int
    window_seconds: int


def remember_interaction(interaction_id: str, *, keep_seconds: int) -> bool:
    """True the first time an id is seen; False for a replay. Atomic (one SET NX)."""
    try:
        return bool(cache.add(_SEEN + interaction_id, 1, timeout=keep_seconds))
    except Exception as exc:
        raise GuardUnavailable("cannot record the interaction id") from exc


def take_rate_token(discord_user_id: str, *, limit: RateLimit) -> float:
    """0 if the user may act now; else seconds until the window resets."""
    now = time.time()
    window = int(now // limit.window_seconds)
    key = f"{_RATE}{discord_user_id}:{window}"
    try:
        cache.add(key, 0, timeout=limit.window_seconds + 1)
        used = cache.incr(key)
    except Exception as exc:
        raise GuardUnavailable("cannot count the user's commands") from exc
    if used <= limit.count:
        return 0.0
    return (window + 1) * limit.window_seconds - now
