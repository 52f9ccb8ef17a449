"""Mean reversion and trend following: window, quota and trailing-stop rules on random sessions."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markets.fills import Side
from markets.ticks import spec_for, to_ticks
from strategies.backtest import run_backtest
from strategies.engine.mean_reversion import MeanReversion
from strategies.engine.trend_following import TrendFollowing
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts
from strategies.tests.test_orb_properties import random_session

DAY = date(2023, 3, 15)
MR = {
    "bar_minutes": 1,
    "rsi_period": 3,
    "ma_period": 5,
    "atr_period": 3,
    "min_distance_atr": "0.5",
    "oversold": "35",
    "overbought": "65",
}
TF = {
    "bar_minutes": 1,
    "fast_period": 3,
    "slow_period": 8,
    "adx_period": 3,
    "atr_period": 3,
    "min_adx": "10",
}


ES_TICK = spec_for("ES").tick_size


def stop_levels(result, trade):
    initial = (
        trade.entry_ticks - trade.initial_risk_ticks
        if trade.side == Side.BUY
        else (trade.entry_ticks + trade.initial_risk_ticks)
    )
    moves = [
        to_ticks(Decimal(re.search(r"-> (-?[\d.]+)$", d.reason).group(1)), ES_TICK)
        for d in result.decisions
        if d.action == "modify stop" and d.tag == trade.tag
    ]
    return [initial, *moves]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["mean_reversion", "trend_following"]),
    quota=st.integers(1, 5),
    start=st.sampled_from(["09:45", "12:00"]),
)
def test_entries_respect_window_and_quota_and_stops_only_tighten(seed, kind, quota, start):
    params = {
        **(MR if kind == "mean_reversion" else TF),
        "max_trades_per_day": quota,
        "trade_start": start,
        "trade_end": "15:00",
    }
    bars = random_session(seed, 0.05)
    fast = run_backtest(kind, params, bars, "ES", limits=LOOSE_LIMITS)
    slow = run_backtest(kind, params, bars, "ES", limits=LOOSE_LIMITS, mode="bar")
    assert fast.trades == slow.trades
    h, m = map(int, start.split(":"))
    opened = [d.ts for d in fast.decisions if d.action == "place"]
    assert all(et_ts(DAY, h, m) <= ts < et_ts(DAY, 15, 0) for ts in opened)
    assert len(fast.trades) <= quota
    for trade in fast.trades:
        levels = stop_levels(fast, trade)
        assert levels == (
            sorted(levels) if trade.side == Side.BUY else sorted(levels, reverse=True)
        )
        assert trade.entry_ts >= et_ts(DAY, h, m)  # a decision at a close fills at the next open
        assert trade.exit_ts <= et_ts(DAY, 16, 0)


@pytest.mark.parametrize(("kind", "params"), [("mean_reversion", MR), ("trend_following", TF)])
def test_random_sessions_trade(kind, params):
    trades = sum(
        len(
            run_backtest(
                kind,
                {**params, "max_trades_per_day": 5},
                random_session(s, 0.0),
                "ES",
                limits=LOOSE_LIMITS,
            ).trades
        )
        for s in range(5)
    )
    assert trades >= 5


def test_trend_following_trails_its_stop_behind_the_best_price():
    params = {**TF, "max_trades_per_day": 5}
    results = [
        run_backtest("trend_following", params, random_session(s, 0.0), "ES", limits=LOOSE_LIMITS)
        for s in range(5)
    ]
    moved = [d for r in results for d in r.decisions if d.action == "modify stop"]
    assert moved
    assert all(d.reason.startswith("trail ") for d in moved)


def test_interval_strategy_parameters_are_checked():
    with pytest.raises(ValueError, match="trade_start: must be before trade_end"):
        MeanReversion({"trade_start": "15:00", "trade_end": "10:00"})
    with pytest.raises(ValueError, match="oversold: must be below overbought"):
        MeanReversion({"oversold": "50", "overbought": "50"})
    with pytest.raises(ValueError, match="flatten_at: must be before 17:00"):
        TrendFollowing({"flatten_at": "17:30"})
