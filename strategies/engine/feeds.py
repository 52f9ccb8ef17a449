"""Indicator values for strategies: precomputed arrays (backtest) or incremental updates (live).

Both forms follow one grouping rule, so a strategy reads the same number either way:
- An ``IndicatorSpec`` with ``bar_minutes = m`` groups the 1-minute (or finer) bars into buckets of
  ``m`` minutes aligned to multiples of ``m`` minutes since the epoch (UTC); a bucket ends at its
  boundary. ``SESSION_BARS`` groups by trading session; a session bucket ends at 17:00 ET of its
  trading date (``markets.sessions.globex_session``), known in advance live as in a backtest.
- Each bucket's high/low/close feed the indicator's bounded-memory form
  (``strategies.engine.indicators.windowed``: the array form here, ``Windowed`` live): its value at
  a bucket depends only on the last ``window_length(kind, period)`` buckets, so a live desk warmed on
  that many buckets reads exactly what a backtest with years of history reads. A bucket's value is
  visible from its end time on: ``value(name, now)`` returns the value of the last bucket ending at
  or before ``now``, or None while fewer buckets than the window have closed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Protocol

import numpy as np

from markets.sessions import globex_session
from strategies.engine import indicators as ind
from strategies.engine.base import SESSION_BARS, IndicatorSpec

KINDS = ind.WINDOWED_KINDS
SESSION_MINUTES = 1380  # 18:00 to 17:00 ET
WARMUP_MARGIN_SESSIONS = 2


class UnknownIndicator(ValueError):
    """A strategy asked for an indicator kind or name nobody declared."""


class IndicatorFeed(Protocol):
    def value(self, name: str, now: int) -> float | None: ...

    def advance(self, i: int, j: int) -> None: ...


def _check(specs: Sequence[IndicatorSpec]) -> None:
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise UnknownIndicator(f"indicator names must be unique, got {names}")
    for spec in specs:
        if spec.kind not in KINDS:
            raise UnknownIndicator(
                f"{spec.name}: unknown indicator kind {spec.kind!r}; use {KINDS}"
            )
        if spec.bar_minutes < 1 or (spec.bar_minutes > 1440):
            raise UnknownIndicator(f"{spec.name}: bar_minutes must be 1..1440")


def warmup_sessions(specs: Sequence[IndicatorSpec]) -> int:
    """Whole sessions of bars before today that hold every indicator's window, plus a margin: for
    the first bucket, which the warm-up may cut, and for a session the data may lack. A live desk
    warms up on this many (``strategies/live/steps.py``), and so does the backtester's bar mode."""
    sessions = 0
    for spec in specs:
        buckets = ind.window_length(spec.kind, spec.period)
        if spec.bar_minutes == SESSION_BARS:
            sessions = max(sessions, buckets)
        else:
            sessions = max(sessions, -(-(buckets * spec.bar_minutes) // SESSION_MINUTES))
    return sessions + WARMUP_MARGIN_SESSIONS if sessions else 0


def session_end_ts(trading_date: date) -> int:
    return int(globex_session(trading_date)[1].timestamp())


class ArrayIndicatorFeed:
    """All values computed up front with the array functions (backtests)."""

    def __init__(
        self,
        specs: Sequence[IndicatorSpec],
        ts: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        session_index: np.ndarray,
        session_dates: Sequence[date],
    ) -> None:
        _check(specs)
        self._ends: dict[str, list[int]] = {}
        self._values: dict[str, list[float]] = {}
        cache: dict[int, tuple[np.ndarray, ...]] = {}
        for spec in specs:
            if spec.bar_minutes not in cache:
                cache[spec.bar_minutes] = self._buckets(
                    spec.bar_minutes, ts, high, low, close, session_index, session_dates
                )
            ends, h, lo, c = cache[spec.bar_minutes]
            values = ind.windowed(spec.kind, spec.period, h, lo, c) if len(c) else np.empty(0)
            self._ends[spec.name] = ends.tolist()
            self._values[spec.name] = values.tolist()
        self._ends_np = {name: np.asarray(v, dtype=np.int64) for name, v in self._ends.items()}

    @staticmethod
    def _buckets(
        minutes: int,
        ts: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        session_index: np.ndarray,
        session_dates: Sequence[date],
    ) -> tuple[np.ndarray, ...]:
        if len(ts) == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty, empty
        key = session_index if minutes == SESSION_BARS else ts // (minutes * 60)
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        h = np.maximum.reduceat(high, starts)
        lo = np.minimum.reduceat(low, starts)
        last = np.r_[starts[1:] - 1, len(ts) - 1]
        c = close[last]
        if minutes == SESSION_BARS:
            ends = np.asarray(
                [session_end_ts(session_dates[k]) for k in key[starts]], dtype=np.int64
            )
        else:
            ends = (key[starts] + 1) * (minutes * 60)
        return ends, h, lo, c

    def value(self, name: str, now: int) -> float | None:
        ends = self._ends_np.get(name)
        if ends is None:
            raise UnknownIndicator(f"indicator {name!r} was not declared by the strategy")
        k = int(np.searchsorted(ends, now, "right")) - 1
        if k < 0:
            return None
        v = self._values[name][k]
        return None if math.isnan(v) else v

    def advance(self, i: int, j: int) -> None:
        """Nothing to do: every value is already known."""


class _Incremental:
    __slots__ = ("bucket_end", "c", "h", "key", "l", "minutes", "state", "value")

    def __init__(self, spec: IndicatorSpec) -> None:
        self.minutes = spec.bar_minutes
        self.state = ind.Windowed(spec.kind, spec.period)
        self.key: object = None
        self.bucket_end = 0
        self.h = self.l = self.c = 0
        self.value: float | None = None

    def close_bucket(self) -> None:
        self.value = self.state.update(self.h, self.l, self.c)
        self.key = None


class IncrementalIndicatorFeed:
    """O(1)-per-bar indicators for live trading (and the backtester's bar-by-bar mode).

    ``push`` each closed bar with its trading date; ``value`` closes a bucket whose end has passed.
    """

    def __init__(self, specs: Sequence[IndicatorSpec]) -> None:
        _check(specs)
        self._states = {spec.name: _Incremental(spec) for spec in specs}

    def push(self, ts: int, high: int, low: int, close: int, trading_date: date) -> None:
        for st in self._states.values():
            if st.minutes == SESSION_BARS:
                key: object = trading_date
            else:
                key = ts // (st.minutes * 60)
            if st.key is not None and key != st.key:
                st.close_bucket()
            if st.key is None:
                st.key = key
                st.bucket_end = (
                    session_end_ts(trading_date)
                    if st.minutes == SESSION_BARS
                    else (key + 1) * st.minutes * 60  # type: ignore[operator]
                )
                st.h, st.l, st.c = high, low, close
            else:
                st.h = max(st.h, high)
                st.l = min(st.l, low)
                st.c = close

    def value(self, name: str, now: int) -> float | None:
        st = self._states.get(name)
        if st is None:
            raise UnknownIndicator(f"indicator {name!r} was not declared by the strategy")
        if st.key is not None and st.bucket_end <= now:
            st.close_bucket()
        return st.value

    def advance(self, i: int, j: int) -> None:
        """Bars are pushed by the runner (``push``), not by index."""


class ReplayIncrementalFeed(IncrementalIndicatorFeed):
    """The incremental feed driven by the backtester's arrays (bar-by-bar mode)."""

    def __init__(
        self,
        specs: Sequence[IndicatorSpec],
        ts: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        session_index: np.ndarray,
        session_dates: Sequence[date],
    ) -> None:
        super().__init__(specs)
        self._ts, self._h, self._l, self._c = (
            ts.tolist(),
            high.tolist(),
            low.tolist(),
            close.tolist(),
        )
        self._day = session_index.tolist()
        self._dates = list(session_dates)

    def advance(self, i: int, j: int) -> None:
        for k in range(i, j + 1):
            self.push(self._ts[k], self._h[k], self._l[k], self._c[k], self._dates[self._day[k]])
