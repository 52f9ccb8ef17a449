"""What a strategy is fed. Small slotted dataclasses, prices in integer ticks, times in epoch seconds.

Times are **integer epoch seconds, UTC** (``ts``), not datetimes: the backtester hands out hundreds of
thousands of events and converting each to an aware datetime would dominate its cost. Convert with
``datetime.fromtimestamp(ts, UTC)`` where a wall-clock time is needed; trading dates are ``date``
objects computed by ``markets.sessions`` (exchange time).

A ``Bars`` event is an aggregate of one or more consecutive closed bars. Live, each bar close is a
``Bars`` with ``count == 1``; the backtester may jump over bars that could not wake the strategy (see
``base.Wake``) and hands over the skipped span as one aggregate. Strategies treat both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from markets.fills import Side


@dataclass(frozen=True, slots=True)
class Bars:
    """Closed bars from ``start_ts`` (open of the first) to ``end_ts`` (close of the last)."""

    start_ts: int
    end_ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    count: int

    @property
    def ts(self) -> int:
        """When the strategy sees the event: the close of the last bar."""
        return self.end_ts


@dataclass(frozen=True, slots=True)
class Clock:
    """A time the strategy asked to be woken at (``Wake.at``) has been reached."""

    ts: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid/ask and last trade (live and simulator only; the bar backtester sends none)."""

    ts: int
    bid: int
    ask: int
    last: int


@dataclass(frozen=True, slots=True)
class SessionOpen:
    """A new trading session (exchange trading date) has started; ``ts`` is its first bar's open."""

    ts: int
    trading_date: date


@dataclass(frozen=True, slots=True)
class SessionClose:
    """The session ``trading_date`` is over (its last bar has closed)."""

    ts: int
    trading_date: date


@dataclass(frozen=True, slots=True)
class Fill:
    """An order of this strategy filled. ``tag`` is the bracket tag the strategy chose.

    ``role`` says which leg: ``"entry"``, ``"stop_loss"``, ``"take_profit"``, ``"flatten"`` (a
    strategy or risk flatten), ``"risk"`` (liquidated by the account's risk rules).
    """

    ts: int
    tag: str
    role: str
    side: Side
    qty: int
    price: int


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order of this strategy ended without a fill: ``status`` cancelled / rejected / expired."""

    ts: int
    tag: str
    status: str
    reason: str


Event = Bars | Clock | Quote | SessionOpen | SessionClose | Fill | OrderUpdate
