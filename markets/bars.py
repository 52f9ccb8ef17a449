"""One-minute bars: fast, validated loading into numpy arrays, session labelling and slicing.

Prices become integer ticks at the door: `load_bars_csv` converts each price to a whole number of
ticks (tick size default 0.25) and refuses any that is not, naming the line. Timestamps become
int64 epoch seconds UTC of the bar's OPEN (the data files stamp bars by their open).

File format (see /work/shared/data/README.md): gzip or plain CSV with the header
`ts_utc,open,high,low,close,volume`, `ts_utc` as `YYYY-MM-DDTHH:MM:SSZ`, strictly increasing.
Every row is checked: timestamp form and order, finite tick-aligned prices, low <= open/close <=
high, whole non-negative volume. The first bad row is reported as `line N` (the header is line 1).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np

from markets.fills import check_bar

__all__ = [
    "HEADER",
    "Bar",
    "BarArrays",
    "BarDataError",
    "load_bars_csv",
    "session_dates",
    "session_slices",
]

HEADER = ("ts_utc", "open", "high", "low", "close", "volume")
_TS_WIDTH = 20  # len("2023-03-24T20:59:00Z")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SEPARATORS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 19: b"Z"}
_TICK_TOLERANCE = 1e-6  # in ticks: prices arrive as decimal text parsed to float64
_BLOCK_BYTES = 1 << 20  # CSV text parsed per block (about 23,000 rows of the ES file)
_COLUMNS = ("ts", *HEADER[1:])  # BarArrays' fields, in order
_SESSION_SHIFT_S = 6 * 3600  # 18:00 ET + 6 h = midnight of the trading date


class BarDataError(ValueError):
    """A bar file or array that breaks the format or the bar invariants; the message says where."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar for the live path: `ts` is the bar's open, epoch seconds UTC; prices in ticks."""

    ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int

    def __post_init__(self) -> None:
        check_bar(self.open, self.high, self.low, self.close)
        if self.volume < 0:
            raise BarDataError(f"bar at {self.ts}: volume {self.volume} is negative")

    @property
    def start_at(self) -> datetime:
        return datetime.fromtimestamp(self.ts, tz=UTC)


