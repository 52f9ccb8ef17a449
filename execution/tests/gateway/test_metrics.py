import math
from datetime import UTC, date, datetime

import redis
from hypothesis import given
from hypothesis import strategies as st

from execution.gateway.metrics import (
    LATENCY_BUCKETS_MS,
    Outcome,
    RedisMetrics,
    bucket_index,
    bucket_quantile,
)
from execution.tests.gateway.limiter_worker import REDIS_URL


def test_bucket_index_and_quantile_report_the_bucket_upper_bound():
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for ms in [4] * 90 + [180] * 10:
        counts[bucket_index(ms)] += 1

    assert bucket_quantile(counts, 0.5) == 5
    assert bucket_quantile(counts, 0.95) == 200
    assert bucket_quantile([0] * len(counts), 0.5) is None
    assert bucket_index(10**9) == len(LATENCY_BUCKETS_MS)


def test_metrics_from_two_processes_aggregate_per_endpoint(redis_client, key_prefix):
    clock = lambda: datetime(2026, 11, 25, 14, tzinfo=UTC)  # noqa: E731
    worker_a = RedisMetrics(redis_client, key_prefix=key_prefix, clock=clock)
    worker_b = RedisMetrics(redis.Redis.from_url(REDIS_URL), key_prefix=key_prefix, clock=clock)

    for _ in range(18):
        worker_a.record("Order/search", outcome=Outcome.OK, latency_seconds=0.004)
    worker_b.record("Order/search", outcome=Outcome.RATE_LIMITED, latency_seconds=0.002)
    worker_b.record("Order/search", outcome=Outcome.UNAVAILABLE, latency_seconds=1.2)
    worker_b.record("Order/place", outcome=Outcome.REJECTED, latency_seconds=0.01)

    snapshot = worker_a.snapshot()
    search = snapshot["Order/search"]

    assert sorted(snapshot) == ["Order/place", "Order/search"]
    assert (search.calls, search.ok, search.rate_limited, search.unavailable) == (20, 18, 1, 1)
    assert search.errors == 2
    assert search.p50_ms == 5
    assert search.p95_ms == 5
    assert search.max_ms == 1200
    assert search.mean_ms == round((18 * 4 + 2 + 1200) / 20, 3)
    assert search.calls_today == 20
    assert snapshot["Order/place"].rejected == 1
    assert snapshot["Order/place"].errors == 0
    assert worker_a.snapshot(day=date(2026, 11, 24))["Order/search"].calls_today == 0


def test_reset_forgets_everything_under_the_prefix(redis_client, key_prefix):
    metrics = RedisMetrics(redis_client, key_prefix=key_prefix)
    metrics.record("Account/search", outcome=Outcome.OK, latency_seconds=0.001)

    metrics.reset()

    assert metrics.snapshot() == {}


@given(
    st.lists(st.floats(min_value=0, max_value=60_000, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_bucket_quantile_is_never_optimistic_and_at_most_one_bucket_high(latencies, q):
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for ms in latencies:
        counts[bucket_index(ms)] += 1
    true_quantile = sorted(latencies)[math.ceil(q * len(latencies)) - 1]

    reported = bucket_quantile(counts, q)

    assert reported >= true_quantile
    assert bucket_index(reported) == bucket_index(true_quantile)
