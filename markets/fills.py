"""Order-matching rules against OHLC bars: the ONE place the backtester and the simulator share.

All prices are integer ticks (see markets/ticks.py); every function is pure, allocation-light and
safe to call a million times a second. A bar is `(o, h, l, c)` with `l <= min(o, c)` and
`h >= max(o, c)` (`check_bar` validates once at load time; the hot path trusts it).

API (prices and levels are int ticks; `side`/`kind` take the enums or their wire ints)
--------------------------------------------------------------------------------------
- `fill_price(kind, side, o, h, l, c, *, limit_ticks=, stop_ticks=, touch_fills=True)` -> fill
  price or None; `limit_fill(...)` / `stop_fill(...)` are the two rules alone (cheapest calls).
- `trail_initial_level(side, reference, trail)`, `trail_stop_level(side, level, h, l, trail)`,
  `trailing_stop_step(side, level, o, h, l, trail)` -> (fill or None, next level).
- `bracket_exit(position_side, o, h, l, c, *, stop_ticks=, target_ticks=, path=None)` ->
  (`STOP_LOSS` | `TAKE_PROFIT`, price) or None.
- `intrabar_path(o, h, l, c)` -> 4 prices; `fill_on_path(kind, side, path, ...)` -> fill or None.
- `with_slippage(side, price, ticks)`; `check_bar(o, h, l, c)` raises InvalidBar.

Path assumption (what we assume happened inside a bar we only see as OHLC)
--------------------------------------------------------------------------
1. Timing. An order decided on a bar's close acts from the NEXT bar. Callers guarantee this: they
   pass the next bar, never the bar whose close produced the signal (no look-ahead).
2. Market: fills at the bar's open.
3. Limit buy: fills if `low <= limit` (a touch fills: optimistic about queue position; pass
   `touch_fills=False` to require the price to trade through, `low < limit`), at
   `min(open, limit)` (a bar that opens through the limit gives the better open).
   Limit sell mirrored: fills if `high >= limit`, at `max(open, limit)`.
4. Stop buy: fills if `high >= stop`, at `max(open, stop)`: at the stop price, or at the open
   when the bar gaps through it (never better than the stop). Stop sell mirrored: fills if
   `low <= stop`, at `min(open, stop)`.
5. Trailing stop: the stop level trails the best price by a fixed distance in ticks. Within a
   bar, conservatively, the fill is checked against the level IN FORCE AT THE BAR'S START (rule 4
   applies), and only then is the level ratcheted from the bar's favourable extreme (the high for
   a sell stop protecting a long, the low for a buy stop protecting a short). A level never moves
   against the position. `trailing_stop_step` does both in that order.
6. Bracket exit (a position with a stop-loss and/or a take-profit): each leg fills by rules 3-4.
   When one bar touches both, the STOP-LOSS is taken (the worse outcome) unless an intrabar
   `path` is supplied, in which case the level the path reaches first wins.
7. Intrabar path, for streaming quotes/trades out of a bar and for rule 6 with `path=`:
   O -> L -> H -> C when close >= open (a bar that ends up dipped first), else O -> H -> L -> C.
   Along a path, a level crossed between two points fills at the level; a level already passed at
   the first point (a gap) fills at that point: the same rules as 3-4, so both agree on OHLC.

Fill prices from rules 2-4 always lie within [low, high] and are never worse than a limit nor
better than a stop. Slippage and fees are the caller's (`with_slippage` keeps the sign rule here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum

__all__ = [
    "STOP_LOSS",
    "TAKE_PROFIT",
    "InvalidBar",
    "OrderKind",
    "Side",
    "bracket_exit",
    "check_bar",
    "fill_on_path",
    "fill_price",
    "intrabar_path",
    "limit_fill",
    "stop_fill",
    "trail_initial_level",
    "trail_stop_level",
    "trailing_stop_step",
    "with_slippage",
]

STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"


class Side(IntEnum):
    """Mirrors ProjectX OrderSide: 0 = Bid (buy), 1 = Ask (sell)."""

    BUY = 0
    SELL = 1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderKind(IntEnum):
    """The order types we match; values mirror ProjectX OrderType on the wire."""

    LIMIT = 1
    MARKET = 2
    STOP = 4
    TRAILING_STOP = 5


class InvalidBar(ValueError):
    """An OHLC bar whose high/low do not bracket its open and close."""


# Plain-int aliases: comparing an IntEnum member to an int is an int comparison, and module
# globals are cheaper to load than enum attribute lookups in the hot path.
_BUY = 0
_SELL = 1
_MARKET = 2
_LIMIT = 1
_STOP = 4
_TRAILING = 5


def check_bar(o: int, h: int, l: int, c: int) -> None:  # noqa: E741 (l is the bar's low)
    """Raise InvalidBar unless low <= open, close <= high."""
    if not (l <= o <= h and l <= c <= h):
        raise InvalidBar(f"bar o={o} h={h} l={l} c={c}: high/low must bracket open and close")


def limit_fill(
    side: int,
    o: int,
    h: int,
    l: int,  # noqa: E741
    limit: int,
    touch_fills: bool = True,
) -> int | None:
    """Rule 3: the fill price of a limit order on this bar, or None."""
    if side == _BUY:
        if l < limit or (touch_fills and l == limit):
            return o if o < limit else limit
        return None
    if h > limit or (touch_fills and h == limit):
        return o if o > limit else limit
    return None


def stop_fill(side: int, o: int, h: int, l: int, stop: int) -> int | None:  # noqa: E741
    """Rule 4: the fill price of a stop (market-on-trigger) order on this bar, or None."""
    if side == _BUY:
        if h >= stop:
            return o if o > stop else stop
        return None
    if l <= stop:
        return o if o < stop else stop
    return None


def fill_price(
    kind: int,
    side: int,
    o: int,
    h: int,
    l: int,  # noqa: E741
    c: int,
    *,
    limit_ticks: int | None = None,
    stop_ticks: int | None = None,
    touch_fills: bool = True,
) -> int | None:
    """The fill price in ticks of one order on one bar (rules 2-5), or None for no fill.

    For TRAILING_STOP pass the level in force at the bar's start as `stop_ticks`, then ratchet it
    with `trail_stop_level` (or use `trailing_stop_step`, which does both). `c` is unused by the
    rules but kept so every caller passes a whole bar.
    """
    if kind == _MARKET:
        return o
    if kind == _LIMIT:
        if limit_ticks is None:
            raise ValueError("a LIMIT order needs limit_ticks")
        return limit_fill(side, o, h, l, limit_ticks, touch_fills)
    if kind in (_STOP, _TRAILING):
        if stop_ticks is None:
            raise ValueError(f"a {OrderKind(kind).name} order needs stop_ticks")
        return stop_fill(side, o, h, l, stop_ticks)
    raise ValueError(f"unsupported order kind {kind!r}")


def trail_initial_level(side: int, reference: int, trail_ticks: int) -> int:
    """The first level of a trailing stop `trail_ticks` away from `reference` (e.g. the entry fill).

    A SELL trailing stop protects a long, so it sits below the price; a BUY one sits above.
    """
    if trail_ticks <= 0:
        raise ValueError(f"trail distance must be a positive number of ticks, got {trail_ticks}")
    return reference - trail_ticks if side == _SELL else reference + trail_ticks


def trail_stop_level(side: int, level: int, h: int, l: int, trail_ticks: int) -> int:  # noqa: E741
    """Rule 5: the level after a bar, ratcheted from its favourable extreme; never loosens."""
    if side == _SELL:
        candidate = h - trail_ticks
        return candidate if candidate > level else level
    candidate = l + trail_ticks
    return candidate if candidate < level else level


def trailing_stop_step(
    side: int,
    level: int,
    o: int,
    h: int,
    l: int,  # noqa: E741
    trail_ticks: int,
) -> tuple[int | None, int]:
    """Rule 5 on one bar: (fill price or None, the level for the next bar).

    The fill is checked against `level` (in force at the bar's start) BEFORE ratcheting. After a
    fill the returned level is irrelevant (the order is done).
    """
    filled = stop_fill(side, o, h, l, level)
    if filled is not None:
        return filled, level
    return None, trail_stop_level(side, level, h, l, trail_ticks)


def bracket_exit(
    position_side: int,
    o: int,
    h: int,
    l: int,  # noqa: E741
    c: int,
    *,
    stop_ticks: int | None,
    target_ticks: int | None,
    path: Sequence[int] | None = None,
) -> tuple[str, int] | None:
    """Rule 6: does this bar close the position through its stop-loss or take-profit?

    `position_side` is the side of the OPEN POSITION (BUY = long). Either leg may be None. Returns
    (`"stop_loss"` | `"take_profit"`, fill price in ticks) or None. When the bar touches both legs
    the stop-loss wins, unless `path` (e.g. `intrabar_path(o, h, l, c)` or real trade prices
    within the bar) says which level was reached first.
    """
    exit_side = _SELL if position_side == _BUY else _BUY
    if (
        stop_ticks is not None
        and target_ticks is not None
        and (stop_ticks >= target_ticks if position_side == _BUY else stop_ticks <= target_ticks)
    ):
        raise ValueError(
            f"bracket stop {stop_ticks} must be on the losing side of target {target_ticks} "
            f"for a {'long' if position_side == _BUY else 'short'} position"
        )
    if path is not None:
        return _bracket_on_path(exit_side, path, stop_ticks, target_ticks)
    stop_px = None if stop_ticks is None else stop_fill(exit_side, o, h, l, stop_ticks)
    if stop_px is not None:
        return STOP_LOSS, stop_px  # taken first when both are touched: the conservative outcome
    if target_ticks is None:
        return None
    target_px = limit_fill(exit_side, o, h, l, target_ticks)
    return None if target_px is None else (TAKE_PROFIT, target_px)


def _bracket_on_path(
    exit_side: int, path: Sequence[int], stop_ticks: int | None, target_ticks: int | None
) -> tuple[str, int] | None:
    if not path:
        raise ValueError("an intrabar path needs at least one price")
    prev = path[0]
    # At the first point, a level already passed fills at that point (a gap through it).
    if stop_ticks is not None and (
        prev <= stop_ticks if exit_side == _SELL else prev >= stop_ticks
    ):
        return STOP_LOSS, prev
    if target_ticks is not None and (
        prev >= target_ticks if exit_side == _SELL else prev <= target_ticks
    ):
        return TAKE_PROFIT, prev
    for price in path[1:]:
        # Between two points the price moves continuously: it reaches a level exactly.
        if stop_ticks is not None and (
            price <= stop_ticks if exit_side == _SELL else price >= stop_ticks
        ):
            return STOP_LOSS, stop_ticks
        if target_ticks is not None and (
            price >= target_ticks if exit_side == _SELL else price <= target_ticks
        ):
            return TAKE_PROFIT, target_ticks
    return None


def intrabar_path(o: int, h: int, l: int, c: int) -> tuple[int, int, int, int]:  # noqa: E741
    """Rule 7: the assumed price path through a bar, always four points.

    O -> L -> H -> C when close >= open, else O -> H -> L -> C. Consecutive points may be equal
    (e.g. open == low); consumers streaming quotes may skip repeats.
    """
    if c >= o:
        return (o, l, h, c)
    return (o, h, l, c)


def fill_on_path(
    kind: int,
    side: int,
    path: Sequence[int],
    *,
    limit_ticks: int | None = None,
    stop_ticks: int | None = None,
    touch_fills: bool = True,
) -> int | None:
    """Rules 2-4 along a price path (streamed trades, or `intrabar_path`): the fill price or None.

    The first point plays the open: market orders fill there, and a level it has already passed
    fills at it (gap). A level crossed later fills exactly at the level. On a four-point
    `intrabar_path` this gives the same answer as `fill_price` on the bar.
    """
    if not path:
        raise ValueError("a price path needs at least one price")
    first = path[0]
    if kind == _MARKET:
        return first
    if kind == _LIMIT:
        if limit_ticks is None:
            raise ValueError("a LIMIT order needs limit_ticks")
        level, is_better = limit_ticks, _limit_reached(side, touch_fills)
    elif kind in (_STOP, _TRAILING):
        if stop_ticks is None:
            raise ValueError(f"a {OrderKind(kind).name} order needs stop_ticks")
        level = stop_ticks
        is_better = _ge if side == _BUY else _le
    else:
        raise ValueError(f"unsupported order kind {kind!r}")
    if is_better(first, level):
        return first  # already at or through the level when the path starts: a gap fills here
    for price in path[1:]:
        if is_better(price, level):
            return level
    return None


def _limit_reached(side: int, touch_fills: bool) -> Callable[[int, int], bool]:
    if side == _BUY:
        return _le if touch_fills else _lt
    return _ge if touch_fills else _gt


def _le(p: int, level: int) -> bool:
    return p <= level


def _lt(p: int, level: int) -> bool:
    return p < level


def _ge(p: int, level: int) -> bool:
    return p >= level


def _gt(p: int, level: int) -> bool:
    return p > level


def with_slippage(side: int, price: int, slippage_ticks: int) -> int:
    """`price` moved `slippage_ticks` against the trader: buys pay more, sells receive less.

    The result may fall outside the bar's range: slippage models liquidity, not the tape.
    """
    return price + slippage_ticks if side == _BUY else price - slippage_ticks
