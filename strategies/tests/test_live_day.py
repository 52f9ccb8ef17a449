"""A full trading day on the simulator: the live runtime trades the Overnight Range Breakout on one
real day of ES (`strategies/tests/replay_day.py`), and the result is checked against the
simulator's own books and the backtester.

The day (found with the backtester, which the test runs on the same day for parity): the 18:00-09:30 range is
recorded, both breakout entries go out at 09:30, the sell side fills and the buy side is cancelled,
the stop moves to breakeven + 1 tick, and the position is stopped out there, flat long before 15:55.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from execution import broker, risk_gate
from execution.models import AccountDay, Fill, Order, OrderRole, OrderStatus, OvernightRange
from markets.bars import load_bars_csv
from markets.sessions import NEW_YORK, at_et
from strategies.backtest import run_backtest
from strategies.live.outbox import TAG_PREFIX
from strategies.models import DecisionStatus, StrategyDecision
from strategies.tests.replay_day import ES_FILE, breakout_desk, replay_start, run_day

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]

DAY = date(2023, 1, 3)


@pytest.fixture
def desk(tmp_path, settings, tenant_a):
    with breakout_desk(tmp_path, settings, tenant_a, replay_start(DAY)) as running:
        yield running


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
    run_day(sim, account, instrument, DAY)
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
