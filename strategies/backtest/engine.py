"""The event-driven bar replay: strategies, ``markets.fills`` matching and the TopStep rules.

Speed comes from waking the strategy only when something could happen (``Strategy.wake``): between
wakes the engine looks for the next bar that touches a price level (an entry, a stop, a target, the
strategy's own level, the account's loss limit) with one vectorised numpy search, and for the next
wake time with ``searchsorted``; the bars jumped over reach the strategy as one aggregated ``Bars``
event. In ``mode="bar"`` every bar is delivered one by one and indicators are computed incrementally
(the live path); both modes must give identical trades, which the tests check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from markets.fills import TAKE_PROFIT, OrderKind, Side, fill_on_path, intrabar_path, with_slippage
from markets.ticks import ContractSpec
from strategies.backtest.account import Account, RiskLevels
from strategies.backtest.book import (
    DONE,
    InvalidIntent,
    Order,
    entry_fill_on_bar,
    exit_on_bar,
    exit_on_entry_bar,
    slipped,
    validate_bracket,
)
from strategies.backtest.data import Sessions
from strategies.backtest.result import Decision, TradeRecord
from strategies.engine.base import Context, Strategy
from strategies.engine.events import (
    Bars,
    Clock,
    Event,
    Fill,
    OrderUpdate,
    SessionClose,
    SessionOpen,
)
from strategies.engine.feeds import IndicatorFeed
from strategies.engine.intents import CancelOrder, Flatten, Intent, ModifyStop, PlaceBracket

ProgressCallback = Callable[[int, int], None]
_MAX_CHAIN = 64  # events answering events (cancel -> update -> ...): a strategy looping is a bug


class StrategyLoopError(RuntimeError):
    """A strategy kept answering its own order updates with new intents."""


@dataclass(slots=True)
class ReplayOutput:
    trades: list[TradeRecord]
    decisions: list[Decision]
    notes: list[tuple[int, str, str]]
    session_dates: list
    daily_pnl: list[Decimal]
    bars_replayed: int


class Replay:
    """One backtest run over prepared arrays. Use ``run_backtest`` rather than this directly."""

    def __init__(
        self,
        strategy: Strategy,
        name: str,
        bars: object,
        sessions: Sessions,
        contract: ContractSpec,
        account: Account,
        feed: IndicatorFeed,
        *,
        commission_usd: Decimal,
        slippage_ticks: int,
        every_bar: bool,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.strategy = strategy
        self.name = name
        self.contract = contract
        self.account = account
        self.feed = feed
        self.sessions = sessions
        self.fee = commission_usd
        self.slip = slippage_ticks
        self.every_bar = every_bar
        self.on_progress = on_progress
        ts = np.asarray(bars.ts, dtype=np.int64)  # type: ignore[attr-defined]
        self.ts = ts
        close_ts = getattr(bars, "close_ts", None)  # ReplayData keeps them across runs
        self.cts = ts + sessions.bar_seconds if close_ts is None else close_ts
        self.H = np.asarray(bars.high, dtype=np.int64)  # type: ignore[attr-defined]
        self.L = np.asarray(bars.low, dtype=np.int64)  # type: ignore[attr-defined]
        self.O = np.asarray(bars.open, dtype=np.int64)  # type: ignore[attr-defined]
        self.C = np.asarray(bars.close, dtype=np.int64)  # type: ignore[attr-defined]
        self.V = np.asarray(bars.volume, dtype=np.int64)  # type: ignore[attr-defined]
        self.notes: list[tuple[int, str, str]] = []
        self.ctx = Context(name, feed.value, self.notes, contract.tick_size)
        self.working: list[Order] = []
        self.pending_entries: list[Order] = []  # market entries: fill at the next bar's open
        self.position: Order | None = None
        self.pending_flatten: str | None = None
        self.trades: list[TradeRecord] = []
        self.decisions: list[Decision] = []
        self.daily_pnl: list[Decimal] = []
        self.last_close = 0
        self.flat_by_ts = 0
        self._flat_by_done = False
        self._fired_at: int | None = None
        self.session_date = None
        self.bars_replayed = 0

    # -- main loop ------------------------------------------------------------------------------

    def run(self, first: int = 0, last: int | None = None) -> ReplayOutput:
        """Replay sessions ``first`` to ``last`` (exclusive) in order."""
        sessions = self.sessions
        last = len(sessions.dates) if last is None else last
        begin, end = int(sessions.starts[first]), int(sessions.ends[last - 1])
        total = end - begin
        step = max(1, total // 200)
        reported = 0
        replayed: list = []
        for s in range(first, last):
            a, b = int(sessions.starts[s]), int(sessions.ends[s])
            self._run_session(a, b, sessions.dates[s], sessions.flat_by[s])
            replayed.append(sessions.dates[s])
            self.bars_replayed = b - begin
            if self.on_progress is not None and (b - begin - reported >= step or b == end):
                reported = b - begin
                self.on_progress(reported, total)
            if self.account.failed_on is not None:
                break
        return ReplayOutput(
            self.trades, self.decisions, self.notes, replayed, self.daily_pnl, self.bars_replayed
        )

    def _run_session(self, a: int, b: int, trading_date: object, flat_by_ts: int) -> None:
        self.session_date = trading_date
        self.flat_by_ts = flat_by_ts
        self._flat_by_done = False
        self._fired_at: int | None = None
        self.account.start_day(trading_date)
        day_start = len(self.trades)
        self._send(SessionOpen(int(self.ts[a]), trading_date), int(self.ts[a]))  # type: ignore[arg-type]
        strategy, ctx, cts = self.strategy, self.ctx, self.cts
        last_cts = int(cts[b - 1])
        i = a
        while i < b:
            wake = strategy.wake(ctx)
            now = ctx.ts
            at = wake.at
            if at is not None and at <= now:
                # Due already (a bar closed exactly then, or no bar came since): fire it once.
                if at != self._fired_at:
                    self._fired_at = at
                    self._send(Clock(at), now)
                    continue
                at = None
            engine_at = None
            if not self._flat_by_done and (self.position is not None or self.working):
                if flat_by_ts <= now:
                    self._flat_by(now)
                    continue
                engine_at = flat_by_ts
            t_wake = at if engine_at is None or (at is not None and at <= engine_at) else engine_at
            jt = b if t_wake is None else min(b, max(i, int(np.searchsorted(cts, t_wake, "right"))))
            j = self._next_active_bar(i, jt, wake.above, wake.below, wake.every_bar)
            if j is None:
                if jt > i:
                    self._deliver_span(i, jt - 1)
                    i = jt
                if t_wake is not None and t_wake <= last_cts:
                    self._clock(t_wake, at, engine_at)
                elif jt >= b:
                    break
                continue
            if j > i and self._deliver_span(i, j - 1):
                i = j
                continue  # new orders act from bar j: recompute the wake first
            self._process_bar(j)
            i = j + 1
        self._end_session(b, trading_date, day_start)

    def _next_active_bar(
        self, i: int, jt: int, above: int | None, below: int | None, every_bar: bool
    ) -> int | None:
        """The first bar in [i, jt) that could fill an order or wake the strategy, or None."""
        if i >= jt:
            return None
        if every_bar or self.every_bar or self.pending_flatten or self.pending_entries:
            return i
        for order in self.working:
            up, down = order.trigger_levels()
            above = up if above is None or (up is not None and up < above) else above
            below = down if below is None or (down is not None and down > below) else below
        pos = self.position
        trailing = None
        if pos is not None:
            up, down = pos.trigger_levels()
            above = up if above is None or (up is not None and up < above) else above
            below = down if below is None or (down is not None and down > below) else below
            levels: RiskLevels = pos.risk  # type: ignore[assignment]
            if levels.trail is None and levels.fixed is not None:
                if pos.side == Side.BUY:
                    below = levels.fixed if below is None or levels.fixed > below else below
                else:
                    above = levels.fixed if above is None or levels.fixed < above else above
            elif levels.trail is not None:
                trailing = levels
        if above is None and below is None and trailing is None:
            return None
        H, L = self.H[i:jt], self.L[i:jt]
        if above is not None and below is not None:
            mask = (above <= H) | (below >= L)
        elif above is not None:
            mask = above <= H
        elif below is not None:
            mask = below >= L
        else:
            mask = np.zeros(jt - i, dtype=bool)
        if trailing is not None:
            mask |= self._trailing_breach(pos, trailing, H, L)  # type: ignore[arg-type]
        k = int(mask.argmax())
        return i + k if mask[k] else None

    @staticmethod
    def _trailing_breach(
        pos: Order, levels: RiskLevels, H: np.ndarray, L: np.ndarray
    ) -> np.ndarray:
        """Bars whose low (long) / high (short) reach a loss level that trails the best price seen
        before the bar (checked against the level at the bar's start, as a trailing stop)."""
        if pos.side == Side.BUY:
            best = np.maximum.accumulate(np.r_[pos.best, H[:-1]])
            best = np.maximum(best, pos.best)
            level = np.minimum(best - levels.trail, levels.lock)
            if levels.fixed is not None:
                level = np.maximum(level, levels.fixed)
            return level >= L
        best = np.minimum.accumulate(np.r_[pos.best, L[:-1]])
        best = np.minimum(best, pos.best)
        level = np.maximum(best + levels.trail, levels.lock)
        if levels.fixed is not None:
            level = np.minimum(level, levels.fixed)
        return level <= H

    # -- events to the strategy -----------------------------------------------------------------

    def _deliver_span(self, i: int, j: int) -> bool:
        """Hand bars i..j (inclusive) to the strategy as one aggregate; True if it sent intents."""
        self.feed.advance(i, j)
        if i == j:
            event = Bars(
                int(self.ts[i]),
                int(self.cts[i]),
                int(self.O[i]),
                int(self.H[i]),
                int(self.L[i]),
                int(self.C[i]),
                int(self.V[i]),
                1,
            )
        else:
            event = Bars(
                int(self.ts[i]),
                int(self.cts[j]),
                int(self.O[i]),
                int(self.H[i : j + 1].max()),
                int(self.L[i : j + 1].min()),
                int(self.C[j]),
                int(self.V[i : j + 1].sum()),
                j - i + 1,
            )
        self.last_close = event.close
        pos = self.position
        if pos is not None:
            best = max(pos.best, event.high) if pos.side == Side.BUY else min(pos.best, event.low)
            if best != pos.best:
                pos.best = best
                self.account.mark_best(pos.side, pos.fill_price, best, pos.qty)
        return self._send(event, event.end_ts)

    def _clock(self, t: int, strategy_at: int | None, engine_at: int | None) -> None:
        if engine_at is not None and t == engine_at:
            self._flat_by(t)
        if strategy_at is not None and t == strategy_at:
            self._fired_at = t
            self._send(Clock(t), t)
        else:
            self.ctx.ts = t

    def _send(self, event: Event, ts: int) -> bool:
        """Deliver one event and carry out what the strategy answers (and answers to those)."""
        self.ctx.ts = ts
        queue: list[Event] = [event]
        sent_any = False
        for _ in range(_MAX_CHAIN):
            if not queue:
                return sent_any
            current = queue.pop(0)
            self.ctx.position = self._position_of()
            intents = self.strategy.on_event(current, self.ctx)
            if intents:
                sent_any = True
                queue.extend(self._apply(intents, ts))
        raise StrategyLoopError(f"{self.name}: more than {_MAX_CHAIN} chained events at {ts}")

    def _position_of(self) -> int:
        pos = self.position
        return 0 if pos is None else pos.sign * pos.qty

    # -- intents --------------------------------------------------------------------------------

    def _apply(self, intents: list[Intent], ts: int) -> list[Event]:
        follow: list[Event] = []
        for intent in intents:
            if isinstance(intent, PlaceBracket):
                follow.extend(self._place(intent, ts))
            elif isinstance(intent, ModifyStop):
                follow.extend(self._modify(intent, ts))
            elif isinstance(intent, CancelOrder):
                follow.extend(self._cancel(intent.tag, ts, intent.reason))
            elif isinstance(intent, Flatten):
                follow.extend(self._flatten(ts, intent.reason, role="flatten"))
            else:
                raise InvalidIntent(f"unknown intent {intent!r}")
        return follow

    def _decide(self, ts: int, tag: str, action: str, reason: str) -> None:
        self.decisions.append(Decision(ts, _owner(tag, self.name), action, tag, reason))

    def _place(self, intent: PlaceBracket, ts: int) -> list[Event]:
        validate_bracket(intent)
        blocked = self.account.entry_refusal(
            intent.side, intent.qty, ts, stop_loss_ticks=intent.stop_loss_ticks, fee_usd=self.fee
        )
        if blocked is None and any(o.tag == intent.tag for o in self._all_orders()):
            blocked = "duplicate tag"
        if blocked is not None:
            self._decide(ts, intent.tag, "rejected", blocked)
            return [OrderUpdate(ts, intent.tag, "rejected", blocked)]
        order = Order(_owner(intent.tag, self.name), intent)
        if intent.kind == OrderKind.MARKET:
            self.pending_entries.append(order)
        else:
            self.working.append(order)
        self._decide(ts, intent.tag, "place", intent.reason)
        return []

    def _modify(self, intent: ModifyStop, ts: int) -> list[Event]:
        pos = self.position
        if pos is None or pos.tag != intent.tag:
            self._decide(ts, intent.tag, "modify rejected", "no open bracket with that tag")
            return [OrderUpdate(ts, intent.tag, "rejected", "no open bracket with that tag")]
        new = intent.stop_price
        loosens = new < pos.stop_price if pos.side == Side.BUY else new > pos.stop_price
        crosses = new >= self.last_close if pos.side == Side.BUY else new <= self.last_close
        if loosens or crosses:
            why = "would move the stop against the position" if loosens else "stop through market"
            self._decide(ts, intent.tag, "modify rejected", why)
            return [OrderUpdate(ts, intent.tag, "rejected", why)]
        pos.stop_price = new
        self._decide(ts, intent.tag, "modify stop", f"{intent.reason} -> {self.ctx.price(new)}")
        return []

    def _cancel(self, tag: str, ts: int, reason: str) -> list[Event]:
        for pool in (self.working, self.pending_entries):
            for order in pool:
                if order.tag == tag:
                    pool.remove(order)
                    order.state = DONE
                    self._decide(ts, tag, "cancel", reason)
                    return [OrderUpdate(ts, tag, "cancelled", reason)]
        return []

    def _flatten(self, ts: int, reason: str, *, role: str) -> list[Event]:
        follow: list[Event] = []
        for order in [*self.working, *self.pending_entries]:
            follow.extend(self._cancel(order.tag, ts, reason))
        if self.position is not None and self.pending_flatten is None:
            self.pending_flatten = role
            self._decide(ts, self.position.tag, "flatten", reason)
        return follow

    def _flat_by(self, t: int) -> None:
        self._flat_by_done = True
        self.ctx.ts = t
        follow = self._flatten(t, "TopStep flat-by time", role="flat_by")
        for event in follow:
            self._send(event, t)

    def _all_orders(self) -> list[Order]:
        extra = [self.position] if self.position is not None else []
        return [*self.working, *self.pending_entries, *extra]

    # -- one bar --------------------------------------------------------------------------------

    def _process_bar(self, j: int) -> None:
        o, h, lo, c = int(self.O[j]), int(self.H[j]), int(self.L[j]), int(self.C[j])
        t = int(self.ts[j])
        events: list[Event] = []
        opened_at: int | None = None
        pos = self.position
        if self.pending_flatten is not None and pos is not None:
            events.append(self._close(pos, self.pending_flatten, o, t))
            pos = None
        if self.pending_entries:
            for order in self.pending_entries:
                if pos is None:
                    pos = self._open(order, slipped("market", order.side, o, self.slip), t, events)
                    opened_at = 0
                else:
                    events.append(self._reject_fill(order, t))
            self.pending_entries.clear()
        if self.working and pos is None:
            pos, opened_at = self._match_entries(o, h, lo, c, t, events)
        if pos is not None:
            if opened_at is not None:
                hit = exit_on_entry_bar(pos, opened_at, o, h, lo, c)
                if hit is None:
                    hit = self._risk_on_entry_bar(pos, opened_at, o, h, lo, c)
            else:
                hit = exit_on_bar(pos, self._risk_level(), o, h, lo, c)
            if hit is not None:
                events.append(self._close(pos, hit[0], hit[1], t))
        self.ctx.ts = t
        for event in events:
            self._send(event, t)
        self._after_fills(t)
        self._deliver_span(j, j)

    def _match_entries(
        self,
        o: int,
        h: int,
        lo: int,
        c: int,
        t: int,
        events: list[Event],
    ) -> tuple[Order | None, int | None]:
        best: tuple[int, int, int, Order] | None = None
        for order in self.working:
            hit = entry_fill_on_bar(order, o, h, lo, c)
            if hit is None:
                continue
            price, point = hit
            # Several entries on one path segment: the level nearest the segment start comes first.
            key = (
                point,
                abs(price - o) if point == 0 else abs(price - _path_start(o, h, lo, c, point)),
            )
            if best is None or key < best[:2]:
                best = (*key, order)
        if best is None:
            return None, None
        point, order = best[0], best[2]
        self.working.remove(order)
        fill = entry_fill_on_bar(order, o, h, lo, c)
        assert fill is not None
        price = fill[0]
        if order.kind == OrderKind.STOP:
            price = with_slippage(order.side, price, self.slip)
        pos = self._open(order, price, t, events)
        if order.oco is not None:
            for other in [w for w in self.working if w.oco == order.oco]:
                self.working.remove(other)
                other.state = DONE
                self._decide(t, other.tag, "cancel", f"OCO: {order.tag} filled")
                events.append(OrderUpdate(t, other.tag, "cancelled", f"OCO: {order.tag} filled"))
        return pos, point

    def _open(self, order: Order, price: int, t: int, events: list[Event]) -> Order:
        order.open_at(price, t)
        order.risk = self.account.levels(order.side, price, order.qty, 2 * order.qty * self.fee)
        self.position = order
        self._decide(
            t, order.tag, "entry filled",
            f"{Side(order.side).name} {order.qty} @ {self.ctx.price(price)}",
        )  # fmt: skip
        events.append(Fill(t, order.tag, "entry", Side(order.side), order.qty, price))
        return order

    def _reject_fill(self, order: Order, t: int) -> Event:
        order.state = DONE
        self._decide(t, order.tag, "rejected", "a position is already open")
        return OrderUpdate(t, order.tag, "rejected", "a position is already open")

    def _risk_level(self) -> int | None:
        """The price at which the open position reaches a loss limit, in force at this bar's start."""
        pos = self.position
        if pos is None:
            return None
        return pos.risk.level(pos.side, pos.best)  # type: ignore[attr-defined]

    def _risk_on_entry_bar(
        self,
        pos: Order,
        point: int,
        o: int,
        h: int,
        lo: int,
        c: int,
    ) -> tuple[str, int] | None:
        level = self._risk_level()
        if level is None:
            return None
        rest = (pos.fill_price, *intrabar_path(o, h, lo, c)[point + 1 :])
        price = fill_on_path(OrderKind.STOP, 1 - pos.side, rest, stop_ticks=level)
        return None if price is None else ("risk", price)

    def _close(self, pos: Order, role: str, price: int, t: int) -> Event:
        exit_side = 1 - pos.side
        if role != TAKE_PROFIT:
            price = with_slippage(exit_side, price, self.slip) if self.slip else price
        pos.state = DONE
        self.position = None
        self.pending_flatten = None
        contract = self.contract
        gross = contract.pnl_usd(pos.fill_price, price, pos.sign * pos.qty)
        fees = 2 * pos.qty * self.fee
        r = Decimal((price - pos.fill_price) * pos.sign) / Decimal(pos.sl_ticks)
        trade = TradeRecord(
            strategy=pos.strategy,
            tag=pos.tag,
            trading_date=self.session_date,  # type: ignore[arg-type]
            side=Side(pos.side),
            qty=pos.qty,
            entry_ts=pos.entry_ts,
            exit_ts=t,
            entry_ticks=pos.fill_price,
            exit_ticks=price,
            entry_price=contract.from_ticks(pos.fill_price),
            exit_price=contract.from_ticks(price),
            gross_usd=gross,
            fees_usd=fees,
            pnl_usd=gross - fees,
            r_multiple=r.quantize(Decimal("0.01")),
            initial_risk_ticks=pos.sl_ticks,
            exit_reason=role,
        )
        self.trades.append(trade)
        self.account.realize(gross, fees)
        self._decide(
            t, pos.tag, "exit filled", f"{role} @ {self.ctx.price(price)}, {trade.pnl_usd} USD"
        )
        return Fill(t, pos.tag, role, Side(exit_side), pos.qty, price)

    def _after_fills(self, t: int) -> None:
        """After a realised loss: a daily-loss lockout cancels everything; a max-loss fails."""
        lock = self.account.state.lock_reason
        if lock is None or not (self.working or self.pending_entries or self.position):
            return
        follow = self._flatten(t, f"account locked ({lock})", role="risk")
        for event in follow:
            self._send(event, t)

    def _end_session(self, b: int, trading_date: object, day_start: int) -> None:
        t = int(self.cts[b - 1])
        if self.position is not None:
            event = self._close(self.position, "session_end", int(self.C[b - 1]), t)
            self._send(event, t)
        for order in [*self.working, *self.pending_entries]:
            self._decide(t, order.tag, "expired", "session ended")
            follow = OrderUpdate(t, order.tag, "expired", "session ended")
            order.state = DONE
            self.working = [w for w in self.working if w is not order]
            self.pending_entries = [w for w in self.pending_entries if w is not order]
            self._send(follow, t)
        self._send(SessionClose(t, trading_date), t)  # type: ignore[arg-type]
        day_pnl = sum((tr.pnl_usd for tr in self.trades[day_start:]), Decimal(0))
        self.daily_pnl.append(day_pnl)
        self.account.end_day(trading_date)


def _owner(tag: str, default: str) -> str:
    """Trades and decisions are attributed to the strategy named before ``/`` in a tag."""
    head, sep, _ = tag.partition("/")
    return head if sep else default


def _path_start(o: int, h: int, lo: int, c: int, point: int) -> int:
    return intrabar_path(o, h, lo, c)[point - 1]