@dataclass(frozen=True, slots=True, eq=False)
class BarArrays:
    """Columns of bars as read-only numpy int64 arrays of equal length, sorted by `ts`."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    tick_size: Decimal = Decimal("0.25")

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in HEADER[1:]:
            column = getattr(self, name)
            if len(column) != n:
                raise BarDataError(f"column {name} has {len(column)} rows, ts has {n}")
        for name in ("ts", *HEADER[1:]):
            column = getattr(self, name)
            if column.dtype != np.int64:
                raise BarDataError(f"column {name} must be int64, got {column.dtype}")
            column.flags.writeable = False  # shared between runs: nobody edits history

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, index: slice) -> BarArrays:
        if not isinstance(index, slice):
            raise TypeError("index BarArrays with a slice; use .bar(i) for one bar")
        return BarArrays(
            self.ts[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.tick_size,
        )

    def bar(self, i: int) -> Bar:
        return Bar(
            int(self.ts[i]),
            int(self.open[i]),
            int(self.high[i]),
            int(self.low[i]),
            int(self.close[i]),
            int(self.volume[i]),
        )

    def between(self, start_ts: int, end_ts: int) -> BarArrays:
        """Bars whose open is in [start_ts, end_ts) (epoch seconds)."""
        lo, hi = np.searchsorted(self.ts, [start_ts, end_ts], side="left")
        return self[int(lo) : int(hi)]

    def sessions(self) -> Iterator[tuple[date, BarArrays]]:
        """(trading date, that session's bars) in order."""
        for day, part in session_slices(session_dates(self.ts)):
            yield day, self[part]


def session_dates(ts: np.ndarray) -> np.ndarray:
    """The trading date (datetime64[D]) of each bar open `ts` (epoch seconds UTC), vectorised.

    Same rule as markets.sessions.trading_date: (time in New York + 6 h).date(); DST-aware.
    """
    import pandas as pd  # the vectorised tz database conversion

    seconds = np.asarray(ts, dtype=np.int64)
    wall = (
        pd.DatetimeIndex(seconds.astype("datetime64[s]"), tz="UTC")
        .tz_convert("America/New_York")
        .tz_localize(None)
        .as_unit("s")
        .asi8
    )
    return ((wall + _SESSION_SHIFT_S) // 86_400).astype("datetime64[D]")


def session_slices(dates: np.ndarray) -> list[tuple[date, slice]]:
    """[(trading date, slice of its bars)] for a sorted array of per-bar trading dates."""
    if len(dates) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
    ends = np.r_[starts[1:], len(dates)]
    return [
        (dates[s].astype(object), slice(int(s), int(e)))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


# --- loading -----------------------------------------------------------------------------------


def _open_text(path: Path) -> TextIO:
    return gzip.open(path, "rt") if path.suffix == ".gz" else path.open()


def _check_header(path: Path) -> None:
    with _open_text(path) as handle:
        first = handle.readline().strip()
    found = tuple(part.strip() for part in first.split(","))
    if found != HEADER:
        raise BarDataError(f"{path}: line 1: header is {first!r}, expected {','.join(HEADER)!r}")


def _fail(
    path: Path,
    mask: np.ndarray,
    what: str,
    values: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> None:
    """Raise naming the first row where `mask` is True (`values` shown; a callable is called only
    then)."""
    bad = np.flatnonzero(mask)
    if len(bad):
        i = int(bad[0])
        values = values() if callable(values) else values
        shown = "" if values is None else f" ({values[i]!r})"
        more = f"; {len(bad) - 1} more row(s)" if len(bad) > 1 else ""
        raise BarDataError(f"{path}: line {i + 2}: {what}{shown}{more}")


def _parse_ts(path: Path, raw: np.ndarray) -> np.ndarray:
    """Epoch seconds from `YYYY-MM-DDTHH:MM:SSZ` strings, checked character by character.

    One byte wider than the form, so a longer string shows a non-empty last byte.
    """
    width = _TS_WIDTH + 1
    chars = np.asarray(raw, dtype=f"S{width}").view("S1").reshape(-1, width)
    malformed = chars[:, _TS_WIDTH] != b""
    for position, separator in _SEPARATORS.items():
        malformed |= chars[:, position] != separator
    _fail(path, malformed, "ts_utc must look like 2023-03-24T20:59:00Z", raw)
    body = np.ascontiguousarray(chars[:, : _TS_WIDTH - 1]).view(f"S{_TS_WIDTH - 1}").ravel()
    try:
        return body.astype("datetime64[s]").astype(np.int64)
    except ValueError:
        pass
    for i, text in enumerate(body):  # error path only: find the row numpy refused
        try:
            np.datetime64(text.decode(), "s")
        except ValueError:
            raise BarDataError(
                f"{path}: line {i + 2}: ts_utc is not a real time ({raw[i]!r})"
            ) from None
    raise BarDataError(
        f"{path}: unparseable ts_utc"
    )  # pragma: no cover (numpy disagreed with itself)


def _to_ticks(path: Path, name: str, prices: np.ndarray, tick: float) -> np.ndarray:
    _fail(path, ~np.isfinite(prices), f"{name} is missing or not a number", prices)
    scaled = prices / tick
    ticks = np.rint(scaled)
    _fail(
        path,
        np.abs(scaled - ticks) > _TICK_TOLERANCE,
        f"{name} is not a multiple of the tick size {tick}",
        prices,
    )
    return ticks.astype(np.int64)


def load_bars_csv(
    path: str | Path, tick_size: Decimal = Decimal("0.25"), *, cache: bool = False
) -> BarArrays:
    """Read and validate a 1-minute bar file (CSV, gzip CSV, or Parquet with the same columns) into
    int64 tick arrays.

    `cache=True` keeps the last few loads in memory, keyed by the file's path, size and
    modification time, so a parameter sweep in one process parses the file once (the arrays are
    read-only, so sharing them is safe). Nothing is ever written to disk.
    """
    path = Path(path)
    if not isinstance(tick_size, Decimal) or tick_size <= 0:
        raise ValueError(f"tick size must be a positive Decimal, got {tick_size!r}")
    if not path.exists():
        raise FileNotFoundError(f"bar file {path} does not exist")
    if not cache:
        return _load(path, tick_size)
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns, tick_size)


@lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int, tick_size: Decimal) -> BarArrays:
    del size, mtime_ns  # cache key only: a changed file is a different entry
    return _load(Path(path), tick_size)


def _load(path: Path, tick_size: Decimal) -> BarArrays:
    import pandas as pd  # Parquet; imported here so the live path never pays for it

    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path, columns=list(HEADER))
        except (ValueError, KeyError, OSError) as exc:
            raise BarDataError(f"{path}: {exc}") from exc
        stamps = frame["ts_utc"]
        if pd.api.types.is_datetime64_any_dtype(stamps):  # a timestamp column; naive means UTC
            stamps = stamps.dt.tz_convert("UTC") if stamps.dt.tz is not None else stamps
            frame["ts_utc"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return _bars_from_frame(path, frame, tick_size)
    _check_header(path)
    return _load_csv(path, tick_size)


def _load_csv(path: Path, tick_size: Decimal) -> BarArrays:
    """Read in blocks: each block is checked and its ticks copied into columns that double when
    full, so memory stays near the size of the result (#17: 1M bars through a backtest under
    300 MB). A block that fails a check sends the whole file through the checks at once, so the
    error names the file's line and counts every bad row."""
    columns = [np.empty(1 << 16, np.int64) for _ in _COLUMNS]  # room for 65,536 rows to start
    rows = 0
    for batch, ts in _csv_batches(path):
        floats = {name: _floats(batch.column(name)) for name in HEADER[1:]}
        try:  # (no time strings for the message: the whole-file pass below writes it)
            block = _bars_from_columns(path, lambda: None, floats, tick_size, ts)
        except BarDataError:
            block = None
        if block is None or (rows and block.ts[0] <= columns[0][rows - 1]):
            return _load_csv_at_once(path, tick_size)  # raises, naming the line
        end = rows + len(block)
        for i, name in enumerate(_COLUMNS):
            if end > len(columns[i]):  # one column at a time: the old copies go as we grow
                columns[i] = _grown(columns[i], rows, end)
            columns[i][rows:end] = getattr(block, name)
        rows = end
    return BarArrays(*(column[:rows] for column in columns), tick_size)


def _grown(column: np.ndarray, rows: int, needed: int) -> np.ndarray:
    """A column of at least twice the capacity holding the first `rows` values (pages never
    written are never resident, so the spare capacity costs no memory)."""
    bigger = np.empty(max(2 * len(column), needed), np.int64)
    bigger[:rows] = column[:rows]
    return bigger


def _csv_batches(path: Path) -> Iterator[tuple[object, np.ndarray]]:
    """(pyarrow record batch, its times as epoch seconds), times parsed in C++ against the one
    accepted form; when they do not parse, numpy's strict parse of the whole file names the line."""
    import pyarrow as pa

    rows = 0
    try:
        for batch in _csv_record_batches(path):
            ts = _parsed_times(batch.column("ts_utc"))
            if ts is None:
                ts = _parse_ts(path, _raw_times(path))[rows : rows + batch.num_rows]
            rows += batch.num_rows
            yield batch, ts
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise BarDataError(f"{path}: {exc}") from exc


def _load_csv_at_once(path: Path, tick_size: Decimal) -> BarArrays:
    """The whole file's columns through the checks in one go (the error path: memory is no issue)."""
    batches = list(_csv_batches(path))
    ts = np.concatenate([t for _, t in batches]) if batches else np.empty(0, np.int64)
    columns = {
        name: np.concatenate([_floats(b.column(name)) for b, _ in batches])
        if batches
        else np.empty(0)
        for name in HEADER[1:]
    }
    return _bars_from_columns(path, lambda: _raw_times(path), columns, tick_size, ts)


def _csv_record_batches(path: Path) -> Iterator[object]:
    """The file's rows after the header as pyarrow record batches, about `_BLOCK_BYTES` of text
    each. We cut the text ourselves and parse each piece on its own: pyarrow's streaming reader
    reads ahead and kept about 50 MB more resident for the same file."""
    import pyarrow as pa
    import pyarrow.csv as pv

    types = {"ts_utc": pa.string(), **dict.fromkeys(HEADER[1:], pa.float64())}
    read = pv.ReadOptions(column_names=list(HEADER), use_threads=False)
    convert = pv.ConvertOptions(column_types=types)
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        handle.readline()  # the header, checked by _check_header
        rest = b""
        while True:
            chunk = handle.read(_BLOCK_BYTES)
            text = rest + chunk
            if chunk:  # the last, maybe partial, line waits for the next piece
                cut = text.rfind(b"\n") + 1
                text, rest = text[:cut], text[cut:]
            if text.strip():
                yield from pv.read_csv(
                    pa.py_buffer(text), read, convert_options=convert
                ).to_batches()
            if not chunk:
                return


def _floats(column) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _raw_times(path: Path) -> np.ndarray:
    """Every time string of the file (the error path only)."""
    stamps = [b.column("ts_utc").to_numpy(zero_copy_only=False) for b in _csv_record_batches(path)]
    return np.concatenate(stamps).astype(object) if stamps else np.empty(0, dtype=object)


def _parsed_times(stamps) -> np.ndarray | None:
    """Epoch seconds when every stamp has exactly the accepted form, else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if stamps.null_count or not pc.all(pc.equal(pc.utf8_length(stamps), _TS_WIDTH)).as_py():
        return None
    try:
        parsed = pc.strptime(stamps, format=_TS_FORMAT, unit="s")
    except pa.ArrowInvalid:
        return None
    return parsed.cast(pa.int64()).to_numpy() if _fields_as_written(stamps, parsed) else None


def _fields_as_written(stamps, parsed) -> bool:
    """strptime rolls impossible times over (02-30 -> 03-02, 24:00 -> the next day): strict only
    if every field of the parsed time is the one written."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for start, field in ((8, pc.day), (11, pc.hour), (14, pc.minute), (17, pc.second)):
        written = pc.cast(pc.utf8_slice_codeunits(stamps, start, start + 2), pa.int64())
        if not pc.all(pc.equal(written, pc.cast(field(parsed), pa.int64()))).as_py():
            return False
    return True


def _bars_from_frame(path: Path, frame, tick_size: Decimal) -> BarArrays:
    """A pandas frame (Parquet) through the same checks."""
    columns = {name: frame[name].to_numpy(dtype=np.float64) for name in HEADER[1:]}
    raw = lambda: frame["ts_utc"].astype(str).to_numpy(dtype=object)  # noqa: E731
    return _bars_from_columns(path, raw, columns, tick_size, None)


def _bars_from_columns(
    path: Path,
    raw_ts: Callable[[], np.ndarray],
    columns: dict[str, np.ndarray],
    tick_size: Decimal,
    ts: np.ndarray | None,
) -> BarArrays:
    """Validate the columns of a bar file and turn them into tick arrays. `raw_ts` gives the time
    strings (for messages, and to parse them when `ts` is None)."""
    if ts is None:
        ts = _parse_ts(path, raw_ts())
    _fail(path, np.r_[False, np.diff(ts) <= 0], "ts_utc is not after the previous row's", raw_ts)
    tick = float(tick_size)
    o, h, lo, c = (_to_ticks(path, n, columns[n], tick) for n in HEADER[1:5])
    _fail(
        path,
        (lo > np.minimum(o, c)) | (h < np.maximum(o, c)),
        "low/high do not bracket open and close",
    )
    volume = columns["volume"]
    _fail(
        path,
        ~np.isfinite(volume) | (volume < 0) | (volume != np.rint(volume)),
        "volume must be a whole number >= 0",
        volume,
    )
    return BarArrays(ts, o, h, lo, c, volume.astype(np.int64), tick_size)
