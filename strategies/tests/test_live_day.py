"""A full trading day on the simulator: the live runtime trades the Overnight Range Breakout on one
real day of ES, and the result is checked against the simulator's own books and the backtester.

The simulator replays 2023-01-03 (calendar mode, stepped clock) minute by minute; the platform's
clock is moved to the simulator's at every minute (time-machine), and the jobs beat runs every
minute run on that clock in the order beat queues them: the strategy desks, the overnight range,
the end-of-day flatten; the user hub is replaced by polling (`orders_reconcile` each minute, the
path that takes over when the hub is down). Orders are sent by the real order service through the
real gateway client; Celery runs inline.

The day (found with the backtester, which the test runs on the same day for parity): the 18:00-09:30 range is
recorded, both breakout entries go out at 09:30, the sell side fills and the buy side is cancelled,
the stop moves to breakeven + 1 tick, and the position is stopped out there, flat long before 15:55.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import redis
import time_machine
from django.conf import settings

from accounts.models import RiskProfile
from execution import broker, day, reconcile, risk_gate
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.ingest import instrument_for_contract
from execution.models import (
    OPEN_STATUSES,
    AccountDay,
    Fill,
    Order,
    OrderRole,
    OrderStatus,
    OvernightRange,
    Position,
)
from execution.tests.simulated import platform_on, simulator_account, tasks_inline
from markets.bars import load_bars_csv
from markets.sessions import NEW_YORK, at_et
from simulator.testing import market_data_dir, running_simulator
from strategies.backtest import run_backtest
from strategies.live.outbox import TAG_PREFIX
from strategies.live.steps import desk_step
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]

ES_FILE = market_data_dir() / "es_1min_2019-2023.csv.gz"
DAY = date(2023, 1, 3)
START = at_et(date(2023, 1, 2), datetime.min.time().replace(hour=17, minute=55))
END = at_et(DAY, datetime.min.time().replace(hour=16, minute=5))
REPLAY_BUDGET = (100_000, 60)


@pytest.fixture
def desk(tmp_path, settings, tenant_a):
    if not ES_FILE.is_file():
        pytest.fail(f"the shared market data is missing: {ES_FILE}")
    with (
        running_simulator(
            tmp_path / "sim.sqlite3",
            data={"EP": ES_FILE},
            replay_mode="calendar",
            start=START,
            general_rate=REPLAY_BUDGET,
            bars_rate=REPLAY_BUDGET,
        ) as sim,
        platform_on(sim, settings),
    ):
        account = simulator_account(sim, tenant_a)
        # A TopstepX account: the daily loss limit is not enforced (the maximum loss limit is).
        RiskProfile.objects.for_tenant(tenant_a).filter(account=account).update(
            is_daily_loss_enforced=False
        )
        install_replay_client(sim, account)
        instrument = instrument_for_contract(sim.contract_id("EP"))
        StrategyConfig.objects.for_tenant(tenant_a).create(
            tenant=tenant_a,
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
        redis.Redis.from_url(settings.REDIS_URL),
        limits={EndpointGroup.BARS: budget, EndpointGroup.GENERAL: budget},
    )
    config = broker.gateway_config(account.connection.environment)
    client = GatewayClient(config, Credentials(sim.username, sim.api_key), rate_limiter=limiter)
    fingerprint = hashlib.sha256(account.connection.api_key_encrypted.encode()).hexdigest()
    broker._clients[account.connection.pk] = (fingerprint, client)


def run_day(sim, account, instrument) -> None:
    """Minute by minute from START to END: the jobs on the simulator's clock, then one bar."""
    now = START
    with time_machine.travel(now, tick=True) as clock:
        while now < END:
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


def test_a_day_of_breakout_trading_on_the_simulator(desk):
    sim, account, instrument = desk
    backtest = run_backtest(
        "overnight_range_breakout",
        None,
        load_bars_csv(ES_FILE),
        "ES",
        limits=risk_gate.account_limits(account=account),  # the same rules as the live gate
        first_date=DAY,
        last_date=DAY,
    )
    balance_before = Decimal(str(sim.state()["accounts"][0]["balance"]))
    run_day(sim, account, instrument)
    tenant = account.tenant

    # The range is recorded from the 18:00-09:30 bars.
    overnight = OvernightRange.objects.get(instrument=instrument, session_date=DAY)
    assert overnight.is_complete
    assert overnight.bar_count > 900

    # Both entries went out at 09:30; the sell filled, the buy was cancelled.
    entries = Order.objects.for_tenant(tenant).filter(role=OrderRole.ENTRY).order_by("side")
    assert [o.custom_tag.removeprefix(TAG_PREFIX).split("/", 1)[1] for o in entries] == [
        "2023-01-03#1:buy",
        "2023-01-03#1:sell",
    ]
    assert {o.submitted_at.astimezone(NEW_YORK).strftime("%H:%M") for o in entries} == {"09:30"}
    buy, sell = entries
    assert (buy.status, sell.status) == (OrderStatus.CANCELLED, OrderStatus.FILLED)

    # The stop moved to breakeven + 1 tick (in the short's favour) and took the position out there.
    stop = Order.objects.for_tenant(tenant).get(parent=sell, role=OrderRole.STOP_LOSS)
    assert stop.stop_price == sell.average_fill_price - instrument.tick_size
    assert stop.status == OrderStatus.FILLED
    moved = StrategyDecision.objects.for_tenant(tenant).get(action="move stop")
    assert moved.status == DecisionStatus.DONE

    # Flat by the flatten time, and the day's P&L is the simulator's balance change to the cent.
    client = broker.gateway_client_for(connection=account.connection)
    assert not client.search_open_positions(sim.account_id)
    fills = Fill.objects.for_tenant(tenant).order_by("executed_at")
    assert fills.last().executed_at < at_et(DAY, datetime.min.time().replace(hour=15, minute=55))
    balance_after = Decimal(str(sim.state()["accounts"][0]["balance"]))
    account_day = AccountDay.objects.for_tenant(tenant).get(session_date=DAY)
    assert account_day.realized_pnl_usd - account_day.fees_usd == balance_after - balance_before
    assert account_day.balance_usd == balance_after

    # Nothing was left to carry out, and every decision has its reason in the journal.
    decisions = StrategyDecision.objects.for_tenant(tenant)
    assert not decisions.filter(status=DecisionStatus.PENDING).exists()
    assert all(d.reason for d in decisions)

    # The same orders and fills as the backtester on the same day (the parity of issue #4).
    trade = backtest.trades[0]
    assert len(backtest.trades) == 1
    assert (sell.average_fill_price, stop.average_fill_price) == (
        trade.entry_price,
        trade.exit_price,
    )
    placed = sorted(d.tag for d in backtest.decisions if d.action == "place")
    assert sorted(o.custom_tag.removeprefix(TAG_PREFIX).split("/", 1)[1] for o in entries) == placed
    entry_bar = datetime.fromtimestamp(trade.entry_ts, UTC)  # the same bar, by its open
    assert entry_bar <= fills.first().executed_at <= entry_bar + timedelta(minutes=1)
