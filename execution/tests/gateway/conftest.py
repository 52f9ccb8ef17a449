"""Fixtures for the gateway tests: a real Redis (db 14 unless GATEWAY_TEST_REDIS_URL says otherwise)
with a fresh key prefix per test, so runs never see each other's budgets or metrics."""

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from execution.gateway.auth import BusyWindows
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.metrics import RedisMetrics
from execution.gateway.ratelimit import RedisRateLimiter
from execution.tests.gateway.limiter_worker import REDIS_URL
from simulator.testing import SimulatorHandle, running_simulator


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test-gw-{secrets.token_hex(6)}"
    yield prefix
    keys = list(redis_client.scan_iter(f"{prefix}:*"))
    if keys:
        redis_client.delete(*keys)


# --------------------------------------------------------------------------- simulator fixtures


def sim_config(sim: SimulatorHandle, **overrides) -> GatewayConfig:
    """Client settings for tests: short timeouts and back-offs, and a place-lookup window wide
    enough for the simulator's stepped clock (it starts in 2025)."""
    settings = {
        "timeout_seconds": 5.0,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "default_retry_after_seconds": 0.2,
        "rate_limit_wait_seconds": 2.0,
        "place_lookup_window": timedelta(days=3650),
        # no burst windows: renewals in these tests follow the token alone, at any wall-clock hour
        "busy_windows": BusyWindows(spans=()),
        **overrides,
    }
    return GatewayConfig(sim.base_url, sim.user_hub_url, sim.market_hub_url, **settings)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorHandle]:
    with running_simulator(tmp_path / "sim.sqlite3") as handle:
        yield handle


@pytest.fixture
def make_client(sim, redis_client, key_prefix) -> Iterator:
    clients: list[GatewayClient] = []

    def build(**kwargs) -> GatewayClient:
        config_overrides = kwargs.pop("config", {})
        client = GatewayClient(
            sim_config(sim, **config_overrides),
            kwargs.pop("credentials", Credentials(sim.username, sim.api_key)),
            rate_limiter=RedisRateLimiter(redis_client, key_prefix=key_prefix),
            metrics=RedisMetrics(redis_client, key_prefix=key_prefix),
            **kwargs,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> GatewayClient:
    return make_client()


@pytest.fixture
def metrics(redis_client, key_prefix) -> RedisMetrics:
    return RedisMetrics(redis_client, key_prefix=key_prefix)
