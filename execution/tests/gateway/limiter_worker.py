"""A worker process for the cross-process limiter test. Kept apart from the test module so a
spawned child imports only this and the limiter (not the simulator and its data stack)."""

import multiprocessing
import multiprocessing.synchronize
import os
import time

import redis

from execution.gateway.errors import RateLimited
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
SHARED_LIMIT = RateLimit(20, 0.5)


def hammer(
    prefix: str,
    duration: float,
    start: "multiprocessing.synchronize.Barrier",
    out: "multiprocessing.Queue[list[float]]",
) -> None:
    """Acquire from the shared budget as fast as it allows; report the grant times. Workers
    start together (the barrier) so they really compete."""
    limiter = RedisRateLimiter(
        redis.Redis.from_url(REDIS_URL),
        limits={EndpointGroup.GENERAL: SHARED_LIMIT, EndpointGroup.BARS: RateLimit(1, 1)},
        key_prefix=prefix,
    )
    grants: list[float] = []
    start.wait(timeout=60)
    end = time.time() + duration
    while time.time() < end:
        try:
            limiter.acquire("shared", "Order/search", wait_seconds=0.6)
        except RateLimited:
            continue
        grants.append(time.time())
    out.put(grants)
