"""The market-data cache: bars from the gateway kept in PostgreSQL, with a Redis hot layer per day.

A read of [start, end) is served per UTC day:
1. the Redis hot layer holds a day's bars packed as int64 arrays (one GET, no parsing);
2. otherwise PostgreSQL, after fetching from the gateway only the spans that BarCoverage does not
   already cover (a minute without trades has no bar, so coverage, not the bars, records what is known);
3. the live edge is never marked covered: the still-forming bar is fetched again next time.

Every row and hot key carries the source (execution/sources.py): the live gateway and each simulator
keep their own bars, since the simulator uses TopStepX's contract ids and its prices must never reach
a live account's strategies, marks or charts.

Prices are kept exact as integers of 10^-9 (the gateway's 9 decimals). Hits, misses and broker calls per
broker login per day are counted in Redis for the health page and the benchmark.

Redis is only the hot layer: while it is unreachable reads are served from PostgreSQL (and the
counters skip), so a strategy never stops for it; the first read after it is back fills it again.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import redis
from django.conf import settings
from django.db import transaction

from execution.gateway.types import BarUnit
from execution.models import BarCoverage, CachedBar

NANOS = 10**9
UNIT_SECONDS = {BarUnit.SECOND: 1, BarUnit.MINUTE: 60, BarUnit.HOUR: 3600, BarUnit.DAY: 86400}
HOT_TTL_SECONDS = 3 * 86400
_FIELDS = ("opened_at", "open", "high", "low", "close", "volume")
logger = logging.getLogger(__name__)


class UnsupportedBarUnit(ValueError):
    """Weeks and months have no fixed length; ask for days and aggregate."""


@dataclass(frozen=True)
class BarSeries:
    """Bars in ascending open time, as numpy int64 columns; prices in units of 10^-9."""

    opened_at: np.ndarray  # epoch seconds, UTC, bar open
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.opened_at)

    @classmethod
    def empty(cls) -> BarSeries:
        return cls(*(np.empty(0, dtype=np.int64) for _ in _FIELDS))

    @classmethod
    def concat(cls, parts: list[BarSeries]) -> BarSeries:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def between(self, start_s: int, end_s: int) -> BarSeries:
        lo, hi = np.searchsorted(self.opened_at, [start_s, end_s])
        return BarSeries(*(getattr(self, f)[lo:hi] for f in _FIELDS))

    def prices(self, field: str) -> list[Decimal]:
        return [Decimal(int(v)) / NANOS for v in getattr(self, field)]

    def ticks(self, field: str, tick_size: Decimal) -> np.ndarray:
        step = int(tick_size * NANOS)
        return getattr(self, field) // step

    def pack(self) -> bytes:
        header = struct.pack("<I", len(self))
        return header + b"".join(getattr(self, f).astype("<i8").tobytes() for f in _FIELDS)

    @classmethod
    def unpack(cls, blob: bytes) -> BarSeries:
        (count,) = struct.unpack_from("<I", blob)
        columns = np.frombuffer(blob, dtype="<i8", offset=4, count=count * len(_FIELDS))
        return cls(*columns.reshape(len(_FIELDS), count))


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    broker_calls: int = 0


class BarCache:
    """Read-through cache in front of `fetch(contract_id, start, end, unit, unit_number) -> bars`, for
    one source: `fetch` must be a login of that source (the callers build both from one connection)."""

    def __init__(
        self,
        *,
        fetch: Callable[..., Iterable],
        source: str,
        scope: str,
        redis_client: redis.Redis | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        key_prefix: str | None = None,
    ) -> None:
        if not source:
            raise ValueError("a bar cache reads one named source")
        self._fetch = fetch
        self._source = source
        self._scope = scope
        self._redis = redis_client or redis.Redis.from_url(settings.REDIS_URL)
        self._clock = clock
        self._prefix = key_prefix or settings.MARKETDATA_CACHE_PREFIX

    def read(
        self,
        *,
        contract_id: str,
        unit: BarUnit,
        unit_number: int,
        start: datetime,
        end: datetime,
        max_staleness: timedelta = timedelta(0),
    ) -> BarSeries:
        """Bars opened in [start, end). `max_staleness` lets a display read skip fetching the newest
        bars while what is known reaches within that much of the live edge; strategy reads keep 0."""
        if unit not in UNIT_SECONDS:
            raise UnsupportedBarUnit(f"bar unit {unit!r} is not cached; use seconds to days")
        if start.tzinfo is None or end.tzinfo is None or start >= end:
            raise ValueError("start and end must be aware datetimes with start < end")
        days = _utc_days(start, end)
        if len(days) > 1:
            # One fetch per missing span, not per day: a strategy's warm-up reads ~100 days, and
            # day by day that is twice the broker's bars budget for 30 s (the client pages).
            first = datetime.combine(days[0], time(), tzinfo=UTC)
            last = datetime.combine(days[-1], time(), tzinfo=UTC) + timedelta(days=1)
            until = min(last, self._live_edge(unit, unit_number))
            self._fill_gaps(contract_id, unit, unit_number, first, until, max_staleness)
        parts = [self._read_day(contract_id, unit, unit_number, day, max_staleness) for day in days]
        return BarSeries.concat(parts).between(int(start.timestamp()), int(end.timestamp()))

    def stats(self, day: date | None = None) -> CacheStats:
        values = self._redis.hmget(self._stats_key(day), "hits", "misses", "broker_calls")
        return CacheStats(*(int(v or 0) for v in values))

    # ---------------------------------------------------------------------------------------
    def _read_day(
        self, contract_id: str, unit: BarUnit, unit_number: int, day: date, max_staleness: timedelta
    ) -> BarSeries:
        key = (
            f"{self._prefix}:bars:{self._source}:{contract_id}:{int(unit)}:{unit_number}:"
            f"{day.isoformat()}"
        )
        blob = self._hot(self._redis.get, key)
        if blob is not None:
            self._count("hits")
            return BarSeries.unpack(blob)
        day_start = datetime.combine(day, time(), tzinfo=UTC)
        day_end = day_start + timedelta(days=1)
        known_until = min(day_end, self._live_edge(unit, unit_number))
        calls = self._fill_gaps(
            contract_id, unit, unit_number, day_start, known_until, max_staleness
        )
        self._count("hits" if calls == 0 else "misses")
        series = _series_from_db(self._source, contract_id, unit, unit_number, day_start, day_end)
        if known_until == day_end:  # a complete day never changes: keep it hot
            self._hot(self._redis.set, key, series.pack(), ex=HOT_TTL_SECONDS)
        return series

    def _hot(self, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A hot-layer command, or None while Redis is unreachable (PostgreSQL has every bar)."""
        try:
            return command(*args, **kwargs)
        except redis.RedisError as exc:
            logger.warning("market-data hot layer unreachable (%s); reading PostgreSQL", exc)
            return None

    def _live_edge(self, unit: BarUnit, unit_number: int) -> datetime:
        """The open time of the still-forming bar: everything before it is final."""
        step = UNIT_SECONDS[unit] * unit_number
        now = int(self._clock().timestamp())
        return datetime.fromtimestamp(now - now % step, tz=UTC)

    def _fill_gaps(
        self,
        contract_id: str,
        unit: BarUnit,
        unit_number: int,
        start: datetime,
        end: datetime,
        max_staleness: timedelta,
    ) -> int:
        if start >= end:
            return 0
        covered = _coverage(self._source, contract_id, unit, unit_number, start, end)
        gaps = _gaps(covered, start, end)
        if gaps and gaps[-1][1] == end and end - gaps[-1][0] <= max_staleness:
            gaps.pop()  # only the newest bars are missing, and the caller accepts that
        for gap_start, gap_end in gaps:
            bars = self._fetch(
                contract_id, start=gap_start, end=gap_end, unit=unit, unit_number=unit_number
            )
            self._count("broker_calls")
            _store(self._source, contract_id, unit, unit_number, bars, gap_start, gap_end)
        return len(gaps)

    def _stats_key(self, day: date | None) -> str:
        day = day or self._clock().date()
        return f"{self._prefix}:stats:{self._scope}:{day.isoformat()}"

    def _count(self, field: str) -> None:
        key = self._stats_key(None)
        pipe = self._redis.pipeline()
        pipe.hincrby(key, field, 1)
        pipe.expire(key, 40 * 86400)
        self._hot(pipe.execute)


