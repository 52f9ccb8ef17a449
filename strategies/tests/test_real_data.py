"""Real ES bars (../shared/data, internal test data: never copied into the repository)."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from execution import risk
from markets.fills import Side
from strategies.backtest import ReplayData, run_backtest
from strategies.tests.synthetic import LOOSE_LIMITS

DATA_DIR = Path(
    os.environ.get("MARKET_DATA_DIR", Path(__file__).resolve().parents[2] / "../shared/data")
)
COMBINE_50K = risk.plan_limits("combine", 50)  # the MLL trails end-of-day (Topstep's rule)
COMBINE_50K_INTRADAY = risk.plan_limits("combine", 50, mll_mode="intraday")  # the stricter reading
ES_FILE = DATA_DIR / "es_1min_2019-2023.csv.gz"


@pytest.fixture(scope="module")
def es() -> ReplayData:
    if not ES_FILE.exists():
        pytest.skip(f"real market data not found at {ES_FILE}")
    from markets.bars import load_bars_csv

    return ReplayData.prepare(load_bars_csv(ES_FILE))


def test_one_real_session_gives_the_hand_checked_range_and_trade(es):
    """2023-03-21. Overnight bars 18:00-09:29 ET: 930, high 4021.25, low 3981.75 (checked with
    pandas on the CSV). Buy stop 4021.25 + 2 ticks = 4021.75; the 09:30 bar opens 4020.00 and
    trades through it, so the entry is at the stop. Daily ATR(14) (over its 71-session window) 308.1 ticks: stop-loss
    round(0.25 x 308.1) = 77 ticks (4002.50; the day's low after entry is 4003.50), breakeven
    trigger +77 ticks = 4041.00, reached in the afternoon (high 4043.25): stop to 4022.00. Flatten
    decided at 15:55, filled at that bar's open 4039.00: 69 ticks = $862.50 - $2.80 fees."""
    result = run_backtest(
        "overnight_range_breakout",
        {},
        es,
        "ES",
        limits=LOOSE_LIMITS,
        first_date=date(2023, 3, 21),
        last_date=date(2023, 3, 21),
    )
    placed = [d.reason for d in result.decisions if d.action == "place"]
    assert placed == [
        "breakout above range 3981.75-4021.25, ATR 77.03",  # ticks 15927-16085, ATR 308.1
        "breakout below range 3981.75-4021.25, ATR 77.03",
    ]
    assert Decimal(15927) / 4 == Decimal("3981.75")
    assert Decimal(16085) / 4 == Decimal("4021.25")
    (trade,) = result.trades
    assert trade.side == Side.BUY
    assert (trade.entry_price, trade.exit_price) == (Decimal("4021.75"), Decimal("4039.00"))
    assert trade.initial_risk_ticks == 77
    assert trade.exit_reason == "flatten"
    assert trade.entry_at.isoformat() == "2023-03-21T13:30:00+00:00"
    assert trade.exit_at.isoformat() == "2023-03-21T19:55:00+00:00"
    assert trade.pnl_usd == Decimal("859.70")
    moves = [d.reason for d in result.decisions if d.action == "modify stop"]
    assert moves == ["breakeven after 1.0R -> 4022.00"]  # 16088 ticks


def test_multi_week_run_reports_whether_the_50k_combine_survives(es):
    """50K Trading Combine (MLL $2,000 trailing intraday, DLL $1,000), default parameters.

    2023-01-03: short 3877.00, open profit peaks at +$1,387.50 (floor -> $49,387.50), exits at
    breakeven +$9.70. From 2023-01-04 only $622.20 is left above the floor, and every breakout's
    stop-out alone (about $1,000) would reach it: the pre-trade rule the live gate applies refuses
    them all, so the account survives by not trading."""
    result = run_backtest(
        "overnight_range_breakout",
        {},
        es,
        "ES",
        limits=COMBINE_50K_INTRADAY,
        first_date=date(2023, 1, 3),
        last_date=date(2023, 2, 28),
    )
    assert [
        (t.trading_date, t.side, t.exit_price, t.exit_reason, t.pnl_usd) for t in result.trades
    ] == [(date(2023, 1, 3), Side.SELL, Decimal("3876.75"), "stop_loss", Decimal("9.70"))]
    refused = [d for d in result.decisions if d.action == "rejected"]
    assert refused[0].tag == "2023-01-04#1:buy"
    assert refused[0].reason == (
        "a stop-out would lose 990.30, reaching the max loss limit (622.20 of room left)"
    )
    assert all("reaching the max loss limit" in d.reason for d in refused)
    assert (result.refused_entries, result.first_refused_on) == (len(refused), date(2023, 1, 4))
    assert (result.survived, result.failed_on) == (True, None)
    assert result.session_dates[-1] == date(2023, 2, 28)


def test_a_surviving_multi_week_run(es):
    result = run_backtest(
        "overnight_range_breakout",
        {"stop_atr": "0.15", "target_atr": "0.15"},
        es,
        "ES",
        limits=COMBINE_50K,
        first_date=date(2019, 6, 3),
        last_date=date(2019, 7, 31),
    )
    assert result.survived
    assert result.failed_on is None
    metrics = result.metrics()
    assert metrics["trades"] == 29
    assert metrics["sessions"] == len(result.daily_pnl_usd) == 43
    assert sum(result.daily_pnl_usd) == metrics["net_pnl_usd"] == Decimal("-81.20")


@pytest.mark.parametrize("kind", ["overnight_range_breakout", "mean_reversion", "trend_following"])
def test_skipping_idle_bars_gives_the_same_trades_as_bar_by_bar(es, kind):
    kwargs = {
        "limits": LOOSE_LIMITS,
        "first_date": date(2022, 9, 1),
        "last_date": date(2022, 9, 30),
    }
    fast = run_backtest(kind, {}, es, "ES", **kwargs)
    slow = run_backtest(kind, {}, es, "ES", mode="bar", **kwargs)
    assert len(fast.trades) > 5
    assert fast.trades == slow.trades
    assert fast.decisions == slow.decisions


def test_array_and_incremental_indicator_feeds_agree_at_every_bar_close(es):
    from strategies.engine.base import SESSION_BARS, IndicatorSpec
    from strategies.engine.feeds import ArrayIndicatorFeed, IncrementalIndicatorFeed

    specs = (
        IndicatorSpec("atr_d", "atr", 14, SESSION_BARS),
        IndicatorSpec("rsi5", "rsi", 14, 5),
        IndicatorSpec("adx15", "adx", 14, 15),
        IndicatorSpec("ema1", "ema", 20, 1),
        IndicatorSpec("sma60", "sma", 10, 60),
    )
    a, b = es.sessions.select(date(2022, 8, 1), date(2022, 9, 2))
    sl = slice(a, b)
    index = es.sessions.index[sl] - es.sessions.index[a]
    dates = es.sessions.dates[es.sessions.index[a] : es.sessions.index[b - 1] + 1]
    arrays = ArrayIndicatorFeed(
        specs, es.ts[sl], es.high[sl], es.low[sl], es.close[sl], index, dates
    )
    live = IncrementalIndicatorFeed(specs)
    compared = 0
    for k in range(b - a):
        i = a + k
        live.push(int(es.ts[i]), int(es.high[i]), int(es.low[i]), int(es.close[i]), dates[index[k]])
        now = int(es.ts[i]) + 60
        for spec in specs:
            expected = arrays.value(spec.name, now)
            got = live.value(spec.name, now)
            assert (got is None) == (expected is None), (spec.name, now)
            if got is not None:
                assert got == expected  # bit for bit: the same arithmetic on the same window
                compared += 1
    assert compared > 100_000
