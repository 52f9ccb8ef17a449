"""Property tests: the breakout's rules hold on random sessions, and skipping idle bars (fast
mode) gives exactly what bar-by-bar replay (the live path) gives."""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markets.fills import Side
from markets.ticks import spec_for, to_ticks
from strategies.backtest import run_backtest
from strategies.tests.synthetic import LOOSE_LIMITS, et_ts, session_bars, to_arrays

DAY = date(2023, 3, 15)


def random_session(seed: int, drop: float):
    """A random-walk session (ticks), with some minutes missing as in the real data."""
    rng = np.random.default_rng(seed)
    rows = session_bars(DAY)
    price = 16000
    out = []
    rth = et_ts(DAY, 9, 30)
    for ts, _ in rows:
        if rng.random() < drop:
            continue
        step = 4 if ts >= rth else 2
        o = price + int(rng.integers(-1, 2))
        c = o + int(rng.integers(-step * 3, step * 3 + 1))
        h = max(o, c) + int(rng.integers(0, step + 1))
        lo = min(o, c) - int(rng.integers(0, step + 1))
        out.append((ts, (o, h, lo, c)))
        price = c
    return to_arrays(out)


params_strategy = st.fixed_dictionaries(
    {
        "atr_bar_minutes": st.just(60),
        "atr_period": st.just(2),
        "stop_atr": st.sampled_from(["0.3", "0.5", "1"]),
        "target_atr": st.sampled_from(["0.5", "1", "3"]),
        "min_range_atr": st.just("0"),
        "max_range_atr": st.just("50"),
        "min_range_bars": st.just(100),
        "buffer_ticks": st.integers(0, 8),
        "breakeven_r": st.sampled_from(["0", "0.5", "1"]),
        "breakeven_offset_ticks": st.integers(0, 3),
        "max_trades_per_day": st.integers(1, 4),
        "entry_window_end": st.sampled_from(["10:00", "11:00", "13:30"]),
    }
)


ES_TICK = spec_for("ES").tick_size


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1), drop=st.sampled_from([0.0, 0.05, 0.3]), params=params_strategy
)
def test_breakout_rules_hold_and_fast_equals_bar_by_bar(seed, drop, params):
    bars = random_session(seed, drop)
    fast = run_backtest("overnight_range_breakout", params, bars, "ES", limits=LOOSE_LIMITS)
    slow = run_backtest(
        "overnight_range_breakout", params, bars, "ES", limits=LOOSE_LIMITS, mode="bar"
    )
    assert fast.trades == slow.trades
    assert fast.decisions == slow.decisions

    trades = fast.trades
    h, m = map(int, params["entry_window_end"].split(":"))
    range_end, entry_end, flatten = et_ts(DAY, 9, 30), et_ts(DAY, h, m), et_ts(DAY, 15, 55)
    first_bar_after_flatten = int(bars.ts[np.searchsorted(bars.ts, flatten)])
    assert len(trades) <= params["max_trades_per_day"]
    groups = [t.tag.split(":")[0] for t in trades]
    assert len(groups) == len(set(groups))  # one OCO pair never leaves both sides filled
    for t in trades:
        assert range_end <= t.entry_ts < entry_end  # nothing opened outside the entry window
        assert t.exit_ts <= first_bar_after_flatten  # nothing held past the flatten time
    for a, b in itertools.pairwise(trades):
        assert a.exit_ts <= b.entry_ts  # never two positions at once
    for t in trades:
        initial = (
            t.entry_ticks - t.initial_risk_ticks
            if t.side == Side.BUY
            else (t.entry_ticks + t.initial_risk_ticks)
        )
        moves = [  # the journal says the new stop in prices ("... -> 4022.00")
            to_ticks(Decimal(re.search(r"-> (-?[\d.]+)$", d.reason).group(1)), ES_TICK)
            for d in fast.decisions
            if d.action == "modify stop" and d.tag == t.tag
        ]
        levels = [initial, *moves]
        if t.side == Side.BUY:
            assert levels == sorted(levels)  # a stop never moves against the position
        else:
            assert levels == sorted(levels, reverse=True)
    entries = [d for d in fast.decisions if d.action == "place"]
    assert all(range_end <= d.ts < entry_end for d in entries)


def test_random_sessions_do_produce_trades():
    """Guard for the property test above: its sessions are not all no-trade days."""
    params = {
        "atr_bar_minutes": 60,
        "atr_period": 2,
        "min_range_atr": "0",
        "max_range_atr": "50",
        "min_range_bars": 100,
    }
    counts = [
        len(
            run_backtest(
                "overnight_range_breakout",
                params,
                random_session(s, 0.05),
                "ES",
                limits=LOOSE_LIMITS,
            ).trades
        )
        for s in range(10)
    ]
    assert sum(counts) >= 5
