"""A request budget shared by every process that talks to the gateway as the same broker user.

The broker counts requests per user (§5): History/retrieveBars has its own budget (30 per 30 s by
default: sources say 30 or 50, so it is configurable) and every other authenticated endpoint shares
200 per 60 s. Celery workers, the hub process and management commands all draw from one sliding
window per (broker user, endpoint group) kept in Redis and updated by a Lua script, so the check and
the take are atomic and use the Redis server's clock (no skew between hosts).

A 429 from the broker blocks the whole user/group for its Retry-After in every process at once and
is counted, so one worker's surprise is everybody's back-off. Reads may fill only 90% of a window
(`order_reserve`): the rest is kept for order endpoints, so a flatten is never queued behind reads.

When Redis is unreachable the limiter fails over to an in-process window holding `local_share` of
each budget, instead of refusing every call: a flatten, a cancel or a stop move must not wait for
our bookkeeping to come back, and a broker 429 (honoured locally too) costs less than a position
left unprotected. `on_unavailable` is called once per outage so the platform can alert; Redis is
probed again every `shared_retry_seconds` and the shared window is used as soon as it answers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import redis

from execution.gateway.errors import InvalidRequest, RateLimited

logger = logging.getLogger(__name__)


class EndpointGroup(StrEnum):
    BARS = "bars"  # History/retrieveBars
    GENERAL = "general"  # every other authenticated endpoint


# Order-changing endpoints: they may use the whole budget, reads only part of it (see
# `RedisRateLimiter.order_reserve`), so a flatten is never starved by bulk reads.
ORDER_ENDPOINTS = frozenset(
    {
        "order/place",
        "order/cancel",
        "order/modify",
        "position/closecontract",
        "position/partialclosecontract",
    }
)


def is_order_endpoint(endpoint: str) -> bool:
    return endpoint.strip("/").lower() in ORDER_ENDPOINTS


def group_for(endpoint: str) -> EndpointGroup:
    """The budget an endpoint ("History/retrieveBars", case-insensitive) draws from."""
    if endpoint.strip("/").lower() == "history/retrievebars":
        return EndpointGroup.BARS
    return EndpointGroup.GENERAL


@dataclass(frozen=True)
class RateLimit:
    max_requests: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.max_requests < 1 or self.window_seconds <= 0:
            raise InvalidRequest(f"invalid rate limit {self}")


DEFAULT_LIMITS: Mapping[EndpointGroup, RateLimit] = {
    EndpointGroup.BARS: RateLimit(30, 30.0),
    EndpointGroup.GENERAL: RateLimit(200, 60.0),
}


def broker_scope(api_root: str, username: str) -> str:
    """A stable, log-safe key for one broker user on one gateway (simulator and TopstepX never
    share a budget)."""
    return hashlib.sha256(f"{api_root.lower()}\n{username}".encode()).hexdigest()[:20]


class RateLimiter(Protocol):
    def acquire(self, scope: str, endpoint: str, *, wait_seconds: float) -> None:
        """Take one request from the budget, waiting up to `wait_seconds`; else RateLimited."""

    def report_throttled(self, scope: str, endpoint: str, retry_after_seconds: float) -> None:
        """The broker answered 429: hold the whole user/group back for `retry_after_seconds`."""


class _LocalWindows:
    """In-process sliding windows and 429 blocks: RedisRateLimiter's stand-in while Redis is down,
    and UnlimitedRateLimiter's memory of 429s."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, EndpointGroup], deque[float]] = {}
        self._blocked_until: dict[tuple[str, EndpointGroup], float] = {}
        self._lock = threading.Lock()  # one client serves the web's and the hubs' threads

    def blocked(self, key: tuple[str, EndpointGroup]) -> float:
        """Seconds a broker 429 still holds `key` back (0 when free)."""
        return max(0.0, self._blocked_until.get(key, 0.0) - time.monotonic())

    def try_acquire(self, key: tuple[str, EndpointGroup], allowed: int, window: float) -> float:
        now = time.monotonic()
        with self._lock:
            blocked = self._blocked_until.get(key, 0.0) - now
            if blocked > 0:
                return blocked
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) < allowed:
                calls.append(now)
                return 0.0
            return calls[0] + window - now

    def block(self, key: tuple[str, EndpointGroup], seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)


class UnlimitedRateLimiter:
    """No shared budget (one-off scripts); a 429 still makes the next call in this process wait."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._local = _LocalWindows()
        self._sleep = sleep

    def acquire(self, scope: str, endpoint: str, *, wait_seconds: float) -> None:
        wait = self._local.blocked((scope, group_for(endpoint)))
        if wait > wait_seconds:
            raise RateLimited(
                f"{endpoint}: throttled for {wait:.1f}s",
                endpoint=endpoint,
                retry_after_seconds=wait,
            )
        if wait > 0:
            self._sleep(wait)

    def report_throttled(self, scope: str, endpoint: str, retry_after_seconds: float) -> None:
        self._local.block((scope, group_for(endpoint)), retry_after_seconds)


# KEYS: window zset, block key. ARGV: max requests, window ms, unique member.
# Returns {1, 0} when a slot was taken, else {0, ms to wait}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return {0, blocked}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now + 1
if wait < 1 then wait = 1 end
return {0, wait}
"""

