"""The live runner drives the same strategy class bar by bar and asks for the same orders."""

from __future__ import annotations

from datetime import date

from strategies.backtest import run_backtest
from strategies.engine.intents import CancelOrder, PlaceBracket
from strategies.engine.orb import OvernightRangeBreakout
from strategies.engine.runner import LiveRunner
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts, session_bars, to_arrays
from strategies.tests.test_orb import PARAMS

DAY = date(2023, 3, 15)


def test_live_runner_sends_the_orders_the_backtest_placed_at_the_same_times():
    rows = session_bars(DAY)
    backtest = run_backtest(
        "overnight_range_breakout", PARAMS, to_arrays(rows), "ES", limits=LOOSE_LIMITS
    )
    runner = LiveRunner(OvernightRangeBreakout(PARAMS))
    sent: list[tuple[int, object]] = []
    sent += [(rows[0][0], i) for i in runner.on_session_open(rows[0][0], DAY)]
    for ts, (o, h, lo, c) in rows:
        sent += [(runner.ctx.ts, i) for i in runner.on_bar(ts, o, h, lo, c, 1)]
    placed = [(ts, i.tag, i.entry_price) for ts, i in sent if isinstance(i, PlaceBracket)]
    assert placed == [
        (et_ts(DAY, 9, 30), "2023-03-15#1:buy", 16012),
        (et_ts(DAY, 9, 30), "2023-03-15#1:sell", 15988),
    ]
    assert [(d.ts, d.tag) for d in backtest.decisions if d.action == "place"] == [
        (ts, tag) for ts, tag, _ in placed
    ]
    cancels = [(ts, i.tag) for ts, i in sent if isinstance(i, CancelOrder)]
    assert cancels == [
        (et_ts(DAY, 11, 0), "2023-03-15#1:buy"),
        (et_ts(DAY, 11, 0), "2023-03-15#1:sell"),
    ]


def test_a_clock_fires_from_a_timer_when_no_bar_closes_at_it():
    rows = [r for r in session_bars(DAY) if not (et_ts(DAY, 9, 25) <= r[0] < et_ts(DAY, 9, 35))]
    runner = LiveRunner(OvernightRangeBreakout(PARAMS))
    runner.on_session_open(rows[0][0], DAY)
    for ts, (o, h, lo, c) in rows:
        if ts >= et_ts(DAY, 9, 25):
            break
        runner.on_bar(ts, o, h, lo, c, 1)
    intents = runner.on_clock(et_ts(DAY, 9, 30))
    assert [i.tag for i in intents] == ["2023-03-15#1:buy", "2023-03-15#1:sell"]
    assert runner.on_clock(et_ts(DAY, 9, 31)) == []
