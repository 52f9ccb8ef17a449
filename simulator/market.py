"""The simulator's market: 1-minute bar series per product, contract ids, history aggregation.

Where bars come from
--------------------
* `RandomWalkSeries` - a seeded random walk, one bar every minute forever (`market="continuous"`,
  the test harness's default: it trades at any hour it is started). Same seed -> same bars, so a
  restart replays identically.
* `ReplaySeries(mode="shifted")` - real bars from a CSV gz file (`ts_utc,open,high,low,close,volume`,
  /work/shared/data/README.md) re-stamped one per minute from an origin, gaps squeezed out, so the
  replayed market is open whenever the simulator runs; it wraps around at the end of the file,
  shifting prices so the series stays continuous.
* `ReplaySeries(mode="calendar")` - the original timestamps: weekends, holidays and the daily halt
  are closed, for trading-day tests.
* `SessionWalkSeries` (simulator/session_walk.py) - the demo's market: a seeded random walk on the
  CME calendar, months of history, a price every second.

How a bar is played: `Series.points(bar)` gives its prices and volumes, emitted at
`Series.point_offsets` seconds into the bar: by default the four points of
`markets.fills.intrabar_path` at +0, +15, +30 and +45 s.

All prices are integer ticks of the product (markets/ticks.py). A bar is
`(t, o, h, l, c, v)` with `t` the bar's OPEN in epoch seconds (UTC).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from markets import contracts, fills, sessions
from markets.bars import BarDataError, load_bars_csv
from markets.ticks import CONTRACT_SPECS, ContractSpec
from simulator.records import _point_volumes

__all__ = [
    "BAR_SECONDS",
    "COARSE_OFFSETS",
    "POINT_SECONDS",
    "Bar",
    "DataFileError",
    "RandomWalkSeries",
    "ReplaySeries",
    "Series",
    "aggregate",
    "aggregate_columns",
    "contract_expiry",
    "front_month_id",
    "load_csv_ticks",
    "parse_contract_id",
    "roll_pair",
    "root_from_filename",
    "root_of",
    "session_start",
    "spec_for_root",
    "trading_date",
]

BAR_SECONDS = 60
POINT_SECONDS = 15  # the 4 intrabar path points are emitted at +0 s, +15 s, +30 s, +45 s
COARSE_OFFSETS = tuple(POINT_SECONDS * i for i in range(4))
CHICAGO = ZoneInfo("America/Chicago")

Bar = tuple[int, int, int, int, int, int]  # t_open_epoch_s, o, h, l, c, volume
Point = tuple[int, int]  # price ticks, volume
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class DataFileError(ValueError):
    """A market-data file cannot be used (missing, malformed, prices off the product's tick)."""


def front_month_id(spec: ContractSpec, on: date, *, roll_on: date | None = None) -> str:
    """The front-month contract id of `spec` on trading date `on` (e.g. `CON.F.US.EP.Z25`): the
    platform's roll rule (markets/contracts.py), unless the roll-date switch `roll_on` moves the
    roll of the month expiring next after it: before `roll_on` that month stays the front, from
    `roll_on` on the next one is."""
    front = contracts.front_month_id(spec.contract_id, on)
    if roll_on is None:
        return front
    old, new = roll_pair(spec, roll_on)
    if on < roll_on and front == new:
        return old
    if on >= roll_on and front == old:
        return new
    return front


def roll_pair(spec: ContractSpec, roll_on: date) -> tuple[str, str]:
    """The month that the roll-date switch `roll_on` rolls out of, and the one it rolls into."""
    # the first month expiring on or after `roll_on`, searched from well before it
    old = contracts.front_month_id(spec.contract_id, roll_on - timedelta(days=120))
    while contracts.expiry_date(*contracts.split_contract_id(old)) < roll_on:
        old = contracts.next_contract_id(old)
    return old, contracts.next_contract_id(old)


def contract_expiry(contract_id: str, roll_on: date | None = None) -> date:
    """The last trading date of a month; the switch's old month expires eight days after
    `roll_on`, as CME equity months do after their roll."""
    root, code, year = contracts.split_contract_id(contract_id)
    if roll_on is not None:
        spec = parse_contract_id(contract_id)
        if spec is not None and roll_pair(spec, roll_on)[0] == contract_id.upper():
            return roll_on + timedelta(days=contracts.ROLL_DAYS_BEFORE_EXPIRY)
    return contracts.expiry_date(root, code, year)


def parse_contract_id(contract_id: str) -> ContractSpec | None:
    """The product of a contract id `CON.F.US.<root>.<month><yy>` (any expiry), else None."""
    if not isinstance(contract_id, str):
        return None
    try:
        root, _, _ = contracts.split_contract_id(contract_id)
    except ValueError:
        return None
    return next((spec for spec in CONTRACT_SPECS.values() if spec.contract_id == root), None)


def root_of(contract_id: str) -> str:
    """The product root of a contract id `CON.F.US.<root>.<month><yy>`."""
    return contract_id.split(".")[3]


def spec_for_root(root: str) -> ContractSpec:
    """The product of a root or symbol (`ENQ`, `NQ`); DataFileError names the known ones."""
    for spec in CONTRACT_SPECS.values():
        if root.upper() in (spec.contract_id, spec.symbol):
            return spec
    raise DataFileError(
        f"unknown product {root!r}; known roots: "
        f"{', '.join(s.contract_id for s in CONTRACT_SPECS.values())}"
    )


def trading_date(epoch_s: int) -> date:
    """CME trading date of an instant (18:00 ET / 17:00 CT rollover; markets/sessions.py)."""
    return sessions.trading_date(datetime.fromtimestamp(epoch_s, UTC))


@lru_cache(maxsize=1 << 17)
def _trading_date_of_hour(hour: int) -> date:
    """Trading date of a whole UTC hour: the 18:00 ET rollover always falls on an hour, so
    every instant of the hour shares it. Cached: aggregating years of minutes stays fast."""
    return trading_date(hour * 3600)


@lru_cache(maxsize=1 << 14)
def session_start(day: date) -> int:
    """Epoch seconds of the Globex open (18:00 ET the evening before) of trading date `day`."""
    return int(sessions.globex_session(day)[0].timestamp())


def root_from_filename(path: Path) -> str:
    """`es_1min_....csv.gz` -> `EP`; `nq_...` -> `ENQ`; `mes_...` -> `MES` (symbol before `_`)."""
    symbol = path.name.split("_", 1)[0].upper()
    spec = CONTRACT_SPECS.get(symbol)
    if spec is None:
        raise DataFileError(
            f"cannot tell the product of {path.name}; pass it as ROOT=path (e.g. EP={path})"
        )
    return spec.contract_id


def load_csv_ticks(path: Path, spec: ContractSpec) -> dict[str, np.ndarray]:
    """Read a `ts_utc,open,high,low,close,volume` CSV (gz or plain) into int64 arrays of ticks,
    validated by `markets.bars.load_bars_csv` (the backtester's loader)."""
    if not path.is_file():
        raise DataFileError(f"market-data file not found: {path}")
    try:
        bars = load_bars_csv(path, spec.tick_size)
    except (BarDataError, OSError, ValueError) as exc:
        raise DataFileError(f"{path}: {exc}") from exc
    if len(bars) == 0:
        raise DataFileError(f"{path}: no bars")
    return {
        "t": bars.ts,
        "o": bars.open,
        "h": bars.high,
        "l": bars.low,
        "c": bars.close,
        "v": bars.volume,
    }


class Series:
    """One product's 1-minute bars. Subclasses decide where they come from."""

    spec: ContractSpec
    always_open = True  # False: closed in gaps of an hour or more (nights, weekends, holidays)
    point_offsets: tuple[int, ...] = COARSE_OFFSETS

    def points(self, bar: Bar) -> list[Point]:
        """The prices and volumes the clock prints during `bar`, one per `point_offsets` entry."""
        return self.coarse_points(bar)

    @staticmethod
    def coarse_points(bar: Bar) -> list[Point]:
        """The four points of `markets.fills.intrabar_path`, at `COARSE_OFFSETS`."""
        _, o, h, low, c, v = bar
        return list(zip(fills.intrabar_path(o, h, low, c), _point_volumes(v), strict=True))

    def bar_at(self, t: int) -> Bar | None:
        """The bar opening at epoch second `t`, if any."""
        raise NotImplementedError

    def next_time(self, t: int) -> int | None:
        """The open time of the first bar opening at or after `t`, None when data ends."""
        raise NotImplementedError

    def prev_time(self, t: int) -> int | None:
        """The open time of the last bar opening strictly before `t`."""
        raise NotImplementedError

    def bars(self, start: int, end: int) -> Iterator[Bar]:
        """Bars with open time in [start, end), oldest first."""
        cols = self.columns(start, end)
        yield from zip(*(c.tolist() for c in cols), strict=True)

    def columns(self, start: int, end: int) -> Columns:
        """The same bars as int64 columns (t, o, h, l, c, v): the fast path for history."""
        raise NotImplementedError

    def first_time(self) -> int:
        raise NotImplementedError


class _ContiguousSeries(Series):
    """A bar every minute from `origin`: index i opens at origin + 60 i."""

    origin: int

    def _ensure(self, index: int) -> None:
        raise NotImplementedError

    def _row(self, index: int) -> Bar:
        raise NotImplementedError

    def bar_at(self, t: int) -> Bar | None:
        offset = t - self.origin
        if offset < 0 or offset % BAR_SECONDS:
            return None
        return self._row(offset // BAR_SECONDS)

    def next_time(self, t: int) -> int | None:
        if t <= self.origin:
            return self.origin
        return self.origin + -(-(t - self.origin) // BAR_SECONDS) * BAR_SECONDS

    def prev_time(self, t: int) -> int | None:
        if t <= self.origin:
            return None
        return self.origin + ((t - self.origin - 1) // BAR_SECONDS) * BAR_SECONDS

    def first_time(self) -> int:
        return self.origin


# Typical price level (points) and 1-minute volatility (ticks) of each product, for both walks
# (this continuous one and simulator/session_walk.py).
WALK_PROFILE: dict[str, tuple[str, int]] = {
    "EP": ("5000", 4),
    "MES": ("5000", 4),
    "ENQ": ("18000", 12),
    "MNQ": ("18000", 12),
    "RTY": ("2000", 5),
    "YM": ("40000", 8),
    "CLE": ("70", 5),
    "GCE": ("2000", 4),
}
_WALK_CHUNK = 1440  # generate a day at a time; fixed size keeps the walk a pure function of seed


class RandomWalkSeries(_ContiguousSeries):
    """A seeded random walk in whole ticks: 4 sub-steps per minute, volume 20..599."""

    def __init__(self, spec: ContractSpec, *, seed: int, origin: int) -> None:
        self.spec = spec
        self.origin = origin
        level, self._vol = WALK_PROFILE.get(spec.contract_id, ("1000", 4))
        digest = hashlib.sha256(f"{seed}:{spec.contract_id}".encode()).digest()
        self._rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        self._last = int(Decimal(level) / spec.tick_size)
        self._cols: dict[str, list[int]] = {k: [] for k in "ohlcv"}

    def _ensure(self, index: int) -> None:
        while len(self._cols["o"]) <= index:
            steps = self._rng.normal(0.0, self._vol / 2.0, size=(_WALK_CHUNK, 4))
            steps = np.rint(steps).astype(np.int64)
            volume = self._rng.integers(20, 600, size=_WALK_CHUNK)
            totals = steps.sum(axis=1)
            opens = self._last + np.concatenate(([0], np.cumsum(totals)[:-1]))
            points = opens[:, None] + np.cumsum(steps, axis=1)
            # A walk that wanders to zero would be absurd: floor every price at one tick.
            opens, points = np.maximum(opens, 1), np.maximum(points, 1)
            highs = np.maximum(opens, points.max(axis=1))
            lows = np.minimum(opens, points.min(axis=1))
            closes = points[:, -1]
            for key, column in zip("ohlcv", (opens, highs, lows, closes, volume), strict=True):
                self._cols[key].extend(column.tolist())
            self._last = int(closes[-1])

    def columns(self, start: int, end: int) -> Columns:
        first = max(0, -(-(start - self.origin) // BAR_SECONDS))
        last = max(first, -(-(end - self.origin) // BAR_SECONDS))
        if last > first:
            self._ensure(last - 1)
        times = self.origin + np.arange(first, last, dtype=np.int64) * BAR_SECONDS
        data = [np.array(self._cols[k][first:last], dtype=np.int64) for k in "ohlcv"]
        return (times, *data)  # type: ignore[return-value]

    def _row(self, index: int) -> Bar:
        self._ensure(index)
        cols = self._cols
        t = self.origin + index * BAR_SECONDS
        return (
            t,
            cols["o"][index],
            cols["h"][index],
            cols["l"][index],
            cols["c"][index],
            cols["v"][index],
        )


class ReplaySeries(Series):
    """Bars from a file, either re-stamped one per minute (`shifted`) or on the calendar."""

    def __init__(
        self,
        spec: ContractSpec,
        arrays: dict[str, np.ndarray],
        *,
        mode: str,
        origin: int = 0,
        skip: int = 0,
    ) -> None:
        if mode not in ("shifted", "calendar"):
            raise ValueError(f"replay mode must be 'shifted' or 'calendar', got {mode!r}")
        self.spec = spec
        self.mode = mode
        self._a = arrays
        self._n = len(arrays["t"])
        self._times = arrays["t"]  # int64, strictly increasing (checked by the loader)
        self.origin = origin
        self._skip = skip % self._n
        self.always_open = mode == "shifted"
        # Each wrap of a shifted replay continues from the previous close: the price drift of
        # one pass through the file, applied once per wrap.
        self._wrap_shift = int(arrays["c"][-1] - arrays["o"][0])

    def _file_row(self, i: int, t: int, shift: int) -> Bar:
        a = self._a
        return (
            t,
            int(a["o"][i]) + shift,
            int(a["h"][i]) + shift,
            int(a["l"][i]) + shift,
            int(a["c"][i]) + shift,
            int(a["v"][i]),
        )

    # -- shifted ------------------------------------------------------------------------------
    def _shifted_row(self, index: int) -> Bar:
        pos = self._skip + index
        wraps, i = divmod(pos, self._n)
        return self._file_row(i, self.origin + index * BAR_SECONDS, wraps * self._wrap_shift)

    # -- interface ----------------------------------------------------------------------------
    def bar_at(self, t: int) -> Bar | None:
        if self.mode == "shifted":
            offset = t - self.origin
            if offset < 0 or offset % BAR_SECONDS:
                return None
            return self._shifted_row(offset // BAR_SECONDS)
        i = int(np.searchsorted(self._times, t))
        if i < self._n and int(self._times[i]) == t:
            return self._file_row(i, t, 0)
        return None

    def next_time(self, t: int) -> int | None:
        if self.mode == "shifted":
            if t <= self.origin:
                return self.origin
            return self.origin + -(-(t - self.origin) // BAR_SECONDS) * BAR_SECONDS
        i = int(np.searchsorted(self._times, t))
        return int(self._times[i]) if i < self._n else None

    def prev_time(self, t: int) -> int | None:
        if self.mode == "shifted":
            if t <= self.origin:
                return None
            return self.origin + ((t - self.origin - 1) // BAR_SECONDS) * BAR_SECONDS
        i = int(np.searchsorted(self._times, t))
        return int(self._times[i - 1]) if i > 0 else None

    def columns(self, start: int, end: int) -> Columns:
        """Vectorised: a day of bars is one numpy gather, not thousands of scalar reads."""
        a = self._a
        if self.mode == "shifted":
            first = max(0, -(-(start - self.origin) // BAR_SECONDS))
            last = max(first, -(-(end - self.origin) // BAR_SECONDS))
            index = np.arange(first, last, dtype=np.int64)
            wraps, rows = np.divmod(self._skip + index, self._n)
            shift = wraps * self._wrap_shift
            prices = [a[k][rows] + shift for k in "ohlc"]
            return (self.origin + index * BAR_SECONDS, *prices, a["v"][rows])  # type: ignore[return-value]
        lo, hi = np.searchsorted(self._times, [start, end])
        return (self._times[lo:hi], *(a[k][lo:hi] for k in "ohlcv"))  # type: ignore[return-value]

    def first_time(self) -> int:
        return self.origin if self.mode == "shifted" else int(self._times[0])


@dataclass(frozen=True, slots=True)
class Unit:
    """A History/retrieveBars unit: 1 Second .. 6 Month, 7 Tick."""

    code: int
    number: int


def _bucket_key(unit: Unit, t: int) -> int:
    """The epoch second at which the bar containing instant `t` opens."""
    n = unit.number
    if unit.code == 1:
        return t - t % n
    if unit.code == 2:
        return t - t % (60 * n)
    if unit.code == 3:
        return t - t % (3600 * n)
    day = _trading_date_of_hour(t // 3600)
    if unit.code == 4:
        ordinal = day.toordinal()
        return session_start(date.fromordinal(ordinal - (ordinal - 1) % n))
    if unit.code == 5:
        monday = day - timedelta(days=day.weekday())
        weeks = monday.toordinal() // 7
        return session_start(date.fromordinal((weeks - weeks % n) * 7 + 1))
    month_index = day.year * 12 + day.month - 1
    month_index -= month_index % n
    return session_start(date(month_index // 12, month_index % 12 + 1, 1))


def aggregate(trades: Iterable[tuple[int, int, int, int, int, int]], unit: Unit) -> list[list[int]]:
    """Fold bars (or single trades as degenerate bars) into `unit` bars, oldest first.

    Input rows are `(t, o, h, l, c, v)` in time order; output rows `[t, o, h, l, c, v]`.
    Tick bars (unit 7) group every `unit.number` input rows.
    """
    out: list[list[int]] = []
    current: list[int] | None = None
    key = None
    for count, (t, o, h, low, c, v) in enumerate(trades):
        new_key = count // unit.number if unit.code == 7 else _bucket_key(unit, t)
        if current is None or new_key != key:
            key = new_key
            current = [t if unit.code == 7 else new_key, o, h, low, c, v]
            out.append(current)
            continue
        if h > current[2]:
            current[2] = h
        if low < current[3]:
            current[3] = low
        current[4] = c
        current[5] += v
    return out


def aggregate_columns(cols: Columns, unit: Unit) -> list[list[int]]:
    """`aggregate` for minute/hour/day/week/month units, vectorised with numpy.

    Bucket keys of calendar units are computed once per UTC hour present (the trading-date
    rollover falls on a whole hour), then bars are folded with `reduceat`.
    """
    t, o, h, low, c, v = cols
    if len(t) == 0:
        return []
    if unit.code in (1, 2, 3):
        width = {1: 1, 2: 60, 3: 3600}[unit.code] * unit.number
        keys = t - t % width
    else:
        hours, inverse = np.unique(t // 3600, return_inverse=True)
        hour_keys = np.array([_bucket_key(unit, int(hr) * 3600) for hr in hours], dtype=np.int64)
        keys = hour_keys[inverse]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.concatenate((starts[1:], [len(t)])) - 1
    columns = (
        keys[starts],
        o[starts],
        np.maximum.reduceat(h, starts),
        np.minimum.reduceat(low, starts),
        c[ends],
        np.add.reduceat(v, starts),
    )
    return [list(row) for row in zip(*(col.tolist() for col in columns), strict=True)]


def bucket_end(unit: Unit, start: int) -> int:
    """When the bar opening at `start` is complete (tick bars: never by time)."""
    if unit.code == 1:
        return start + unit.number
    if unit.code == 2:
        return start + 60 * unit.number
    if unit.code == 3:
        return start + 3600 * unit.number
    if unit.code == 7:
        return start
    later = {4: timedelta(days=unit.number), 5: timedelta(weeks=unit.number)}.get(unit.code)
    day = trading_date(start + 7 * 3600)
    if later is not None:
        return session_start(day + later)
    month_index = day.year * 12 + day.month - 1 + unit.number
    return session_start(date(month_index // 12, month_index % 12 + 1, 1))
