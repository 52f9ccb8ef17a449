"""The strategy contract shared by the backtester, the simulator runner and the live runner.

A strategy is a deterministic object: it is fed events (``events``) and answers with intents
(``intents``). It never calls the broker, the database or the wall clock; the time is the event's.

**Waking.** After each event the runtime asks ``wake(ctx)``: what could make the strategy act next.
Live, every bar is delivered anyway; the backtester uses the answer to jump over idle bars with numpy
and hands the skipped span over as one aggregated ``Bars`` event. The contract that makes both paths
give identical results: *a strategy may only change its state or send intents on a* ``Bars`` *event
whose span reaches its wake* (time ``at`` reached, ``above`` touched by a high, ``below`` touched by a
low), or on any non-``Bars`` event. On other ``Bars`` events it may only accumulate aggregates (max of
highs, min of lows, last close, ...), which are the same whether bars come one by one or as a span.
Fills, order updates and session open/close always wake the strategy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from markets.ticks import price_text
from strategies.engine.events import Event
from strategies.engine.intents import Intent
from strategies.engine.params import ParamSchema, ParamValue

SESSION_BARS = 1440
"""``IndicatorSpec.bar_minutes`` value meaning one bar per trading session (daily bars)."""


@dataclass(frozen=True, slots=True)
class Wake:
    """What would make the strategy act: a time, a price level touched, or every bar.

    ``at`` is epoch seconds UTC; ``above``/``below`` are price ticks (a bar wakes the strategy when its
    high >= ``above`` or its low <= ``below``). ``Wake()`` means "only on fills and session events".
    """

    at: int | None = None
    above: int | None = None
    below: int | None = None
    every_bar: bool = False

    def merge(self, other: Wake) -> Wake:
        """The earliest of two wakes (used by the manager to run several strategies as one)."""
        return Wake(
            at=_min(self.at, other.at),
            above=_min(self.above, other.above),
            below=_max(self.below, other.below),
            every_bar=self.every_bar or other.every_bar,
        )


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


NO_WAKE = Wake()


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """An indicator a strategy reads through ``Context.indicator(name)``.

    ``kind`` is one of ``atr``, ``rsi``, ``sma``, ``ema``, ``adx`` computed on bars of ``bar_minutes``
    (aligned to UTC epoch multiples; ``SESSION_BARS`` means one bar per trading session). Values are
    floats in ticks (ATR, MA) or points 0-100 (RSI, ADX) and are available once the indicator bar has
    closed (its end time has passed): a value never looks ahead.
    """

    name: str
    kind: str
    period: int
    bar_minutes: int = 1


class Context:
    """What the runtime tells a strategy besides the event: position and indicator values.

    Mutable and owned by the runtime; a strategy reads it and never keeps references to it.
    ``note(text)`` records a decision that produced no intent (e.g. "range too wide, no trade today")
    for the journal; ``price(ticks)`` writes a price or distance in it as traders read it (the
    contract's tick size is the runtime's: strategies think in ticks).
    """

    __slots__ = ("_indicator", "_notes", "position", "strategy", "tick_size", "ts")

    def __init__(
        self,
        strategy: str,
        indicator: Callable[[str, int], float | None],
        notes: list[tuple[int, str, str]],
        tick_size: Decimal | None = None,
    ) -> None:
        self.strategy = strategy
        self.ts = 0
        self.position = 0  # signed contracts held by this strategy
        self.tick_size = tick_size
        self._indicator = indicator
        self._notes = notes

    def price(self, ticks: int | float) -> str:
        """``ticks`` as a price ("6815.25"); in ticks only when no runtime gave a tick size."""
        if self.tick_size is None:
            return f"{ticks:.1f} ticks" if isinstance(ticks, float) else f"{ticks} ticks"
        return price_text(ticks, self.tick_size)

    def indicator(self, name: str) -> float | None:
        """Latest value of a declared indicator whose bar has closed by ``ts``; None while warming."""
        return self._indicator(name, self.ts)

    def note(self, text: str) -> None:
        self._notes.append((self.ts, self.strategy, text))

    def child(self, name: str) -> Context:
        """A context for a strategy run inside this one (the manager): its indicators are the
        parent's named ``"<name>/<indicator>"``; notes go to the same journal."""
        return Context(name, _Namespaced(self._indicator, name), self._notes, self.tick_size)


class _Namespaced:
    """A child's indicator lookup (a class, not a closure, so live runtimes can be pickled)."""

    __slots__ = ("lookup", "prefix")

    def __init__(self, lookup: Callable[[str, int], float | None], name: str) -> None:
        self.lookup = lookup
        self.prefix = f"{name}/"

    def __call__(self, indicator: str, now: int) -> float | None:
        return self.lookup(self.prefix + indicator, now)


class Strategy(ABC):
    """Base class of every strategy kind. Subclasses set ``kind``, ``schema`` and ``regimes``."""

    kind: ClassVar[str]
    schema: ClassVar[ParamSchema]
    regimes: ClassVar[frozenset[str]]
    """Market regimes (``strategies.engine.regime``) in which the manager lets it open positions."""

    def __init__(self, params: Mapping[str, object] | None = None) -> None:
        self.params: dict[str, ParamValue] = self.schema.validate(params)

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        """Indicators the runtime must provide; default none."""
        return ()

    @abstractmethod
    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        """React to one event; return the intents to carry out (often none)."""

    @abstractmethod
    def wake(self, ctx: Context) -> Wake:
        """What could make the strategy act next (see the module docstring)."""