# KEYS: block key, throttle counter. ARGV: block ms. Never shortens an existing block.
_THROTTLED = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return redis.call('INCR', KEYS[2])
"""


class RedisRateLimiter:
    """Sliding-window budget per (broker user, endpoint group), shared through Redis; a local
    share of it while Redis is unreachable (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        limits: Mapping[EndpointGroup, RateLimit] = DEFAULT_LIMITS,
        key_prefix: str = "gateway",
        order_reserve: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        # Four processes draw on one login (web, hubs, a worker of concurrency 2): a quarter each
        # keeps the fleet under the broker's budget while they cannot share a window.
        local_share: float = 0.25,
        shared_retry_seconds: float = 5.0,
        on_unavailable: Callable[[Exception], None] | None = None,
    ) -> None:
        missing = set(EndpointGroup) - set(limits)
        if missing:
            raise InvalidRequest(f"no rate limit for {sorted(missing)}")
        if not 0 <= order_reserve < 1:
            raise InvalidRequest("order_reserve must be in [0, 1)")
        if not 0 < local_share <= 1:
            raise InvalidRequest("local_share must be in (0, 1]")
        self._local = _LocalWindows()
        self._local_share = local_share
        self._shared_retry_seconds = shared_retry_seconds
        self._on_unavailable = on_unavailable
        self._shared_down = False
        self._shared_retry_at = 0.0
        self._order_reserve = order_reserve
        self._redis = client
        self._limits = dict(limits)
        self._prefix = key_prefix
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._throttled = client.register_script(_THROTTLED)

    def _keys(self, scope: str, group: EndpointGroup) -> tuple[str, str, str]:
        base = f"{self._prefix}:rl:{scope}:{group.value}"
        return f"{base}:window", f"{base}:blocked", f"{base}:throttled"

    def try_acquire(self, scope: str, endpoint: str) -> float:
        """Take a slot now and return 0.0, or take nothing and return seconds to wait."""
        group = group_for(endpoint)
        limit = self._limits[group]
        window_key, block_key, _ = self._keys(scope, group)
        if time.monotonic() >= self._shared_retry_at:
            try:
                granted, wait_ms = self._acquire(
                    keys=[window_key, block_key],
                    args=[
                        self.allowed(endpoint),
                        int(limit.window_seconds * 1000),
                        secrets.token_hex(8),
                    ],
                )
            except redis.RedisError as exc:
                self._shared_lost(exc)
            else:
                self._shared_back()
                return 0.0 if int(granted) == 1 else int(wait_ms) / 1000.0
        allowed = max(1, int(self.allowed(endpoint) * self._local_share))
        return self._local.try_acquire((scope, group), allowed, limit.window_seconds)

    @property
    def is_shared(self) -> bool:
        """False while Redis is unreachable and calls are counted in this process only."""
        return not self._shared_down

    def _shared_lost(self, exc: Exception) -> None:
        # Probe again later rather than on every call: a Redis that hangs costs a socket timeout.
        self._shared_retry_at = time.monotonic() + self._shared_retry_seconds
        if self._shared_down:
            return
        self._shared_down = True
        logger.error(
            "rate limiter: Redis unreachable (%s); this process now keeps %.0f%% of each broker "
            "budget locally",
            exc,
            self._local_share * 100,
        )
        if self._on_unavailable is not None:
            try:
                self._on_unavailable(exc)
            except Exception:  # an alert that cannot be raised must not stop an order
                logger.exception("rate limiter: could not raise the Redis-unavailable alert")

    def _shared_back(self) -> None:
        if self._shared_down:
            self._shared_down = False
            logger.warning("rate limiter: Redis answers again; the shared budget is back")

    def allowed(self, endpoint: str) -> int:
        """Requests per window this endpoint may take: the whole budget for order endpoints,
        the budget less `order_reserve` (at least one) for reads."""
        limit = self._limits[group_for(endpoint)].max_requests
        if is_order_endpoint(endpoint):
            return limit
        return max(1, limit - math.ceil(limit * self._order_reserve))

    def acquire(self, scope: str, endpoint: str, *, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            wait = self.try_acquire(scope, endpoint)
            if wait == 0.0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"{endpoint}: shared {group_for(endpoint).value} budget exhausted for "
                    f"{wait:.2f}s",
                    endpoint=endpoint,
                    retry_after_seconds=wait,
                )
            # A little jitter so processes released by the same slot do not stampede.
            self._sleep(wait + random.uniform(0, 0.02))  # noqa: S311 (jitter, not crypto)

    def report_throttled(self, scope: str, endpoint: str, retry_after_seconds: float) -> None:
        group = group_for(endpoint)
        self._local.block((scope, group), retry_after_seconds)  # for when Redis is unreachable
        if time.monotonic() < self._shared_retry_at:
            return
        _, block_key, counter_key = self._keys(scope, group)
        try:
            self._throttled(
                keys=[block_key, counter_key], args=[max(1, int(retry_after_seconds * 1000))]
            )
        except redis.RedisError as exc:
            self._shared_lost(exc)

    def throttled_count(self, scope: str, group: EndpointGroup) -> int:
        """How many 429s the broker has sent this user/group (all processes)."""
        value = self._redis.get(self._keys(scope, group)[2])
        return int(value or 0)

    def in_window(self, scope: str, group: EndpointGroup) -> int:
        """Requests counted in the current window (for health pages and tests)."""
        window_key = self._keys(scope, group)[0]
        limit = self._limits[group]
        now_s, now_us = self._redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        return int(
            self._redis.zcount(window_key, now_ms - int(limit.window_seconds * 1000) + 1, "+inf")
        )
