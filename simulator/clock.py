"""The simulator's clock and the order of events.

Time moves in 1-minute bars. Each bar is played along ONE intrabar path, its series' `points(bar)`
(a quote, a trade and a depth update each) at `point_offsets` seconds into the bar, then at +60 s
the bar completes. By default the path is `markets.fills.intrabar_path(o, h, l, c)` (O-L-H-C for
an up bar, O-H-L-C for a down bar) at +0, +15, +30 and +45 s, volume split evenly; the demo's
session market (simulator/session_walk.py) prints a price every second on the same O-L-H-C order.
Clock modes:
* stepped: nothing moves until a test calls `step(n_bars)` / `step_until(t)`;
* real time (speed 1) or accelerated (speed N): a driver calls `advance_to(t)` with
  `t = start + N * elapsed wall time`. In real time over a contiguous market the clock catches up
  with the wall clock after a restart (missed bars are matched, nothing is skipped; a bar that
  ended a minute or more before the target prints only its 4 coarse points, same fills).

Quotes: a trade on an up-tick printed at the ask (bid one tick below), on a down-tick at the bid
(ask one tick above).

A mixin of `simulator.engine.Engine`: each printed price fills the market orders waiting for it
and each completed bar is matched (`simulator.matching.Matching`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from markets import fills
from markets.ticks import ContractSpec
from simulator.market import BAR_SECONDS, COARSE_OFFSETS, Series, trading_date
from simulator.records import MARKET, US, Quote, SimConfig, _ts


class Clock:
    """Plays bars: prints their points as quotes, trades and depth, then completes them."""

    config: SimConfig
    series: dict[str, Series]
    quotes: dict[str, Quote]
    point_offsets: tuple[int, ...]
    catching_up: bool
    now_us: int
    cur_t: int | None  # open time of the bar being played, None between bars
    emitted: int  # how many of its points have been printed

    def _start_us(self) -> int:
        if self.config.start is not None:
            return int(self.config.start.timestamp()) * US
        if self.config.replay_mode == "calendar" and self.config.data:
            first = min(s.first_time() for s in self.series.values())
            return (first + self.config.history_minutes * 60) * US
        if self._session_market:
            now_s = int(datetime.now(UTC).timestamp())
            return (now_s - now_s % 60) * US
        return self.origin * US + self.config.history_minutes * 60 * US

    def now(self) -> datetime:
        return _ts(self.now_us)

    def trading_date(self) -> date:
        return trading_date(self.now_us // US)

    def step(self, n_bars: int = 1) -> int:
        """Play the next `n_bars` bars completely (stepped mode). Returns how many were played."""
        played = 0
        with self.store.batch():
            while played < n_bars:
                if self.cur_t is None and not self._open_next_bar():
                    break
                assert self.cur_t is not None
                self._run_until((self.cur_t + BAR_SECONDS) * US)
                played += 1
            self._save_meta()
        self._flush()
        return played

    def step_until(self, at: datetime) -> None:
        """Play every bar event up to `at` (and set the clock to `at`)."""
        target = int(at.timestamp() * US)
        with self.store.batch():
            self._run_until(target)
            self.now_us = max(self.now_us, target)
            self._save_meta()
        self._flush()

    advance_to = step_until

    def _open_next_bar(self) -> bool:
        now_s = -(-self.now_us // US)
        nexts = [t for t in (s.next_time(now_s) for s in self.series.values()) if t is not None]
        if not nexts:
            return False
        self.cur_t, self.emitted, self.catching_up = min(nexts), 0, False
        return True

    def _run_until(self, target_us: int) -> None:
        while True:
            if self.cur_t is None:
                if not self._open_next_bar():
                    return
                assert self.cur_t is not None
                if self.cur_t * US >= target_us:  # a bar opening exactly at the target waits:
                    self.cur_t = None  # after step(1) the next market order gets the next open
                    return
                # A bar that ended a minute before the target is history being caught up (a
                # restart): its four coarse points fill orders as its every second would, at a
                # fifteenth of the cost.
                self.catching_up = (self.cur_t + 2 * BAR_SECONDS) * US <= target_us
            offsets = COARSE_OFFSETS if self.catching_up else self.point_offsets
            if self.emitted < len(offsets):
                at = (self.cur_t + offsets[self.emitted]) * US
                if at > target_us:
                    return
                self.now_us = max(self.now_us, at)
                self._emit_point(self.emitted)
                self.emitted += 1
                continue
            at = (self.cur_t + BAR_SECONDS) * US
            if at > target_us:
                return
            self.now_us = max(self.now_us, at)
            self._complete_bar()
            self.cur_t, self.emitted = None, 0
            self._save_meta()

    def _emit_point(self, index: int) -> None:
        assert self.cur_t is not None
        for root, series in self.series.items():
            bar = series.bar_at(self.cur_t)
            if bar is None:
                continue
            points = series.coarse_points(bar) if self.catching_up else series.points(bar)
            price, volume = points[index]
            self._print(root, series.spec, price, volume)
            for order in self._working(root):
                if order.type == MARKET:
                    fill = fills.fill_price(MARKET, order.side, price, price, price, price)
                    self._fill(order, fill, children_from=self.cur_t if index == 0 else None)

    def _print(self, root: str, spec: ContractSpec, price: int, volume: int) -> None:
        q = self.quotes[root]
        session = trading_date(self.now_us // US).isoformat()
        if q.session != session:
            q.prev_close = q.last
            q.session, q.open, q.high, q.low, q.volume = session, price, price, price, 0
        up = q.last is None or price >= q.last
        q.bid, q.ask = (price - 1, price) if up else (price, price + 1)
        q.last, q.updated_us = price, self.now_us
        q.high, q.low = max(q.high or price, price), min(q.low or price, price)
        q.volume += volume
        when = _ts(self.now_us)
        ref = q.prev_close if q.prev_close is not None else q.open
        change = spec.from_ticks(price - ref)
        self.events.append(
            (
                "market",
                root,
                "GatewayQuote",
                {
                    "symbol": spec.symbol_id,
                    "symbolName": f"/{spec.symbol}",
                    "lastPrice": spec.from_ticks(price),
                    "bestBid": spec.from_ticks(q.bid),
                    "bestAsk": spec.from_ticks(q.ask),
                    "change": change,
                    "changePercent": (change / spec.from_ticks(ref) * 100).quantize(
                        Decimal("0.0001")
                    )
                    if ref
                    else Decimal(0),
                    "open": spec.from_ticks(q.open),
                    "high": spec.from_ticks(q.high),
                    "low": spec.from_ticks(q.low),
                    "volume": q.volume,
                    "lastUpdated": when,
                    "timestamp": when,
                },
            )
        )
        self.events.append(
            (
                "market",
                root,
                "GatewayTrade",
                [
                    {
                        "symbolId": spec.symbol_id,
                        "price": spec.from_ticks(price),
                        "timestamp": when,
                        "type": 0 if up else 1,
                        "volume": volume,
                    }
                ],
            )
        )
        depth = [
            {
                "timestamp": when,
                "type": 5,
                "price": spec.from_ticks(price),
                "volume": volume,
                "currentVolume": volume,
            }
        ]
        for level in range(5):
            size = 5 + (price * 7 + level * 13) % 40  # deterministic synthetic book
            depth.append(
                {
                    "timestamp": when,
                    "type": 4 if level == 0 else 2,
                    "price": spec.from_ticks(q.bid - level),
                    "volume": size,
                    "currentVolume": size,
                }
            )
            depth.append(
                {
                    "timestamp": when,
                    "type": 3 if level == 0 else 1,
                    "price": spec.from_ticks(q.ask + level),
                    "volume": size + 3,
                    "currentVolume": size + 3,
                }
            )
        self.events.append(("market", root, "GatewayDepth", depth))


def shared_point_offsets(series: dict[str, Series]) -> tuple[int, ...]:
    """The seconds into a bar at which the clock prints: one schedule for every product."""
    schedules = {s.point_offsets for s in series.values()} or {Series.point_offsets}
    if len(schedules) > 1:
        raise ValueError("every product of one simulator must print on the same schedule")
    return schedules.pop()