def _utc_days(start: datetime, end: datetime) -> list[date]:
    first, last = (
        start.astimezone(UTC).date(),
        (end.astimezone(UTC) - timedelta(microseconds=1)).date(),
    )
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _series_rows(model, source: str, contract_id: str, unit: int, unit_number: int):
    """Rows of one bar series (CachedBar or BarCoverage): source, contract, unit and unit count."""
    return model.objects.filter(
        source=source, contract_id=contract_id, unit=unit, unit_number=unit_number
    )


def _coverage(
    source: str, contract_id: str, unit: int, unit_number: int, start: datetime, end: datetime
):
    return list(
        _series_rows(BarCoverage, source, contract_id, unit, unit_number)
        .filter(start_at__lt=end, end_at__gt=start)
        .order_by("start_at")
        .values_list("start_at", "end_at")
    )


def _gaps(covered: list[tuple[datetime, datetime]], start: datetime, end: datetime):
    gaps, cursor = [], start
    for span_start, span_end in covered:
        if span_start > cursor:
            gaps.append((cursor, min(span_start, end)))
        cursor = max(cursor, span_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


@transaction.atomic
def _store(
    source: str,
    contract_id: str,
    unit: int,
    unit_number: int,
    bars: Iterable,
    start: datetime,
    end: datetime,
) -> None:
    """Bars fetched for [start, end), and the span recorded as known."""
    fetched = [bar for bar in bars if start <= bar.opened_at < end]
    _upsert(source, contract_id, unit, unit_number, fetched)
    _cover(source, contract_id, unit, unit_number, start, end)


def _upsert(source: str, contract_id: str, unit: int, unit_number: int, bars: Iterable) -> None:
    rows = [
        CachedBar(
            source=source,
            contract_id=contract_id,
            unit=unit,
            unit_number=unit_number,
            started_at=bar.opened_at,
            open_price=bar.open_price,
            high_price=bar.high_price,
            low_price=bar.low_price,
            close_price=bar.close_price,
            volume=bar.volume,
        )
        for bar in bars
    ]
    CachedBar.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["source", "contract_id", "unit", "unit_number", "started_at"],
        update_fields=["open_price", "high_price", "low_price", "close_price", "volume"],
    )


