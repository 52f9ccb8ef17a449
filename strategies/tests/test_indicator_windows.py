"""The warm-up check: an indicator a strategy reads has the same value whatever history it started
from, once it has seen its documented window (``indicators.window_length``). This is what lets a
live desk warmed on a few weeks trade exactly what the backtester, with years behind it, trades.

Bars are random walks in ticks with random gaps (a minute with no trade has no bar), bucketed as
the strategies declare (minutes, or whole sessions): the backtester's array feed sees every bar,
the live incremental feed starts at a random later bar (often inside a bucket, so its first bucket
is cut short).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markets.sessions import globex_session, trading_date
from strategies.engine import indicators as ind
from strategies.engine.base import SESSION_BARS, IndicatorSpec
from strategies.engine.feeds import (
    WARMUP_MARGIN_SESSIONS,
    ArrayIndicatorFeed,
    IncrementalIndicatorFeed,
    warmup_sessions,
)
from strategies.engine.regime import MarketRegimeFilter
from strategies.engine.registry import build_strategy

FIRST_SESSION = date(2022, 3, 7)  # the week before the March 2022 DST change: it is inside


def _specs(kind: str, periods: dict[str, int]) -> tuple[IndicatorSpec, ...]:
    if kind == "regime":
        return MarketRegimeFilter(periods).indicators()
    return build_strategy(kind, periods).indicators()


KINDS = {
    # small periods and bar sizes keep the windows (and the examples) short; the rule is the same
    "overnight_range_breakout": lambda draw: {
        "atr_period": draw(st.integers(2, 4)),
        "atr_bar_minutes": draw(st.sampled_from([SESSION_BARS, 30, 45])),
    },
    "mean_reversion": lambda draw: {
        "rsi_period": draw(st.integers(2, 6)),
        "ma_period": draw(st.integers(2, 8)),
        "atr_period": draw(st.integers(2, 6)),
        "bar_minutes": draw(st.sampled_from([1, 5, 7])),
    },
    "trend_following": lambda draw: {
        "fast_period": (fast := draw(st.integers(2, 4))),
        "slow_period": draw(st.integers(fast + 1, 8)),
        "adx_period": draw(st.integers(2, 5)),
        "atr_period": draw(st.integers(2, 6)),
        "bar_minutes": draw(st.sampled_from([1, 15])),
    },
    "regime": lambda draw: {
        "adx_period": draw(st.integers(2, 5)),
        "atr_fast": (fast := draw(st.integers(2, 4))),
        "atr_slow": draw(st.integers(fast + 1, 10)),
        "bar_minutes": draw(st.sampled_from([5, 15])),
    },
}


def _bars(rng: np.random.Generator, sessions: int, gap: int):
    """1-minute bars from FIRST_SESSION's open, one every 1..gap minutes inside the sessions."""
    first, _ = globex_session(FIRST_SESSION)
    ts, day = [], FIRST_SESSION
    stamps = []
    while len(stamps) < sessions:
        opens, closes = globex_session(day)
        if opens >= first:
            stamps.append((int(opens.timestamp()), int(closes.timestamp())))
        day = date.fromordinal(day.toordinal() + 1)
    for start, end in stamps:
        t = start
        while t < end:
            ts.append(t)
            t += 60 * int(rng.integers(1, gap + 1))
    ts = np.asarray(ts, dtype=np.int64)
    close = 16000 + np.cumsum(rng.integers(-6, 7, len(ts)))
    high = close + rng.integers(0, 5, len(ts))
    low = close - rng.integers(0, 5, len(ts))
    dates = [trading_date(datetime.fromtimestamp(int(t), UTC)) for t in ts]
    unique = sorted(set(dates))
    index = np.asarray([unique.index(d) for d in dates], dtype=np.int64)
    return ts, high, low, close, index, unique, dates


