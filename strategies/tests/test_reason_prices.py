"""Journal reasons print prices, not ticks, and the backtester and the live runner print the same
text for the same decision (one helper: ``markets.ticks.price_text``)."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from markets.bars import load_bars_csv
from markets.ticks import CONTRACT_SPECS, from_ticks, price_text, spec_for, to_ticks
from strategies.backtest import run_backtest
from strategies.backtest.run import ReplayData
from strategies.engine.intents import PlaceBracket
from strategies.engine.orb import OvernightRangeBreakout
from strategies.engine.registry import STRATEGY_KINDS
from strategies.engine.runner import LiveRunner
from strategies.tests.synthetic import LOOSE_LIMITS, session_bars, to_arrays
from strategies.tests.test_evaluation_lab import ES_FILE
from strategies.tests.test_orb import PARAMS

DAY = date(2023, 3, 15)
BREAKOUT = {time(10, 0): (16000, 16020, 16000, 16015)}  # fills the buy stop at 16012
ES_TICK = spec_for("ES").tick_size


@pytest.mark.parametrize(
    ("ticks", "symbol", "text"),
    [
        (27261, "ES", "6815.25"),
        (27410, "ES", "6852.50"),
        (np.int64(27410), "ES", "6852.50"),  # ticks read from the bar arrays
        (148.1, "ES", "37.02"),  # an ATR (an average) rounds to the tick's decimals
        (-3763, "CL", "-37.63"),  # crude oil, April 2020
        (5, "YM", "5.00"),
        (12345, "RTY", "1234.50"),
    ],
)
def test_price_text_prints_the_contracts_price(ticks, symbol, text):
    assert price_text(ticks, spec_for(symbol).tick_size) == text


def test_price_text_refuses_a_bad_tick_size():
    with pytest.raises(ValueError, match="tick size"):
        price_text(10, Decimal(0))


@given(ticks=st.integers(-(10**9), 10**9), symbol=st.sampled_from(sorted(CONTRACT_SPECS)))
def test_whole_ticks_print_exactly(ticks, symbol):
    tick = CONTRACT_SPECS[symbol].tick_size
    text = price_text(ticks, tick)
    assert Decimal(text) == from_ticks(ticks, tick)
    assert to_ticks(Decimal(text), tick) == ticks


def live_intents(params) -> tuple[list, list]:
    rows = session_bars(DAY, overrides=BREAKOUT)
    runner = LiveRunner(OvernightRangeBreakout(params), tick_size=ES_TICK)
    sent = list(runner.on_session_open(rows[0][0], DAY))
    for ts, (o, h, lo, c) in rows:
        sent += runner.on_bar(ts, o, h, lo, c, 1)
    return sent, runner.notes


def test_backtest_and_live_reasons_print_the_same_prices():
    rows = session_bars(DAY, overrides=BREAKOUT)
    backtest = run_backtest(
        "overnight_range_breakout", PARAMS, to_arrays(rows), "ES", limits=LOOSE_LIMITS
    )
    sent, _ = live_intents(PARAMS)
    live = [(i.tag, i.reason) for i in sent if isinstance(i, PlaceBracket)]
    assert live == [(d.tag, d.reason) for d in backtest.decisions if d.action == "place"]
    # Prices with the tick's two decimals, the range of the synthetic session (16010/15990
    # ticks, armed 2 ticks outside it).
    (_, reason), _ = live
    assert re.fullmatch(r"breakout above range 3997\.50-4002\.50, ATR \d+\.\d\d", reason), reason
    fills = [d.reason for d in backtest.decisions if d.action in ("entry filled", "exit filled")]
    assert fills
    assert fills[0] == "BUY 1 @ 4003.00"  # 16012 ticks
    assert all(re.search(r"@ \d+\.\d\d\b", r) for r in fills), fills


def test_a_skipped_day_is_noted_in_prices_on_both_paths():
    params = {**PARAMS, "min_range_atr": "0.05", "max_range_atr": "0.1"}  # range too wide
    rows = session_bars(DAY, overrides=BREAKOUT)
    backtest = run_backtest(
        "overnight_range_breakout", params, to_arrays(rows), "ES", limits=LOOSE_LIMITS
    )
    _, notes = live_intents(params)
    live = [text for _, _, text in notes if "skipped" in text]
    assert live == [text for _, _, text in backtest.notes if "skipped" in text]
    [note] = live
    assert re.fullmatch(
        r"2023-03-15: range 5\.00 wide, outside \d+\.\d\d-\d+\.\d\d \(ATR \d+\.\d\d\), skipped",
        note,
    ), note
    assert "ticks" not in note


@pytest.mark.parametrize("kind", sorted(STRATEGY_KINDS))
def test_every_strategy_kinds_journal_prints_prices_on_real_bars(kind):
    es = ReplayData.prepare(load_bars_csv(ES_FILE, ES_TICK, cache=True))
    result = run_backtest(
        kind, {}, es, "ES", first_date=date(2022, 1, 3), last_date=date(2022, 2, 28)
    )
    texts = [d.reason for d in result.decisions] + [n for _, _, n in result.notes]
    assert result.trades
    assert not [t for t in texts if "tick" in t]
    # Fills, stops and ranges are on the ES tick grid (averages such as an ATR or an EMA need not).
    prices = re.findall(r"(?:@|->|range|from) (-?\d+\.\d\d)\b", " | ".join(texts))
    assert prices
    assert all(to_ticks(Decimal(p), ES_TICK) is not None for p in prices)
    averages = re.findall(r"(?:ATR|fast|slow) (-?[\d.]+)", " | ".join(texts))
    assert all(re.fullmatch(r"-?\d+\.\d\d", a) for a in averages), averages
