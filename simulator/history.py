"""The market the simulator trades: one price series per product (random walk, the demo's
session walk, or replayed files), its contracts (front month, the roll switch, expiry), whether a
market is open, and bar history in any unit, the bar being played included when asked.

A mixin of `simulator.engine.Engine`: the series, origin and quotes live there; the clock
(`now_us`, `cur_t`, `emitted`) is the one `simulator.clock.Clock` moves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from markets.ticks import CONTRACT_SPECS, ContractSpec
from simulator.market import (
    BAR_SECONDS,
    RandomWalkSeries,
    ReplaySeries,
    Series,
    Unit,
    aggregate,
    aggregate_columns,
    bucket_end,
    contract_expiry,
    front_month_id,
    load_csv_ticks,
    parse_contract_id,
    spec_for_root,
)
from simulator.records import US, GatewayError, Quote, SimConfig, _ts
from simulator.session_walk import SessionWalkSeries, history_origin


class MarketHistory:
    """The products, their contracts and their bars up to the clock."""

    config: SimConfig
    series: dict[str, Series]
    origin: int
    now_us: int
    cur_t: int | None
    emitted: int

    @property
    def _market_key(self) -> str | None:
        """What the stored origin was chosen for: a store written for another market (or for a
        shorter history) gets a new origin, so the demo always has its history."""
        return f"sessions:{self.config.history_sessions}" if self._session_market else None

    @property
    def _session_market(self) -> bool:
        """The demo's calendar-true walk (`market="sessions"`); replayed data overrides it."""
        return self.config.market == "sessions" and not self.config.data

    def _build_series(self, clock: dict[str, Any] | None) -> dict[str, Series]:
        cfg = self.config
        if cfg.market not in ("continuous", "sessions"):
            raise ValueError(f"market must be 'continuous' or 'sessions', got {cfg.market!r}")
        if clock and "origin" in clock and clock.get("market") == self._market_key:
            self.origin = clock["origin"]
        elif self._session_market:
            self.origin = history_origin(cfg.start or datetime.now(UTC), cfg.history_sessions)
        else:
            start = cfg.start or datetime.now(UTC)
            start_s = int(start.timestamp())
            self.origin = start_s - start_s % 60 - cfg.history_minutes * 60
        arrays = {}
        for root, path in cfg.data.items():
            spec = spec_for_root(root)
            arrays[spec.contract_id] = load_csv_ticks(Path(path), spec)
        series: dict[str, Series] = {}
        for spec in CONTRACT_SPECS.values():
            root = spec.contract_id
            if root in arrays:
                skip = 0
                if cfg.replay_from is not None and cfg.replay_mode == "shifted":
                    times = arrays[root]["t"]
                    skip = int((times < int(cfg.replay_from.timestamp())).sum())
                series[root] = ReplaySeries(
                    spec, arrays[root], mode=cfg.replay_mode, origin=self.origin, skip=skip
                )
            elif cfg.replay_mode == "calendar" and cfg.data:
                continue  # calendar mode trades only the products it has real data for
            elif self._session_market:
                series[root] = SessionWalkSeries(spec, seed=cfg.seed, origin=self.origin)
            else:
                series[root] = RandomWalkSeries(spec, seed=cfg.seed, origin=self.origin)
        return series

    def _initial_quote(self, series: Series) -> Quote:
        """Before the first print, quote the close of the last bar before the clock."""
        prev = series.prev_time(self.now_us // US)
        bar = series.bar_at(prev) if prev is not None else None
        if bar is None:
            return Quote()
        close = bar[4]
        return Quote(last=close, bid=close - 1, ask=close, updated_us=self.now_us)

    def front_month(self, spec: ContractSpec) -> str:
        """The front month on the clock's trading date (the roll-date switch applied)."""
        return front_month_id(spec, self.trading_date(), roll_on=self.config.roll_on)

    def is_expired(self, contract_id: str | None) -> bool:
        """Past its last trading date: its second and minute history is gone (§11)."""
        try:
            return self.trading_date() > contract_expiry(contract_id or "", self.config.roll_on)
        except ValueError:
            return False

    def contract_payload(
        self, spec: ContractSpec, contract_id: str | None = None
    ) -> dict[str, Any]:
        front = self.front_month(spec)
        cid = contract_id or front
        expiry = cid.rsplit(".", 1)[1]
        return {
            "id": cid,
            "name": f"{spec.contract_id}{expiry}",
            "description": _DESCRIPTIONS.get(spec.symbol, spec.symbol),
            "tickSize": spec.tick_size,
            "tickValue": spec.tick_value,
            "activeContract": cid == front,
            "symbolId": spec.symbol_id,
        }

    def contracts(self, search: str | None) -> list[dict[str, Any]]:
        text = (search or "").strip().upper()
        rows = []
        for spec in CONTRACT_SPECS.values():
            if spec.contract_id not in self.series:
                continue
            payload = self.contract_payload(spec)
            haystack = [
                spec.symbol,
                spec.contract_id,
                payload["name"],
                payload["description"].upper(),
            ]
            if not text or any(text in h for h in haystack):
                rows.append(payload)
        return rows

    def contract(self, contract_id: str | None) -> tuple[ContractSpec, str]:
        spec = parse_contract_id(contract_id or "")
        if spec is None or spec.contract_id not in self.series:
            raise GatewayError(1, "Contract not found")
        return spec, contract_id.strip().upper()  # type: ignore[union-attr]

    # -- market state -------------------------------------------------------------------------------
    def is_open(self, root: str) -> bool:
        """Calendar replays and the session market are closed in gaps of an hour or more (halts,
        nights, weekends)."""
        series = self.series[root]
        if series.always_open:
            return True
        now_s = self.now_us // US
        if self.cur_t is not None and series.bar_at(self.cur_t) is not None:
            return True
        nxt, prev = series.next_time(now_s), series.prev_time(now_s)
        if nxt is None or prev is None:
            return False
        return nxt - (prev + BAR_SECONDS) < 3600

    def _partial(self, root: str) -> tuple[int, int, int, int, int, int] | None:
        if self.cur_t is None or self.emitted == 0:
            return None
        series = self.series[root]
        bar = series.bar_at(self.cur_t)
        if bar is None:
            return None
        path, vols = zip(*series.points(bar)[: self.emitted], strict=True)
        return (self.cur_t, path[0], max(path), min(path), path[-1], sum(vols))

    def history(
        self, root: str, start: datetime, end: datetime, unit: Unit, limit: int, partial: bool
    ) -> list[dict[str, Any]]:
        """Bars of `unit` with open time in [start, end], newest first, at most `limit`.

        Only the time span the newest `limit` bars can cover is scanned (20,000 one-minute bars
        out of four years is a two-week read, not 1.5M rows); the window doubles back when
        gaps (nights, weekends) leave it short, until `start`.
        """
        spec = self.series[root].spec
        now_s = self.now_us // US
        lo, hi = int(start.timestamp()), min(int(end.timestamp()) + 1, now_s + 1)
        span = _MAX_BUCKET_SECONDS.get(unit.code, 0) * unit.number * (limit + 2)
        while True:
            window_lo = lo if unit.code == 7 else max(lo, hi - span)
            bars = self._aggregate_range(root, window_lo, hi, unit, partial)
            if window_lo == lo or len(bars) > limit:
                break
            span *= 2
        if not partial and bars and unit.code != 7 and bucket_end(unit, bars[-1][0]) > now_s:
            bars.pop()
        bars = bars[-limit:]
        bars.reverse()
        tick = spec.tick_size  # validated when the spec was built: plain products are exact
        return [
            {
                "t": _ts(b[0] * US),
                "o": b[1] * tick,
                "h": b[2] * tick,
                "l": b[3] * tick,
                "c": b[4] * tick,
                "v": b[5],
            }
            for b in bars
        ]

    def _aggregate_range(
        self, root: str, lo: int, hi: int, unit: Unit, partial: bool
    ) -> list[list[int]]:
        series = self.series[root]
        now_s = self.now_us // US
        complete_until = self.cur_t if self.cur_t is not None else now_s
        part = self._partial(root) if partial or unit.code in (1, 7) else None
        if unit.code in (1, 7):  # second and tick bars: the minute bars' path points
            rows = _as_points(series, list(series.bars(lo, min(hi, complete_until))))
            if part is not None and lo <= part[0] < hi:
                bar = series.bar_at(part[0])
                rows += _as_points(series, [bar])[: self.emitted] if bar else []
            return aggregate(rows, unit)
        cols = series.columns(lo, min(hi, complete_until))
        if partial and part is not None and lo <= part[0] < hi:
            cols = tuple(np.append(col, value) for col, value in zip(cols, part, strict=True))
        return aggregate_columns(cols, unit)  # type: ignore[arg-type]


# The longest a bucket of one unit can last, in seconds (months: 31 days; ticks: unbounded).
_MAX_BUCKET_SECONDS = {
    1: 1,
    2: 60,
    3: 3600,
    4: 86_400 + 3600,
    5: 7 * 86_400 + 3600,
    6: 31 * 86_400 + 3600,
}


def _as_points(series: Series, bars: list[Any]) -> list[tuple[int, int, int, int, int, int]]:
    """Each 1-minute bar as the trades its path prints (for second and tick bars)."""
    out = []
    for bar in bars:
        for offset, (p, vol) in zip(series.point_offsets, series.points(bar), strict=True):
            out.append((bar[0] + offset, p, p, p, p, vol))
    return out


_DESCRIPTIONS = {
    "ES": "E-Mini S&P 500",
    "MES": "Micro E-mini S&P 500",
    "NQ": "E-Mini NASDAQ 100",
    "MNQ": "Micro E-mini Nasdaq-100",
    "RTY": "E-mini Russell 2000",
    "YM": "E-mini Dow ($5)",
    "CL": "Crude Oil",
    "GC": "Gold",
}
