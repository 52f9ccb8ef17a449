"""Live trades what the backtest trades, on days nobody tuned on (issue 12).

For each day the breakout desk is first enabled at 09:20 ET on the simulator replaying ES: its
first step warms up on the simulator's history (every indicator's window, `warmup_sessions`), then
it trades the day minute by minute (`strategies/tests/replay_day.py`). The backtester runs over the
same file with the same parameters and the same account rules, carrying its years of history. Fill
for fill (minute, price, side, size) and the day's P&L must be the same.

The days were found by running the backtester over the file, one per way a trade ends, and two
Mondays after a clock change; before the indicators had bounded memory the live desk (warmed on 15
sessions) had other stop and target distances on each (in the comments).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from execution import risk_gate
from execution.models import AccountDay, Fill
from markets.bars import load_bars_csv
from markets.fills import Side
from markets.sessions import at_et
from strategies.backtest import ReplayData, run_backtest
from strategies.tests.replay_day import ES_FILE, breakout_desk, run_day

# One xdist group of its own: the days run one after another on one worker (each is a simulator
# and ~2-3 minutes), beside the other simulator tests rather than behind them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("live_parity")]

ENABLED_AT = time(9, 20)
BAR = timedelta(minutes=1)

DAYS = [
    # day, how the backtester's trade ends; (stop, target) ticks live had / the backtester has
    pytest.param(date(2023, 1, 20), "take_profit", id="target"),  # 63/126 vs 68/135
    pytest.param(date(2023, 1, 25), "breakeven", id="breakeven-stop"),  # 63/125 vs 67/134
    pytest.param(date(2023, 1, 24), "stop_loss", id="full-stop"),  # 64/128 vs 69/138
    pytest.param(date(2023, 1, 10), "flatten", id="end-of-day-flatten"),  # 74/147 vs 78/155
    pytest.param(date(2021, 11, 8), "stop_loss", id="dst-monday-nov-2021"),  # 37/74 vs 45/91
    pytest.param(date(2022, 3, 14), "stop_loss", id="dst-monday-mar-2022"),  # 127/253 vs 113/226
]


@pytest.fixture(scope="module")
def es() -> ReplayData:
    if not ES_FILE.is_file():
        pytest.fail(f"the shared market data is missing: {ES_FILE}")
    return ReplayData.prepare(load_bars_csv(ES_FILE))


def _backtest_fills(trades) -> list[tuple]:
    """(open of the bar, side, size, price) of every fill of the backtester's trades."""
    fills = []
    for t in trades:
        out = Side.SELL if t.side == Side.BUY else Side.BUY
        fills.append((t.entry_at, t.side, t.qty, t.entry_price))
        fills.append((t.exit_at, out, t.qty, t.exit_price))
    return fills


def _outcome(backtest) -> str:
    """How the day's trade ended, or why there was none."""
    if not backtest.trades:
        return "rejected" if any(d.action == "rejected" for d in backtest.decisions) else "none"
    (trade,) = backtest.trades
    if trade.exit_reason == "stop_loss" and abs(trade.exit_ticks - trade.entry_ticks) <= 1:
        return "breakeven"
    return trade.exit_reason


@pytest.mark.parametrize(("day", "outcome"), DAYS)
def test_live_fills_equal_the_backtesters_fill_for_fill(
    es, tmp_path, settings, tenant_a, day, outcome
):
    with breakout_desk(tmp_path, settings, tenant_a, at_et(day, ENABLED_AT)) as desk:
        sim, account, instrument = desk
        backtest = run_backtest(
            "overnight_range_breakout",
            None,
            es,
            "ES",
            limits=risk_gate.account_limits(account=account),
            first_date=day,
            last_date=day,
        )
        assert _outcome(backtest) == outcome  # what the day was chosen for
        balance_before = Decimal(str(sim.state()["accounts"][0]["balance"]))
        run_day(sim, account, instrument, day)
        balance_after = Decimal(str(sim.state()["accounts"][0]["balance"]))

    # A fill is stamped during the backtester's bar or at its close (when the platform learns of it).
    live = list(Fill.objects.for_tenant(account.tenant).order_by("executed_at", "pk"))
    expected = _backtest_fills(backtest.trades)
    assert [(Side(f.side), f.size, f.price) for f in live] == [e[1:] for e in expected]
    for fill, (bar_open, *_) in zip(live, expected, strict=True):
        assert bar_open <= fill.executed_at <= bar_open + BAR, (fill.executed_at, bar_open)
    account_day = AccountDay.objects.for_tenant(account.tenant).get(session_date=day)
    live_pnl = account_day.realized_pnl_usd - account_day.fees_usd
    assert live_pnl == balance_after - balance_before == backtest.daily_pnl_usd[-1]
