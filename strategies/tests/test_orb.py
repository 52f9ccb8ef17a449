"""Overnight Range Breakout rules, on hand-made sessions through the real backtester."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from markets.fills import Side
from strategies.backtest import run_backtest
from strategies.engine.orb import OvernightRangeBreakout
from strategies.engine.params import ParameterError
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts, session_bars, to_arrays

DAY = date(2023, 3, 15)  # a Wednesday, full session
# Overnight bars span 15990-16010 (range 20 ticks); hourly ATR(2) of those bars is 20 ticks.
PARAMS = {
    "atr_bar_minutes": 60,
    "atr_period": 2,
    "stop_atr": "1",
    "target_atr": "2",
    "min_range_atr": "0.5",
    "max_range_atr": "5",
    "buffer_ticks": 2,
    "breakeven_r": "0",
}
BUY_STOP, SELL_STOP = 16012, 15988  # range high/low +- 2 ticks
STOP_LOSS_TICKS, TARGET_TICKS = 20, 40


def run(overrides: dict[time, tuple[int, int, int, int]], day: date = DAY, **params: object):
    bars = to_arrays(session_bars(day, overrides=overrides))
    return run_backtest(
        "overnight_range_breakout", {**PARAMS, **params}, bars, "ES", limits=LOOSE_LIMITS
    )


def test_places_oco_stops_a_buffer_beyond_the_overnight_range_at_the_open():
    result = run({})
    placed = [d for d in result.decisions if d.action == "place"]
    assert [(d.tag, d.ts) for d in placed] == [
        ("2023-03-15#1:buy", et_ts(DAY, 9, 30)),
        ("2023-03-15#1:sell", et_ts(DAY, 9, 30)),
    ]
    assert "range 3997.50-4002.50" in placed[0].reason  # 15990-16010 ticks
    assert result.trades == []


def test_breakout_fills_at_the_stop_and_cancels_the_other_side():
    result = run(
        {time(10, 0): (16000, 16020, 15995, 16015), time(10, 30): (16000, 16000, 15980, 15985)}
    )
    (trade,) = result.trades
    assert trade.side == Side.BUY
    assert (trade.entry_ticks, trade.exit_ticks) == (BUY_STOP, BUY_STOP - STOP_LOSS_TICKS)
    assert trade.entry_ts == et_ts(DAY, 10, 0)
    assert trade.exit_reason == "stop_loss"
    assert trade.pnl_usd == Decimal("-250.00") - 2 * Decimal("1.40")
    cancelled = [d for d in result.decisions if d.action == "cancel"]
    assert [(d.tag, d.reason) for d in cancelled] == [
        ("2023-03-15#1:sell", "OCO: 2023-03-15#1:buy filled")
    ]


def test_a_bar_gapping_through_the_entry_stop_fills_at_its_open():
    result = run({time(10, 0): (16030, 16035, 16025, 16030)})
    (trade,) = result.trades
    assert trade.entry_ticks == 16030


def test_a_bar_touching_stop_loss_and_target_takes_the_stop_loss():
    result = run(
        {
            time(10, 0): (16000, 16020, 15995, 16015),
            time(10, 1): (16015, 16060, 15990, 16040),  # target 16052 and stop 15992 both touched
        }
    )
    (trade,) = result.trades
    assert trade.exit_reason == "stop_loss"
    assert trade.exit_ticks == BUY_STOP - STOP_LOSS_TICKS
    assert trade.exit_ts == et_ts(DAY, 10, 1)


def test_take_profit_fills_at_the_target():
    result = run(
        {time(10, 0): (16000, 16020, 15995, 16015), time(10, 1): (16015, 16060, 16010, 16040)}
    )
    (trade,) = result.trades
    assert (trade.exit_reason, trade.exit_ticks) == ("take_profit", BUY_STOP + TARGET_TICKS)
    assert trade.r_multiple == Decimal("2.00")


def test_unfilled_entries_are_cancelled_at_the_end_of_the_entry_window():
    result = run({time(11, 5): (16000, 16020, 15995, 16015)})
    assert result.trades == []
    cancels = [(d.tag, d.ts, d.reason) for d in result.decisions if d.action == "cancel"]
    assert cancels == [
        ("2023-03-15#1:buy", et_ts(DAY, 11, 0), "entry window closed"),
        ("2023-03-15#1:sell", et_ts(DAY, 11, 0), "entry window closed"),
    ]


def test_position_is_flattened_at_the_flatten_time_at_the_next_open():
    result = run(
        {time(10, 0): (16000, 16020, 15995, 16015), time(15, 55): (16003, 16004, 16001, 16002)}
    )
    (trade,) = result.trades
    assert trade.exit_reason == "flatten"
    assert trade.exit_ts == et_ts(DAY, 15, 55)
    assert trade.exit_ticks == 16003  # the open of the first bar after the 15:55 decision


def test_stop_moves_to_breakeven_plus_offset_after_the_configured_gain():
    result = run(
        {
            time(10, 0): (16000, 16020, 15995, 16015),
            time(10, 10): (16015, 16035, 16014, 16030),  # +23 ticks >= 1R (20)
            time(10, 11): (16020, 16021, 16010, 16012),  # the moved stop acts from this bar
        },
        breakeven_r="1",
        breakeven_offset_ticks=1,
    )
    (trade,) = result.trades
    moves = [d for d in result.decisions if d.action == "modify stop"]
    assert [(d.ts, d.reason) for d in moves] == [
        (et_ts(DAY, 10, 11), "breakeven after 1.0R -> 4003.25")  # 16013 ticks
    ]
    assert (trade.exit_reason, trade.exit_ticks) == ("stop_loss", BUY_STOP + 1)


def test_at_most_n_trades_a_day_with_rearming_after_an_exit():
    bars = {
        time(10, 0): (16000, 16020, 15995, 16015),  # long
        time(10, 5): (16000, 16001, 15990, 16000),  # stopped at 15992; re-armed at this close
        time(10, 10): (16000, 16001, 15980, 15990),  # short at 15988
        time(10, 20): (15990, 16020, 15989, 16000),  # short stopped at 16008
        time(10, 30): (16000, 16030, 15970, 16000),  # would break both sides: no third trade
    }
    result = run(bars, max_trades_per_day=2)
    assert [(t.side, t.entry_ticks, t.exit_ticks) for t in result.trades] == [
        (Side.BUY, 16012, 15992),
        (Side.SELL, 15988, 16008),
    ]


def test_days_with_a_range_too_narrow_for_the_atr_are_skipped():
    result = run({time(10, 0): (16000, 16020, 15995, 16015)}, min_range_atr="2", max_range_atr="5")
    assert result.trades == []
    # ATR 20 ticks (5.00): the range must be 40-100 ticks wide; it is 20 (5.00).
    assert any("range 5.00 wide, outside 10.00-25.00" in note for _, _, note in result.notes)


def test_days_with_a_range_too_wide_for_the_atr_are_skipped():
    result = run(
        {time(10, 0): (16000, 16020, 15995, 16015)}, min_range_atr="0", max_range_atr="0.5"
    )
    assert result.trades == []


def test_early_close_days_are_skipped():
    day_after_thanksgiving = date(2023, 11, 24)
    result = run({time(10, 0): (16000, 16020, 15995, 16015)}, day=day_after_thanksgiving)
    assert result.trades == []
    assert [n for _, _, n in result.notes] == [
        "2023-11-24: holiday or early close, no breakout today"
    ]


def test_parameters_are_validated_per_field():
    with pytest.raises(ParameterError) as caught:
        OvernightRangeBreakout({"buffer_ticks": -1, "range_end": "25:00", "stop_atr": "abc"})
    assert caught.value.errors == {
        "buffer_ticks": "must be at least 0",
        "range_end": 'must be a clock time "HH:MM"',
        "stop_atr": "must be a number",
    }


def test_cross_field_time_rules_are_enforced():
    with pytest.raises(ParameterError) as caught:
        OvernightRangeBreakout({"entry_window_end": "09:00"})
    assert caught.value.errors == {"entry_window_end": "must be after range_end"}