def _cover(
    source: str, contract_id: str, unit: int, unit_number: int, start: datetime, end: datetime
) -> None:
    """Record [start, end) as covered, merged with any span it touches."""
    touching = (
        _series_rows(BarCoverage, source, contract_id, unit, unit_number)
        .select_for_update()
        .filter(start_at__lte=end, end_at__gte=start)
    )
    spans = list(touching.values_list("start_at", "end_at"))
    merged_start = min([start, *(s for s, _ in spans)])
    merged_end = max([end, *(e for _, e in spans)])
    touching.delete()
    BarCoverage.objects.create(
        source=source,
        contract_id=contract_id,
        unit=unit,
        unit_number=unit_number,
        start_at=merged_start,
        end_at=merged_end,
    )


def _series_from_db(
    source: str, contract_id: str, unit: int, unit_number: int, start: datetime, end: datetime
) -> BarSeries:
    rows = list(
        _series_rows(CachedBar, source, contract_id, unit, unit_number)
        .filter(started_at__gte=start, started_at__lt=end)
        .order_by("started_at")
        .values_list("started_at", "open_price", "high_price", "low_price", "close_price", "volume")
    )
    if not rows:
        return BarSeries.empty()
    opened = np.fromiter((int(r[0].timestamp()) for r in rows), dtype=np.int64, count=len(rows))
    columns = [
        np.fromiter((int(r[i] * NANOS) for r in rows), dtype=np.int64, count=len(rows))
        for i in range(1, 5)
    ]
    volume = np.fromiter((r[5] for r in rows), dtype=np.int64, count=len(rows))
    return BarSeries(opened, *columns, volume)


