"""Bad input to the backtester gets a named error with a message."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pytest

from markets.fills import OrderKind, Side
from markets.ticks import UnknownContract
from strategies.backtest import BarsError, run_backtest
from strategies.backtest.book import InvalidIntent
from strategies.engine.intents import PlaceBracket
from strategies.engine.params import ParameterError
from strategies.tests.scripted import Scripted
from strategies.tests.synthetic import LOOSE_LIMITS, BarArrays, et_ts, session_bars, to_arrays

DAY = date(2023, 3, 15)


def bars():
    return to_arrays(session_bars(DAY))


def test_unsorted_bars_are_refused():
    good = bars()
    shuffled = BarArrays(
        good.ts[::-1].copy(), good.open, good.high, good.low, good.close, good.volume
    )
    with pytest.raises(BarsError, match="strictly increasing"):
        run_backtest("overnight_range_breakout", {}, shuffled, "ES")


def test_empty_and_mismatched_bars_are_refused():
    empty = np.empty(0, dtype=np.int64)
    with pytest.raises(BarsError, match="no bars"):
        run_backtest(
            "overnight_range_breakout",
            {},
            BarArrays(empty, empty, empty, empty, empty, empty),
            "ES",
        )
    good = bars()
    short = BarArrays(good.ts, good.open[:-1], good.high, good.low, good.close, good.volume)
    with pytest.raises(BarsError, match="differ in length"):
        run_backtest("overnight_range_breakout", {}, short, "ES")


def test_bad_parameters_contract_and_options_are_refused():
    with pytest.raises(ParameterError) as caught:
        run_backtest("overnight_range_breakout", {"qty": 0}, bars(), "ES")
    assert caught.value.errors == {"qty": "must be at least 1"}
    with pytest.raises(UnknownContract):
        run_backtest("overnight_range_breakout", {}, bars(), "XX")
    with pytest.raises(ValueError, match="slippage_ticks"):
        run_backtest("overnight_range_breakout", {}, bars(), "ES", slippage_ticks=-1)
    with pytest.raises(ValueError, match="mode"):
        run_backtest("overnight_range_breakout", {}, bars(), "ES", mode="turbo")
    with pytest.raises(BarsError, match="no session between"):
        run_backtest("overnight_range_breakout", {}, bars(), "ES", first_date=date(2024, 1, 2))


def test_a_strategy_asking_for_an_invalid_bracket_is_stopped_with_its_tag():
    bad = PlaceBracket("x", Side.BUY, 1, OrderKind.STOP, None, 10, 20, "no stop price")
    with pytest.raises(InvalidIntent, match="x: entry_price is required"):
        run_backtest(
            Scripted([(et_ts(DAY, 10, 0), [bad])]), None, bars(), "ES", limits=LOOSE_LIMITS
        )


def test_bars_in_another_tick_size_than_the_contract_are_refused():
    from markets.bars import BarArrays as LoadedBars

    good = bars()
    loaded = LoadedBars(good.ts, good.open, good.high, good.low, good.close, good.volume)
    with pytest.raises(BarsError, match=re.escape("ticks of 0.25 but YM trades in ticks of 1.00")):
        run_backtest("overnight_range_breakout", {}, loaded, "YM")


def test_report_is_readable_text():
    result = run_backtest("overnight_range_breakout", {}, bars(), "ES", limits=LOOSE_LIMITS)
    text = result.report()
    assert text.splitlines()[0].startswith(
        "overnight_range_breakout on ES, 2023-03-15 .. 2023-03-15"
    )
    assert text.splitlines()[-1] == "account: survived"
