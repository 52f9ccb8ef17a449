"""Orders and the position of one backtest: brackets, OCO groups, fills by ``markets.fills``.

The backtester's stand-in for the broker. Matching rules are never written here: every fill price
comes from ``markets.fills`` (``fill_price``, ``fill_on_path``, ``bracket_exit``, ``intrabar_path``),
the module the simulator also uses. What this module adds is bookkeeping: which orders are working,
which bracket is open, OCO cancellation, slippage and the order of events inside one bar.

Within one bar the order of things is:
1. pending market orders (entries and flattens decided on the previous close) fill at the open;
2. working entries are matched; when several could fill (both sides of an OCO pair), the one the
   intrabar path (``markets.fills.intrabar_path``) reaches first fills and its group is cancelled;
3. the open bracket's stop-loss / take-profit are matched: on the entry bar along the rest of the
   intrabar path after the entry fill, on later bars with ``bracket_exit`` (stop-loss first when a
   bar touches both). A risk liquidation level (daily loss / maximum loss) acts like a tighter stop.
Orders placed or modified at a bar's close act from the next bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from markets.fills import (
    STOP_LOSS,
    TAKE_PROFIT,
    OrderKind,
    Side,
    bracket_exit,
    fill_on_path,
    fill_price,
    intrabar_path,
    stop_fill,
    with_slippage,
)
from strategies.engine.intents import PlaceBracket

WORKING, OPEN, DONE = 0, 1, 2


class Order:
    """One bracket: its entry order and, once filled, its stop-loss and take-profit legs."""

    __slots__ = (
        "best",
        "entry_price",
        "entry_ts",
        "fill_price",
        "kind",
        "oco",
        "qty",
        "reason",
        "risk",
        "side",
        "sl_ticks",
        "state",
        "stop_price",
        "strategy",
        "tag",
        "target_price",
        "tp_ticks",
    )

    def __init__(self, strategy: str, intent: PlaceBracket) -> None:
        self.strategy = strategy
        self.tag = intent.tag
        self.side = int(intent.side)
        self.qty = intent.qty
        self.kind = int(intent.kind)
        self.entry_price = intent.entry_price
        self.sl_ticks = intent.stop_loss_ticks
        self.tp_ticks = intent.take_profit_ticks
        self.oco = intent.oco_group
        self.reason = intent.reason
        self.state = WORKING
        self.fill_price = 0
        self.entry_ts = 0
        self.stop_price = 0
        self.target_price: int | None = None
        self.best = 0  # best price since entry (for trailing loss limits)
        self.risk: object = None  # account.RiskLevels while open

    @property
    def sign(self) -> int:
        return 1 if self.side == Side.BUY else -1

    def open_at(self, price: int, ts: int) -> None:
        """The entry filled at ``price``: the legs are placed at their distances from it."""
        self.state = OPEN
        self.fill_price = price
        self.entry_ts = ts
        self.best = price
        self.stop_price = price - self.sign * self.sl_ticks
        self.target_price = None if self.tp_ticks is None else price + self.sign * self.tp_ticks

    def trigger_levels(self) -> tuple[int | None, int | None]:
        """(above, below): a bar with high >= above or low <= below may fill this order."""
        if self.state == WORKING:
            level = self.entry_price
            if self.kind == OrderKind.STOP:
                return (level, None) if self.side == Side.BUY else (None, level)
            if self.kind == OrderKind.LIMIT:
                return (None, level) if self.side == Side.BUY else (level, None)
            return (None, None)  # market: handled as pending
        if self.side == Side.BUY:  # long: stop below, target above
            return self.target_price, self.stop_price
        return self.stop_price, self.target_price


@dataclass(frozen=True, slots=True)
class Exit:
    """The open bracket closed on this bar."""

    order: Order
    role: str  # stop_loss | take_profit | flatten | risk | flat_by | session_end
    price: int


class InvalidIntent(ValueError):
    """A strategy asked for something the book cannot do (bad prices, unknown tag)."""


def validate_bracket(intent: PlaceBracket) -> None:
    if intent.qty <= 0:
        raise InvalidIntent(f"{intent.tag}: qty must be positive, got {intent.qty}")
    if intent.stop_loss_ticks <= 0:
        raise InvalidIntent(f"{intent.tag}: stop_loss_ticks must be positive")
    if intent.take_profit_ticks is not None and intent.take_profit_ticks <= 0:
        raise InvalidIntent(f"{intent.tag}: take_profit_ticks must be positive or None")
    needs_price = intent.kind in (OrderKind.STOP, OrderKind.LIMIT)
    if needs_price != (intent.entry_price is not None):
        raise InvalidIntent(f"{intent.tag}: entry_price is required for stop/limit entries only")
    if intent.kind not in (OrderKind.STOP, OrderKind.LIMIT, OrderKind.MARKET):
        raise InvalidIntent(f"{intent.tag}: unsupported entry kind {intent.kind!r}")


def entry_fill_on_bar(
    order: Order,
    o: int,
    h: int,
    lo: int,
    c: int,
) -> tuple[int, int] | None:
    """(fill price, index of the path point where it filled) for a working entry, or None.

    The index places the fill on ``intrabar_path`` so OCO races and same-bar exits are decided by
    the shared path rule; the price itself is ``fill_price``'s.
    """
    price = fill_price(
        order.kind,
        order.side,
        o,
        h,
        lo,
        c,
        limit_ticks=order.entry_price,
        stop_ticks=order.entry_price,
    )
    if price is None:
        return None
    if order.kind == OrderKind.MARKET:
        return price, 0
    path = intrabar_path(o, h, lo, c)
    for k in range(1, 5):
        if (
            fill_on_path(
                order.kind,
                order.side,
                path[:k],
                limit_ticks=order.entry_price,
                stop_ticks=order.entry_price,
            )
            is not None
        ):
            return price, k - 1
    return price, 3  # unreachable: fill_price and the path agree on OHLC


def exit_on_entry_bar(
    order: Order,
    point: int,
    o: int,
    h: int,
    lo: int,
    c: int,
) -> tuple[str, int] | None:
    """Does the bracket opened at path point ``point`` of this bar close on the same bar?

    Along the rest of the intrabar path, starting at the fill price.
    """
    path = intrabar_path(o, h, lo, c)
    rest = (order.fill_price, *path[point + 1 :])
    return bracket_exit(
        order.side,
        o,
        h,
        lo,
        c,
        stop_ticks=order.stop_price,
        target_ticks=order.target_price,
        path=rest,
    )


def exit_on_bar(
    order: Order,
    risk_level: int | None,
    o: int,
    h: int,
    lo: int,
    c: int,
) -> tuple[str, int] | None:
    """Stop-loss / take-profit / risk liquidation of an open bracket on a later bar.

    ``risk_level`` is the price at which the account's loss limit would be reached; it acts as a
    tighter stop when it lies inside the stop-loss, and its fill is reported as role ``"risk"``.
    """
    stop = order.stop_price
    role_if_stopped = STOP_LOSS
    if risk_level is not None and (
        risk_level > stop if order.side == Side.BUY else risk_level < stop
    ):
        stop, role_if_stopped = risk_level, "risk"
    if order.target_price is not None and (
        stop >= order.target_price if order.side == Side.BUY else stop <= order.target_price
    ):
        # The loss limit lies beyond the target: check it alone, as a stop.
        price = stop_fill(1 - order.side, o, h, lo, stop)
        if price is not None:
            return role_if_stopped, price
        return bracket_exit(
            order.side, o, h, lo, c, stop_ticks=None, target_ticks=order.target_price
        )
    result = bracket_exit(order.side, o, h, lo, c, stop_ticks=stop, target_ticks=order.target_price)
    if result is not None and result[0] == STOP_LOSS:
        return role_if_stopped, result[1]
    return result


def slipped(role: str, exit_side: int, price: int, slippage_ticks: int) -> int:
    """Slippage applies to market and stop fills, never to limit fills (a take-profit)."""
    if role == TAKE_PROFIT or slippage_ticks == 0:
        return price
    return with_slippage(exit_side, price, slippage_ticks)
