"""Drive one strategy bar by bar from live (or simulator) events: the live side of the engine.

The runner owns the strategy's ``Context`` and its incremental indicators, turns the market and
order events it is given into strategy events, and returns the intents for the caller (the
execution service) to carry out. It never calls the broker, the database or the clock: the caller
passes the time. Order of calls for each minute, as the backtester does it:

1. ``on_fill`` / ``on_order_update`` for what happened during the bar (in the order received);
2. ``on_bar`` when the bar has closed;
3. ``on_clock(now)`` whenever time passes (a timer): it fires the strategy's ``Wake.at`` once due.
Call ``on_session_open`` before the first bar of a trading date and ``on_session_close`` after its
last. Decisions without intents (skipped days...) are collected in ``notes``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from markets.fills import Side
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
from strategies.engine.feeds import IncrementalIndicatorFeed
from strategies.engine.intents import Intent


class LiveRunner:
    def __init__(
        self,
        strategy: Strategy,
        *,
        name: str | None = None,
        bar_seconds: int = 60,
        tick_size: Decimal | None = None,
    ) -> None:
        self.strategy = strategy
        self.bar_seconds = bar_seconds
        self.feed = IncrementalIndicatorFeed(strategy.indicators())
        self.notes: list[tuple[int, str, str]] = []
        self.ctx = Context(name or strategy.kind, self.feed.value, self.notes, tick_size)
        self._trading_date: date | None = None
        self._fired_at: int | None = None

    @property
    def trading_date(self) -> date | None:
        """The trading date whose session is open (between session open and close), if any."""
        return self._trading_date

    def _send(self, event: Event, now: int) -> list[Intent]:
        self.ctx.ts = now
        return self.strategy.on_event(event, self.ctx)

    def on_session_open(self, ts: int, trading_date: date) -> list[Intent]:
        self._trading_date = trading_date
        return self._send(SessionOpen(ts, trading_date), ts)

    def on_session_close(self, ts: int) -> list[Intent]:
        if self._trading_date is None:
            raise RuntimeError("on_session_close before on_session_open")
        day, self._trading_date = self._trading_date, None
        return self._send(SessionClose(ts, day), ts)

    def on_bar(self, ts: int, o: int, h: int, lo: int, c: int, volume: int) -> list[Intent]:
        """A bar (``ts`` = its open, epoch seconds UTC; prices in ticks) has closed.

        A strategy clock due at or before the bar's close fires first when the bar does not reach
        it (``on_clock`` may have been missed); one due exactly at the close fires after it."""
        if self._trading_date is None:
            raise RuntimeError("on_bar before on_session_open")
        end = ts + self.bar_seconds
        intents = self._due_clocks(ts)  # clocks due before this bar opened
        self.feed.push(ts, h, lo, c, self._trading_date)
        intents += self._send(Bars(ts, end, o, h, lo, c, volume, 1), end)
        return intents + self._due_clocks(end)

    def on_clock(self, now: int) -> list[Intent]:
        return self._due_clocks(now)

    def on_fill(
        self, ts: int, tag: str, role: str, side: Side, qty: int, price: int
    ) -> list[Intent]:
        return self._send(Fill(ts, tag, role, side, qty, price), ts)

    def on_order_update(self, ts: int, tag: str, status: str, reason: str) -> list[Intent]:
        return self._send(OrderUpdate(ts, tag, status, reason), ts)

    def set_position(self, signed_qty: int) -> None:
        """The broker's view of this strategy's position (the caller reconciles)."""
        self.ctx.position = signed_qty

    def _due_clocks(self, now: int) -> list[Intent]:
        intents: list[Intent] = []
        for _ in range(16):
            at = self.strategy.wake(self.ctx).at
            if at is None or at > now or at == self._fired_at:
                break
            self._fired_at = at
            intents += self._send(Clock(at), max(at, self.ctx.ts))
        return intents
