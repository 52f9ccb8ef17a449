"""Bars and sessions for the replay: which bars belong to which trading date, and its flat-by time.

The trading date of each bar comes from ``markets.bars.session_dates`` (the one implementation of
``markets.sessions.trading_date`` over arrays); this module only turns it into session boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from markets import calendar
from markets.bars import session_dates
from markets.sessions import flat_by


class BarsError(ValueError):
    """The bars cannot be replayed (empty, unsorted, mismatched lengths)."""


@dataclass(frozen=True, slots=True)
class Sessions:
    """Session k covers bars ``starts[k]:ends[k]``; ``index[i]`` is bar i's session number."""

    starts: np.ndarray
    ends: np.ndarray
    dates: list[date]
    flat_by: list[int]
    index: np.ndarray
    bar_seconds: int

    @classmethod
    def from_bars(
        cls,
        bars: object,
        bar_seconds: int | None = None,
        early_close_buffer: timedelta = timedelta(minutes=5),
    ) -> Sessions:
        ts = np.asarray(bars.ts, dtype=np.int64)  # type: ignore[attr-defined]
        check_bars(bars)
        labels = _labels(session_dates(ts))
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        ends = np.r_[starts[1:], len(ts)]
        dates = [_as_date(labels[k]) for k in starts]
        if len(set(dates)) != len(dates):
            raise BarsError("bars of one trading date are not contiguous (unsorted input?)")
        index = np.repeat(np.arange(len(starts)), ends - starts)
        flat = [_flat_by_ts(d, early_close_buffer) for d in dates]
        return cls(starts, ends, dates, flat, index, bar_seconds or infer_bar_seconds(ts))

    def select(self, first: date | None, last: date | None) -> tuple[int, int]:
        """Bar index range [a, b) of the sessions from ``first`` to ``last`` inclusive."""
        ks = [
            k
            for k, d in enumerate(self.dates)
            if (first is None or d >= first) and (last is None or d <= last)
        ]
        if not ks:
            raise BarsError(f"no session between {first} and {last}")
        return int(self.starts[ks[0]]), int(self.ends[ks[-1]])


def _flat_by_ts(day: date, early_close_buffer: timedelta) -> int:
    """TopStep's flat-by instant, or ``early_close_buffer`` before an early close."""
    at = flat_by(day)
    if calendar.is_trading_day(day) and calendar.is_early_close(day):
        at = min(at, calendar.session_bounds(day)[1] - early_close_buffer)
    return int(at.timestamp())


def _labels(values: object) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return array.astype("datetime64[D]").astype(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    return np.asarray([d.toordinal() for d in array], dtype=np.int64)  # date objects


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _as_date(label: np.integer) -> date:
    """A label from ``_labels``: days since the epoch, or a ``date.toordinal()`` (~738,000)."""
    value = int(label)
    return date.fromordinal(value if value > 100_000 else _EPOCH_ORDINAL + value)


def infer_bar_seconds(ts: np.ndarray) -> int:
    """The most common gap between bars (1-minute data with missing minutes gives 60)."""
    if len(ts) < 2:
        return 60
    gaps = np.diff(ts[: min(len(ts), 10_000)])
    values, counts = np.unique(gaps[gaps > 0], return_counts=True)
    return int(values[counts.argmax()]) if len(values) else 60


def check_bars(bars: object) -> None:
    names = ("ts", "open", "high", "low", "close", "volume")
    missing = [n for n in names if not hasattr(bars, n)]
    if missing:
        raise BarsError(f"bars lack {missing}")
    arrays = [np.asarray(getattr(bars, n)) for n in names]
    if len({len(a) for a in arrays}) != 1:
        raise BarsError(f"bar arrays differ in length: {[len(a) for a in arrays]}")
    if len(arrays[0]) == 0:
        raise BarsError("no bars to replay")
    ts = arrays[0]
    if np.any(np.diff(ts) <= 0):
        raise BarsError("bar timestamps must be strictly increasing")
