"""A trading day of ES replayed on the simulator with the live runtime, minute by minute.

The simulator replays the day from the shared data (calendar mode, stepped clock) from 17:55 ET
before the session opens; the platform's clock is moved to the simulator's at every minute
(time-machine), and the jobs beat runs every minute run on that clock in the order beat queues
them: the strategy desks, the overnight range, the end-of-day flatten. The user hub is replaced by
polling (`orders_reconcile` each minute, the path that takes over when the hub is down). Orders are
sent by the real order service through the real gateway client; Celery runs inline. The first desk
step warms the desk up on the simulator's history, as a desk first enabled then would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

import pytest
import redis
import time_machine
from django.conf import settings as django_settings

from execution import broker, day, reconcile
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.ingest import instrument_for_contract
from execution.models import OPEN_STATUSES, Order, Position
from execution.tests.simulated import platform_on, simulator_account, tasks_inline
from markets.sessions import at_et, globex_session
from simulator.testing import market_data_dir, running_simulator
from strategies.live.steps import desk_step
from strategies.models import StrategyConfig

ES_FILE = market_data_dir() / "es_1min_2019-2023.csv.gz"
REPLAY_BUDGET = (100_000, 60)
DAY_END = time(16, 5)


def replay_start(trading_date: date) -> datetime:
    """5 minutes before the session opens, the evening before."""
    return globex_session(trading_date)[0] - timedelta(minutes=5)


@contextmanager
def breakout_desk(tmp_path, settings, tenant, start: datetime) -> Iterator[tuple]:
    """(sim, account, instrument): a simulator account trading the breakout with its defaults,
    the simulator's clock at `start`."""
    if not ES_FILE.is_file():
        pytest.fail(f"the shared market data is missing: {ES_FILE}")
    with (
        running_simulator(
            tmp_path / "sim.sqlite3",
            data={"EP": ES_FILE},
            replay_mode="calendar",
            start=start,
            general_rate=REPLAY_BUDGET,
            bars_rate=REPLAY_BUDGET,
        ) as sim,
        platform_on(sim, settings),
    ):
        account = simulator_account(sim, tenant)
        # A TopstepX account: the daily loss limit is not enforced (the maximum loss limit is).
        # Saved through the account's own profile, so the limits read from `account` (the
        # backtester's) are the ones the live gate reads from the database.
        profile = account.risk_profile
        profile.is_daily_loss_enforced = False
        profile.save(update_fields=["is_daily_loss_enforced"])
        install_replay_client(sim, account)
        instrument = instrument_for_contract(sim.contract_id("EP"))
        StrategyConfig.objects.for_tenant(tenant).create(
            tenant=tenant,
            name="ORB",
            kind="overnight_range_breakout",
            account=account,
            instrument=instrument,
            params={},
            is_enabled=True,
        )
        with tasks_inline():
            yield sim, account, instrument


def install_replay_client(sim, account) -> None:
    """The real client and shared limiter, with the request budget raised as the simulator's is:
    the broker counts requests per wall-clock minute, and the replay plays a minute in a fraction
    of a second."""
    budget = RateLimit(*REPLAY_BUDGET)
    limiter = RedisRateLimiter(
        redis.Redis.from_url(django_settings.REDIS_URL),
        limits={EndpointGroup.BARS: budget, EndpointGroup.GENERAL: budget},
    )
    config = broker.gateway_config(account.connection.environment)
    client = GatewayClient(config, Credentials(sim.username, sim.api_key), rate_limiter=limiter)
    fingerprint = hashlib.sha256(account.connection.api_key_encrypted.encode()).hexdigest()
    broker._clients[account.connection.pk] = (fingerprint, client)


def run_day(sim, account, instrument, trading_date: date) -> None:
    """Minute by minute from the simulator's clock to 16:05 ET: the jobs on that clock, then one
    bar."""
    now, end = sim.server.engine.now(), at_et(trading_date, DAY_END)
    with time_machine.travel(now, tick=True) as clock:
        while now < end:
            clock.move_to(now)
            desk_step(account=account, instrument=instrument, now=now)
            day.overnight_ranges_record(now=now)
            day.day_flatten_due(now=now)
            if has_exposure(account):  # polling, as when the hub is down (nothing to poll for else)
                reconcile.orders_reconcile(account=account)
            sim.step(1)
            now = sim.server.engine.now()


def has_exposure(account) -> bool:
    orders = Order.objects.for_tenant(account.tenant).filter(status__in=OPEN_STATUSES)
    positions = Position.objects.for_tenant(account.tenant).exclude(net_size=0)
    return orders.exists() or positions.exists()