@st.composite
def _case(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    return kind, KINDS[kind](draw), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_case(), start_fraction=st.floats(0.02, 0.45))
def test_live_indicators_started_later_read_exactly_what_the_backtester_reads(case, start_fraction):
    kind, params, seed = case
    specs = _specs(kind, params)
    rng = np.random.default_rng(seed)
    session_based = any(s.bar_minutes == SESSION_BARS for s in specs)
    longest = max(ind.window_length(s.kind, s.period) + 2 for s in specs)
    if session_based:
        sessions, gap = 2 * longest + 1, 60
    else:
        minutes = max((ind.window_length(s.kind, s.period) + 2) * s.bar_minutes for s in specs)
        sessions, gap = 2 * -(-minutes // 1380) + 1, 3
    ts, high, low, close, index, unique, dates = _bars(rng, sessions=sessions, gap=gap)
    backtest = ArrayIndicatorFeed(specs, ts, high, low, close, index, unique)
    live = IncrementalIndicatorFeed(specs)
    start = int(len(ts) * start_fraction)
    buckets_seen = {s.name: set() for s in specs}
    compared = 0
    for i in range(start, len(ts)):
        live.push(int(ts[i]), int(high[i]), int(low[i]), int(close[i]), dates[i])
        now = int(ts[i]) + 60
        for spec in specs:
            key = dates[i] if spec.bar_minutes == SESSION_BARS else ts[i] // (spec.bar_minutes * 60)
            buckets_seen[spec.name].add(key)
            got, expected = live.value(spec.name, now), backtest.value(spec.name, now)
            # The closed buckets, less the first (it may be cut), hold the window: live is ready.
            if len(buckets_seen[spec.name]) - 2 >= ind.window_length(spec.kind, spec.period):
                assert got is not None, spec
                assert got == expected, (spec, now)  # bit for bit, not approximately
                compared += 1
    assert compared > 0


def test_the_classic_recursion_would_fail_the_warm_up_check():
    """Why the bounded forms exist: Wilder's ATR(14) from two start points 100 bars apart still
    differs after 100 bars of the same data (by ~(13/14)^100 of the seeds' gap, not 0)."""
    rng = np.random.default_rng(7)
    close = 16000 + np.cumsum(rng.integers(-40, 41, 200)).astype(float)
    high, low = close + rng.integers(0, 30, 200), close - rng.integers(0, 30, 200)
    early = ind.atr(high, low, close, 14)[-1]
    late = ind.atr(high[100:], low[100:], close[100:], 14)[-1]
    assert early != late
    bounded_early = ind.windowed("atr", 14, high, low, close)[-1]
    bounded_late = ind.windowed("atr", 14, high[100:], low[100:], close[100:])[-1]
    assert bounded_early == bounded_late


@pytest.mark.parametrize(
    ("kind", "period", "length"),
    [("sma", 10, 10), ("ema", 9, 45), ("atr", 14, 71), ("rsi", 14, 71), ("adx", 14, 71)],
)
def test_window_lengths_are_documented_figures(kind, period, length):
    assert ind.window_length(kind, period) == length
    values = ind.windowed(kind, period, *([np.arange(200.0) % 7 + 100] * 3))
    assert np.isnan(values[: length - 1]).all()
    assert not np.isnan(values[length - 1 :]).any()


def test_windowed_value_is_the_classic_recursion_seeded_at_the_window_start():
    rng = np.random.default_rng(3)
    close = 4000 + np.cumsum(rng.integers(-5, 6, 400)).astype(float)
    high, low = close + rng.integers(0, 4, 400), close - rng.integers(0, 4, 400)
    classic = {
        "atr": lambda h, lo, c: ind.atr(h, lo, c, 14),
        "adx": lambda h, lo, c: ind.adx(h, lo, c, 14),
        "rsi": lambda h, lo, c: ind.rsi(c, 14),
        "ema": lambda h, lo, c: ind.ema(c, 14),
        "sma": lambda h, lo, c: ind.sma(c, 14),
    }
    for kind, reference in classic.items():
        size = ind.window_length(kind, 14)
        ours = ind.windowed(kind, 14, high, low, close)
        incremental = ind.Windowed(kind, 14)
        for i in range(size - 1, len(close), 37):
            window = slice(i - size + 1, i + 1)
            assert ours[i] == reference(high[window], low[window], close[window])[-1], kind
        live = [incremental.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)]
        assert live[size - 2] is None
        assert live[size - 1 :] == ours[size - 1 :].tolist(), kind


def test_the_live_warm_up_covers_every_window_of_the_default_strategies():
    orb = build_strategy("overnight_range_breakout").indicators()
    assert warmup_sessions(orb) == 71 + WARMUP_MARGIN_SESSIONS  # ATR(14) on sessions
    regime = MarketRegimeFilter().indicators()  # ATR(100) on 15-minute bars: 501 x 15 min
    assert warmup_sessions(regime) == -(-501 * 15 // 1380) + WARMUP_MARGIN_SESSIONS
    assert warmup_sessions(()) == 0
