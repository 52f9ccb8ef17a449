"""The shared limiter against a real Redis (db 14), including two processes sharing one budget."""

import multiprocessing
import time

import pytest
import redis

from execution.gateway.errors import RateLimited
from execution.gateway.ratelimit import (
    DEFAULT_LIMITS,
    EndpointGroup,
    RateLimit,
    RedisRateLimiter,
    UnlimitedRateLimiter,
    broker_scope,
    group_for,
)
from execution.tests.gateway.limiter_worker import REDIS_URL, hammer


def test_retrieve_bars_has_its_own_group_and_defaults_follow_the_doc():
    assert group_for("History/retrieveBars") is EndpointGroup.BARS
    assert group_for("history/RETRIEVEBARS") is EndpointGroup.BARS
    assert group_for("Order/place") is EndpointGroup.GENERAL
    assert DEFAULT_LIMITS[EndpointGroup.BARS] == RateLimit(30, 30.0)
    assert DEFAULT_LIMITS[EndpointGroup.GENERAL] == RateLimit(200, 60.0)


def test_scope_differs_per_gateway_and_user_and_hides_the_username():
    a = broker_scope("https://api.topstepx.com/api", "alice")

    assert a != broker_scope("http://127.0.0.1:8700/api", "alice")
    assert a != broker_scope("https://api.topstepx.com/api", "bob")
    assert "alice" not in a


FIVE_PER_SECOND = RateLimit(5, 1.0)
TWO_PER_SECOND = RateLimit(2, 1.0)


def _limiter(redis_client, key_prefix, general=FIVE_PER_SECOND, bars=TWO_PER_SECOND):
    return RedisRateLimiter(
        redis_client,
        limits={EndpointGroup.GENERAL: general, EndpointGroup.BARS: bars},
        key_prefix=key_prefix,
    )


def test_budget_is_granted_up_to_the_limit_then_refused_with_the_wait(redis_client, key_prefix):
    limiter = _limiter(redis_client, key_prefix)

    for _ in range(4):
        limiter.acquire("u1", "Order/search", wait_seconds=0)
    limiter.acquire("u1", "Order/place", wait_seconds=0)  # the slot reads may not take
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("u1", "Order/place", wait_seconds=0)

    assert 0 < refused.value.retry_after_seconds <= 1.01
    assert refused.value.endpoint == "Order/place"
    assert limiter.in_window("u1", EndpointGroup.GENERAL) == 5
    # other users and the bars group have budgets of their own
    limiter.acquire("u2", "Order/search", wait_seconds=0)
    limiter.acquire("u1", "History/retrieveBars", wait_seconds=0)


def test_reads_leave_a_reserve_that_only_order_endpoints_may_use(redis_client, key_prefix):
    limiter = RedisRateLimiter(
        redis_client,
        key_prefix=key_prefix,
        limits={EndpointGroup.GENERAL: RateLimit(200, 60), EndpointGroup.BARS: RateLimit(2, 60)},
    )

    assert limiter.allowed("Order/search") == 180
    assert limiter.allowed("Order/cancel") == 200
    assert limiter.allowed("Position/closeContract") == 200
    assert limiter.allowed("History/retrieveBars") == 1  # ceil(10% of 2) reserved, one left
    limiter.acquire("u1", "History/retrieveBars", wait_seconds=0)
    with pytest.raises(RateLimited):
        limiter.acquire("u1", "History/retrieveBars", wait_seconds=0)


def test_acquire_waits_for_the_window_to_slide_when_the_deadline_allows(redis_client, key_prefix):
    limiter = _limiter(redis_client, key_prefix, general=RateLimit(3, 0.3))
    for _ in range(2):  # 3 less the order reserve
        limiter.acquire("u1", "Account/search", wait_seconds=0)

    started = time.monotonic()
    limiter.acquire("u1", "Account/search", wait_seconds=2)

    assert 0.2 <= time.monotonic() - started < 1.0


def test_a_429_holds_back_the_whole_group_in_every_process_and_is_counted(redis_client, key_prefix):
    worker_a = _limiter(redis_client, key_prefix)
    worker_b = _limiter(redis.Redis.from_url(REDIS_URL), key_prefix)  # another "process"

    worker_a.report_throttled("u1", "Order/search", retry_after_seconds=0.4)
    worker_a.report_throttled("u1", "Order/place", retry_after_seconds=0.1)  # never shortens

    with pytest.raises(RateLimited) as refused:
        worker_b.acquire("u1", "Position/searchOpen", wait_seconds=0)
    assert 0.25 < refused.value.retry_after_seconds <= 0.4
    worker_b.acquire("u1", "History/retrieveBars", wait_seconds=0)  # other group unaffected
    started = time.monotonic()
    worker_b.acquire("u1", "Position/searchOpen", wait_seconds=2)
    assert time.monotonic() - started >= 0.25
    assert worker_b.throttled_count("u1", EndpointGroup.GENERAL) == 2
    assert worker_b.throttled_count("u1", EndpointGroup.BARS) == 0


def test_unlimited_limiter_still_honours_a_429_in_process():
    slept: list[float] = []
    limiter = UnlimitedRateLimiter(sleep=slept.append)

    limiter.report_throttled("u1", "Order/search", 30)

    with pytest.raises(RateLimited):
        limiter.acquire("u1", "Order/search", wait_seconds=5)
    limiter.acquire("u1", "Order/search", wait_seconds=60)
    assert 29 < slept[0] <= 30


def test_two_processes_sharing_one_budget_never_exceed_it(key_prefix):
    ctx = multiprocessing.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Barrier(2)
    workers = [ctx.Process(target=hammer, args=(key_prefix, 1.2, start, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    per_process = [queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)

    grants = sorted(t for batch in per_process for t in batch)
    # 20 per 0.5 s; local timestamps lag the server's by a few ms, so test a slightly shorter window
    busiest = max(sum(1 for t in grants if start <= t < start + 0.48) for start in grants)
    assert busiest <= 20
    assert all(batch for batch in per_process)  # both took slots (fairness is not promised)
    assert len(grants) >= 40  # and the budget was used, not merely throttled to nothing