# --- Live bars from the market hub ----------------------------------------------------------------


@dataclass
class LiveBar:
    contract_id: str
    opened_at: datetime
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    close_price: Decimal
    volume: int


class LiveBarBuilder:
    """1-minute bars from the market hub's trade prints, so the cache's newest minutes need no REST
    call. A bar is complete when a print of a later minute arrives, or `grace` after its minute ended
    (late prints of a closed minute are dropped and counted: the REST gap-fill repairs it)."""

    def __init__(self, *, grace: timedelta = timedelta(seconds=3)) -> None:
        self._open: dict[str, LiveBar] = {}
        self.grace = grace
        self.late_prints = 0

    def add(self, contract_id: str, at: datetime, price: Decimal, volume: int) -> list[LiveBar]:
        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        bar = self._open.get(contract_id)
        if bar is not None and minute < bar.opened_at:
            self.late_prints += 1
            return []
        done = []
        if bar is not None and minute > bar.opened_at:
            done.append(self._open.pop(contract_id))
            bar = None
        if bar is None:
            self._open[contract_id] = LiveBar(
                contract_id, minute, price, price, price, price, volume
            )
        else:
            bar.high_price, bar.low_price = max(bar.high_price, price), min(bar.low_price, price)
            bar.close_price, bar.volume = price, bar.volume + volume
        return done

    def flush(self, now: datetime) -> list[LiveBar]:
        """Bars whose minute ended more than `grace` ago."""
        due = [
            c
            for c, bar in self._open.items()
            if bar.opened_at + timedelta(minutes=1) + self.grace <= now
        ]
        return [self._open.pop(c) for c in due]


def bars_append_live(*, source: str, bars: list[LiveBar]) -> int:
    """Store completed live bars of one source (the market hub of a login of that source); extend
    coverage only where it continues a covered span, so a minute the hub missed (or one without
    trades) is never claimed as known. Returns bars stored."""
    stored = 0
    for bar in sorted(bars, key=lambda b: (b.contract_id, b.opened_at)):
        with transaction.atomic():
            _upsert(source, bar.contract_id, BarUnit.MINUTE, 1, [bar])
            end = bar.opened_at + timedelta(minutes=1)
            continues = (
                _series_rows(BarCoverage, source, bar.contract_id, BarUnit.MINUTE, 1)
                .filter(start_at__lte=bar.opened_at, end_at__gte=bar.opened_at)
                .exists()
            )
            if continues:
                _cover(source, bar.contract_id, BarUnit.MINUTE, 1, bar.opened_at, end)
        stored += 1
    return stored


def bars_uncover_since(*, source: str, contract_id: str, since: datetime) -> int:
    """Forget that the source's 1-minute bars of the contract from `since` on are known: built from
    a market hub that froze, they may be partial, so the next read fetches them from REST again.
    Returns the coverage spans changed."""
    rows = _series_rows(BarCoverage, source, contract_id, BarUnit.MINUTE, 1).filter(
        end_at__gt=since
    )
    with transaction.atomic():
        dropped, _ = rows.filter(start_at__gte=since).delete()
        trimmed = rows.filter(start_at__lt=since).update(end_at=since)
    return dropped + trimmed
