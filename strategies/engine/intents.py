"""What a strategy asks for. The runtime (backtester, simulator runner, live runner) carries it out.

Prices are absolute integer ticks (``price // tick_size``); bracket legs are distances in ticks from the
entry's fill price, as the gateway's ``stopLossBracket``/``takeProfitBracket`` take them. Every intent
carries a ``reason`` so the journal can say why it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from markets.fills import OrderKind, Side


@dataclass(frozen=True, slots=True)
class PlaceBracket:
    """An entry order with an attached stop-loss and optional take-profit.

    ``entry_price`` is the stop price for ``OrderKind.STOP``, the limit for ``OrderKind.LIMIT`` and
    ``None`` for ``OrderKind.MARKET``. Brackets sharing an ``oco_group`` cancel each other: when one
    entry fills, the others are cancelled before they can fill (the broker's OCO).
    """

    tag: str
    side: Side
    qty: int
    kind: OrderKind
    entry_price: int | None
    stop_loss_ticks: int
    take_profit_ticks: int | None
    reason: str
    oco_group: str | None = None


@dataclass(frozen=True, slots=True)
class ModifyStop:
    """Move the stop-loss of the open bracket ``tag`` to ``stop_price`` (absolute ticks)."""

    tag: str
    stop_price: int
    reason: str


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel the working (unfilled) entry of bracket ``tag``."""

    tag: str
    reason: str


@dataclass(frozen=True, slots=True)
class Flatten:
    """Cancel every working order of the strategy and close its position at market."""

    reason: str


Intent = PlaceBracket | ModifyStop | CancelOrder | Flatten
