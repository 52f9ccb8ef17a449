"""Several strategies on one account, as one strategy the runtime drives.

Rules:
- One contract, one owner: while a strategy has a working entry or an open position, entries from
  the others are refused (the broker nets positions per contract, so two strategies would fight).
- A strategy may open only in the regimes it lists, as judged by the market-condition filter.
- Trades and decisions are attributed by tag: every tag a child sends goes out as ``"<name>/<tag>"``
  and fills come back to the child that owns the prefix, with the prefix removed.
- Every decision is recorded with its reason (``decisions``), including refusals, so the journal can
  show why a signal was not traded. A refused entry is answered to the child as a rejected
  ``OrderUpdate``, exactly as a broker refusal would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

from strategies.engine.base import Context, IndicatorSpec, Strategy, Wake
from strategies.engine.events import Event, Fill, OrderUpdate
from strategies.engine.intents import CancelOrder, Flatten, Intent, ModifyStop, PlaceBracket
from strategies.engine.params import ParamSchema
from strategies.engine.regime import MarketRegimeFilter

FILTER = "regime"


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    ts: int
    strategy: str
    action: str  # "allowed" | "blocked"
    tag: str
    reason: str


class _Child:
    __slots__ = ("ctx", "name", "open_tag", "strategy", "working")

    def __init__(self, name: str, strategy: Strategy) -> None:
        self.name = name
        self.strategy = strategy
        self.ctx: Context | None = None
        self.working: set[str] = set()
        self.open_tag: str | None = None

    @property
    def is_active(self) -> bool:
        return bool(self.working) or self.open_tag is not None


class StrategyManager(Strategy):
    kind = "manager"
    schema: ClassVar[ParamSchema] = ParamSchema([])
    regimes = frozenset()

    def __init__(
        self, strategies: Mapping[str, Strategy], regime_filter: MarketRegimeFilter | None = None
    ) -> None:
        super().__init__({})
        bad = [name for name in strategies if "/" in name or not name]
        if bad or not strategies:
            raise ValueError(f"strategy names must be non-empty and free of '/': {bad or 'none'}")
        self._children = {name: _Child(name, s) for name, s in strategies.items()}
        self._filter = regime_filter
        self._filter_ctx: Context | None = None
        self.decisions: list[DecisionRecord] = []

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        specs = [
            replace(spec, name=f"{name}/{spec.name}")
            for name, child in self._children.items()
            for spec in child.strategy.indicators()
        ]
        if self._filter is not None:
            specs.extend(
                replace(spec, name=f"{FILTER}/{spec.name}") for spec in self._filter.indicators()
            )
        return tuple(specs)

    def owner(self) -> str | None:
        """The strategy that holds the contract (working entry or position), if any."""
        return next((c.name for c in self._children.values() if c.is_active), None)

    # -- events ---------------------------------------------------------------------------------

    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        if isinstance(event, Fill | OrderUpdate):
            name, _, tag = event.tag.partition("/")
            child = self._children.get(name)
            if child is None:
                return []
            local = replace(event, tag=tag)
            self._track(child, local)
            return self._run(child, local, ctx)
        out: list[Intent] = []
        for child in self._children.values():
            out.extend(self._run(child, event, ctx))
        return out

    def _context(self, child: _Child, ctx: Context) -> Context:
        if child.ctx is None:
            child.ctx = ctx.child(child.name)
        child.ctx.ts = ctx.ts
        child.ctx.position = ctx.position if child.open_tag is not None else 0
        return child.ctx

    def _run(self, child: _Child, event: Event, ctx: Context) -> list[Intent]:
        out: list[Intent] = []
        pending: list[Event] = [event]
        while pending:
            intents = child.strategy.on_event(pending.pop(0), self._context(child, ctx))
            for intent in intents:
                if isinstance(intent, Flatten) and not child.is_active:
                    continue  # the runtime's flatten is account-wide: never flatten another's
                refused = self._gate(child, intent, ctx)
                if refused is None:
                    out.append(self._prefixed(child, intent))
                else:
                    pending.append(refused)
        return out

    def _gate(self, child: _Child, intent: Intent, ctx: Context) -> OrderUpdate | None:
        """None if the intent may go out; else the rejection to hand back to the child."""
        if not isinstance(intent, PlaceBracket):
            return None
        owner = self.owner()
        reason = None
        if owner is not None and owner != child.name:
            reason = f"contract held by {owner}"
        elif self._filter is not None:
            if self._filter_ctx is None:
                self._filter_ctx = ctx.child(FILTER)
            self._filter_ctx.ts = ctx.ts
            allowed, why = self._filter.allows(child.strategy.regimes, self._filter_ctx)
            if not allowed:
                reason = f"{why} not in {sorted(child.strategy.regimes)}"
        if reason is None:
            child.working.add(intent.tag)
            self._record(ctx, child, "allowed", intent.tag, intent.reason)
            return None
        self._record(ctx, child, "blocked", intent.tag, reason)
        return OrderUpdate(ctx.ts, intent.tag, "rejected", reason)

    def _record(self, ctx: Context, child: _Child, action: str, tag: str, reason: str) -> None:
        self.decisions.append(DecisionRecord(ctx.ts, child.name, action, tag, reason))
        ctx.note(f"{child.name}: {action} {tag}: {reason}")

    @staticmethod
    def _prefixed(child: _Child, intent: Intent) -> Intent:
        if isinstance(intent, PlaceBracket):
            group = None if intent.oco_group is None else f"{child.name}/{intent.oco_group}"
            return replace(intent, tag=f"{child.name}/{intent.tag}", oco_group=group)
        if isinstance(intent, ModifyStop | CancelOrder):
            return replace(intent, tag=f"{child.name}/{intent.tag}")
        if isinstance(intent, Flatten):
            return intent
        raise TypeError(f"unknown intent {intent!r}")

    @staticmethod
    def _track(child: _Child, event: Fill | OrderUpdate) -> None:
        if isinstance(event, OrderUpdate):
            child.working.discard(event.tag)
        elif event.role == "entry":
            child.working.discard(event.tag)
            child.open_tag = event.tag
        elif event.tag == child.open_tag:
            child.open_tag = None

    def wake(self, ctx: Context) -> Wake:
        result = Wake()
        for child in self._children.values():
            result = result.merge(child.strategy.wake(self._context(child, ctx)))
        return result
