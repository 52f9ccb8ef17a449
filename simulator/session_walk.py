"""The demo's market: a seeded random walk that trades on the CME calendar, a price every second.

Why it exists: the demo desk must trade its strategies' defaults from the first minute, and those
read weeks of sessions (a 14-session ATR and more). So the walk starts `history_sessions` trading
dates before the clock and runs on, one series: what `History/retrieveBars` serves and what the
real-time clock then plays are the same bars.

The calendar is the strategies' own (`markets.calendar`, `markets.sessions`): a bar opens at every
minute inside a session (18:00 ET the evening before to 17:00 ET, earlier on half days), none in
the daily break, at weekends or on holidays. Every session opens at the previous session's close.

Activity follows the clock of a real equity-index future: quiet overnight, busiest after the
09:30 ET cash open, so the overnight range is narrower than a session's true range, as the
breakout strategy expects.

Inside a bar the clock prints a price every second (`second_path`): a random path on the tick grid
from the open to the close that visits the low and the high in the order of
`markets.fills.intrabar_path` (the backtester's and the matching engine's assumption), never
leaving [low, high].

Deterministic: the same seed and origin give the same bars and paths (a restart replays them).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from markets import calendar, fills
from markets.sessions import NEW_YORK, trading_date
from markets.ticks import ContractSpec
from simulator.market import BAR_SECONDS, WALK_PROFILE, Bar, Columns, Point, Series

__all__ = ["SECONDS", "SessionWalkSeries", "history_origin", "second_path"]

SECONDS = tuple(range(BAR_SECONDS))
_LOOKAHEAD = timedelta(days=15)  # more than the longest closure (Christmas to the next session)

# (ET wall-clock start, volatility multiple, volume multiple): a real index future's day.
_ACTIVITY = (
    (time(0, 0), 0.45, 0.3),
    (time(3, 0), 0.6, 0.5),
    (time(8, 30), 0.9, 1.0),
    (time(9, 30), 1.7, 3.0),
    (time(10, 30), 1.2, 2.0),
    (time(12, 0), 0.9, 1.3),
    (time(15, 0), 1.3, 2.5),
    (time(16, 0), 0.6, 0.6),
    (time(18, 0), 0.5, 0.4),
    (time(20, 0), 0.45, 0.3),
)


def _activity_by_minute() -> tuple[np.ndarray, np.ndarray]:
    """Volatility and volume multiples for each ET minute of the day (0..1439)."""
    vol, volume = np.empty(1440), np.empty(1440)
    for i, (start, v, q) in enumerate(_ACTIVITY):
        end = _ACTIVITY[i + 1][0] if i + 1 < len(_ACTIVITY) else None
        first = start.hour * 60 + start.minute
        last = 1440 if end is None else end.hour * 60 + end.minute
        vol[first:last], volume[first:last] = v, q
    return vol, volume


_VOL_BY_MINUTE, _VOLUME_BY_MINUTE = _activity_by_minute()


def history_origin(start: datetime, sessions: int) -> int:
    """Epoch seconds of the Globex open `sessions` trading dates before the one of `start`."""
    if sessions < 1:
        raise ValueError(f"history needs at least one session, got {sessions}")
    day = trading_date(start)
    for _ in range(sessions):
        day = calendar.previous_trading_day(day)
    open_at, _ = calendar.session_bounds(day)
    return int(open_at.timestamp())


def session_minutes(day: date) -> np.ndarray:
    """Open times (epoch s) of the 1-minute bars of trading date `day`; empty when it is closed."""
    found = calendar.session(day)
    if found is None:
        return np.empty(0, dtype=np.int64)
    times = np.arange(
        int(found.open_at.timestamp()), int(found.close_at.timestamp()), BAR_SECONDS, dtype=np.int64
    )
    if found.break_start_at is not None and found.break_end_at is not None:
        halted = (times >= found.break_start_at.timestamp()) & (
            times < found.break_end_at.timestamp()
        )
        times = times[~halted]
    return times


def second_path(bar: Bar, rng: np.random.Generator) -> list[int]:
    """60 prices (ticks), one per second of `bar`: open first, close last, the low and the high
    visited in `intrabar_path` order, every price inside [low, high]."""
    _, o, h, low, c, _ = bar
    waypoints = fills.intrabar_path(o, h, low, c)
    first = int(rng.integers(1, BAR_SECONDS - 2))
    second = int(rng.integers(first + 1, BAR_SECONDS - 1))
    at = (0, first, second, BAR_SECONDS - 1)
    noise = max(0.5, (h - low) / 6)
    path = np.empty(BAR_SECONDS)
    for k in range(3):
        (i0, i1), (p0, p1) = at[k : k + 2], waypoints[k : k + 2]
        n = i1 - i0
        walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, noise, n))))
        share = np.arange(n + 1) / n
        path[i0 : i1 + 1] = p0 + (p1 - p0) * share + walk - share * walk[-1]  # a bridge
    prices = np.clip(np.rint(path), low, h).astype(np.int64)
    prices[list(at)] = waypoints
    return prices.tolist()


def split_volume(volume: int, parts: int) -> list[int]:
    """`volume` over `parts` prints, as evenly as whole contracts allow (earlier ones larger)."""
    base, rest = divmod(volume, parts)
    return [base + 1] * rest + [base] * (parts - rest)


class SessionWalkSeries(Series):
    """The walk of one product from the Globex open at `origin`, generated a session at a time."""

    always_open = False
    point_offsets = SECONDS

    def __init__(self, spec: ContractSpec, *, seed: int, origin: int) -> None:
        self.spec = spec
        self.origin = origin
        level, self._vol = WALK_PROFILE.get(spec.contract_id, ("1000", 4))
        digest = hashlib.sha256(f"{seed}:sessions:{spec.contract_id}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big")
        self._rng = np.random.default_rng(self._key)
        self._last = int(Decimal(level) / spec.tick_size)
        self._next_day = trading_date(datetime.fromtimestamp(origin, UTC))
        # Bar open times, and o, h, l, c, volume as int32 (prices in ticks are five orders of
        # magnitude below its limit): 28 bytes a bar, not 48. One block per session generated.
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._times = np.empty(0, dtype=np.int64)
        self._values = np.empty((5, 0), dtype=np.int32)
        self._bar_cache: tuple[int, Bar | None] | None = None  # asked 60 times a bar
        self._path_cache: tuple[int, list[Point]] | None = None

    # -- generation -------------------------------------------------------------------------------
    def _ensure(self, t: int) -> None:
        """Generate every session up to the trading date of `t` and a fortnight beyond (so the
        next bar after a weekend or a holiday is known)."""
        until = trading_date(datetime.fromtimestamp(t, UTC)) + _LOOKAHEAD
        if self._next_day > until:
            return
        while self._next_day <= until:
            times = session_minutes(self._next_day)
            times = times[times >= self.origin]
            if len(times):
                self._chunks.append(self._session(times))
            self._next_day += timedelta(days=1)
        if self._chunks:  # one block again: lookups stay a single searchsorted
            self._times = np.concatenate([times for times, _ in self._chunks])
            self._values = np.concatenate([values for _, values in self._chunks], axis=1)
            self._chunks = [(self._times, self._values)]

    def _session(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One session's bars, continuing from the last close; 4 sub-steps a minute."""
        # DST changes happen at weekends, so one UTC offset holds for a whole session.
        offset = datetime.fromtimestamp(int(times[0]), UTC).astimezone(NEW_YORK).utcoffset()
        assert offset is not None
        minute_of_day = ((times + int(offset.total_seconds())) // 60) % 1440
        scale = self._vol / 2.0 * _VOL_BY_MINUTE[minute_of_day]
        steps = np.rint(self._rng.normal(0.0, 1.0, (len(times), 4)) * scale[:, None])
        steps = steps.astype(np.int64)
        opens = self._last + np.concatenate(([0], np.cumsum(steps.sum(axis=1))[:-1]))
        points = opens[:, None] + np.cumsum(steps, axis=1)
        # A walk that wanders to zero would be absurd: floor every price at one tick.
        opens, points = np.maximum(opens, 1), np.maximum(points, 1)
        highs = np.maximum(opens, points.max(axis=1))
        lows = np.minimum(opens, points.min(axis=1))
        closes = points[:, -1]
        # At least one contract per second, so every printed second trades.
        base = self._rng.integers(100, 700, len(times))
        volumes = np.maximum(BAR_SECONDS, np.rint(base * _VOLUME_BY_MINUTE[minute_of_day]))
        self._last = int(closes[-1])
        values = np.stack((opens, highs, lows, closes, volumes)).astype(np.int32)
        return times, values

    def _index(self, t: int) -> int:
        self._ensure(t)
        return int(np.searchsorted(self._times, t))

    # -- the Series interface ---------------------------------------------------------------------
    def bar_at(self, t: int) -> Bar | None:
        if self._bar_cache is not None and self._bar_cache[0] == t:
            return self._bar_cache[1]
        i = self._index(t)
        found = None
        if i < len(self._times) and int(self._times[i]) == t:
            found = (t, *(int(x) for x in self._values[:, i]))
        self._bar_cache = (t, found)  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def next_time(self, t: int) -> int | None:
        i = self._index(t)
        return int(self._times[i]) if i < len(self._times) else None

    def prev_time(self, t: int) -> int | None:
        i = self._index(t)
        return int(self._times[i - 1]) if i > 0 else None

    def columns(self, start: int, end: int) -> Columns:
        self._ensure(max(start, end - 1))
        lo, hi = np.searchsorted(self._times, [start, end])
        values = self._values[:, lo:hi].astype(np.int64)
        return (self._times[lo:hi], *values)  # type: ignore[return-value]

    def first_time(self) -> int:
        first = self.next_time(self.origin)
        assert first is not None, "the calendar always has a next session"
        return first

    def points(self, bar: Bar) -> list[Point]:
        """A price every second; the path of a bar is a pure function of the seed and the bar."""
        if self._path_cache is not None and self._path_cache[0] == bar[0]:
            return self._path_cache[1]
        rng = np.random.default_rng((self._key, bar[0]))
        found = list(zip(second_path(bar, rng), split_volume(bar[5], BAR_SECONDS), strict=True))
        self._path_cache = (bar[0], found)
        return found
