"""Per-endpoint call metrics aggregated across every process in Redis.

Each broker call records its outcome and latency: counters (calls, errors, rejections, 429s) and a
fixed-bucket latency histogram per endpoint, plus a per-UTC-day call count per endpoint, all written
by one Lua script (one round trip, atomic). `snapshot()` turns them into figures for health and analytics pages;
p50/p95 are read from the histogram and reported as the upper bound of their bucket, so they are
never optimistic.

Recording never fails nor holds a broker call: while Redis is unreachable samples are dropped
(logged once per outage, Redis tried again after `retry_seconds`), because an exception after an
Order/place that reached the broker would hide the order we just placed.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import redis

# Upper bounds (ms) of the latency buckets; the last bucket is open-ended.
LATENCY_BUCKETS_MS: tuple[int, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
    1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 30_000, 60_000,
)  # fmt: skip
DAY_KEY_TTL = timedelta(days=35)
logger = logging.getLogger(__name__)

# One round trip per call, atomic across processes.
# KEYS: endpoint hash, endpoint set, day hash.
# ARGV: endpoint, outcome field, bucket field, latency ms, day-key ttl seconds.
_RECORD = """
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
redis.call('HINCRBYFLOAT', KEYS[1], 'sum_ms', ARGV[4])
local current = redis.call('HGET', KEYS[1], 'max_ms')
if not current or tonumber(current) < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'max_ms', ARGV[4])
end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Outcome(StrEnum):
    OK = "ok"
    REJECTED = "rejected"  # success:false from the broker
    RATE_LIMITED = "rate_limited"  # HTTP 429
    UNAVAILABLE = "unavailable"  # timeout, connection error, 5xx
    AUTH_FAILED = "auth_failed"  # 401 / refused login
    MALFORMED = "malformed"


class MetricsSink(Protocol):
    def record(self, endpoint: str, *, outcome: Outcome, latency_seconds: float) -> None: ...


class NullMetrics:
    def record(self, endpoint: str, *, outcome: Outcome, latency_seconds: float) -> None:
        return None


@dataclass(frozen=True)
class EndpointStats:
    endpoint: str
    calls: int
    ok: int
    rejected: int
    rate_limited: int
    unavailable: int
    auth_failed: int
    malformed: int
    mean_ms: float | None
    p50_ms: int | None
    p95_ms: int | None
    max_ms: int | None
    calls_today: int

    @property
    def errors(self) -> int:
        """Failures that were not the broker's business answer (rejections are answers)."""
        return self.rate_limited + self.unavailable + self.auth_failed + self.malformed


def bucket_index(latency_ms: float) -> int:
    return bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def bucket_quantile(counts: list[int], q: float) -> int | None:
    """The upper bound (ms) of the bucket holding quantile `q`; None without data. The open last
    bucket reports its lower bound (the largest finite bound)."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    running = 0
    for index, count in enumerate(counts):
        running += count
        if running >= rank and count:
            return LATENCY_BUCKETS_MS[min(index, len(LATENCY_BUCKETS_MS) - 1)]
    return LATENCY_BUCKETS_MS[-1]


class RedisMetrics:
    """Shared metrics store. Keys: `<prefix>:m:ep:<endpoint>` (hash of counters and buckets),
    `<prefix>:m:endpoints` (set), `<prefix>:m:day:<YYYY-MM-DD>` (hash endpoint -> calls)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = "gateway",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_seconds: float = 5.0,
    ) -> None:
        self._redis = client
        self._retry_seconds = retry_seconds
        self._prefix = key_prefix
        self._clock = clock
        self._record = client.register_script(_RECORD)
        self._retry_at = 0.0  # while Redis is unreachable: when to try it again

    def _endpoint_key(self, endpoint: str) -> str:
        return f"{self._prefix}:m:ep:{endpoint}"

    def _day_key(self, day: date) -> str:
        return f"{self._prefix}:m:day:{day.isoformat()}"

    def record(self, endpoint: str, *, outcome: Outcome, latency_seconds: float) -> None:
        if time.monotonic() < self._retry_at:
            return
        latency_ms = max(0.0, latency_seconds * 1000.0)
        day = self._clock().astimezone(UTC).date()
        try:
            self._record(
                keys=[
                    self._endpoint_key(endpoint),
                    f"{self._prefix}:m:endpoints",
                    self._day_key(day),
                ],
                args=[
                    endpoint,
                    outcome.value,
                    f"b{bucket_index(latency_ms)}",
                    f"{latency_ms:.3f}",
                    int(DAY_KEY_TTL.total_seconds()),
                ],
            )
        except redis.RedisError as exc:
            if not self._retry_at:
                logger.warning("gateway metrics: Redis unreachable (%s); dropping samples", exc)
            self._retry_at = time.monotonic() + self._retry_seconds
            return
        self._retry_at = 0.0

    def endpoints(self) -> list[str]:
        return sorted(_text(m) for m in self._redis.smembers(f"{self._prefix}:m:endpoints"))

    def snapshot(self, *, day: date | None = None) -> dict[str, EndpointStats]:
        """Figures per endpoint (all processes, since the last reset); `calls_today` for `day`
        (default: today, UTC)."""
        day = day or self._clock().astimezone(UTC).date()
        names = self.endpoints()
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self._endpoint_key(name))
        pipe.hgetall(self._day_key(day))
        *rows, day_row = pipe.execute()
        today = {_text(k): int(v) for k, v in day_row.items()}
        return {
            name: self._stats(name, row, today.get(name, 0))
            for name, row in zip(names, rows, strict=True)
        }

    @staticmethod
    def _stats(
        name: str, raw: dict[bytes, bytes] | dict[str, str], calls_today: int
    ) -> EndpointStats:
        row = {_text(k): _text(v) for k, v in raw.items()}

        def count(field: str) -> int:
            return int(row.get(field, 0))

        buckets = [count(f"b{i}") for i in range(len(LATENCY_BUCKETS_MS) + 1)]
        calls = count("calls")
        return EndpointStats(
            endpoint=name,
            calls=calls,
            ok=count(Outcome.OK),
            rejected=count(Outcome.REJECTED),
            rate_limited=count(Outcome.RATE_LIMITED),
            unavailable=count(Outcome.UNAVAILABLE),
            auth_failed=count(Outcome.AUTH_FAILED),
            malformed=count(Outcome.MALFORMED),
            mean_ms=round(float(row["sum_ms"]) / calls, 3) if calls else None,
            p50_ms=bucket_quantile(buckets, 0.50),
            p95_ms=bucket_quantile(buckets, 0.95),
            max_ms=round(float(row["max_ms"])) if "max_ms" in row else None,
            calls_today=calls_today,
        )

    def reset(self) -> None:
        """Forget every figure under this prefix (tests, operator reset)."""
        keys = list(self._redis.scan_iter(f"{self._prefix}:m:*"))
        if keys:
            self._redis.delete(*keys)
