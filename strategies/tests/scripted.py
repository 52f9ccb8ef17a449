"""A scripted test strategy: sends given intents at given times, records what it is told."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from strategies.engine.base import Context, Strategy, Wake
from strategies.engine.events import Bars, Clock, Event
from strategies.engine.intents import Intent
from strategies.engine.params import ParamSchema


class Scripted(Strategy):
    """At each time in ``script`` (epoch seconds) send its intents (on the Clock at that time)."""

    kind = "scripted"
    schema: ClassVar[ParamSchema] = ParamSchema([])

    def __init__(
        self,
        script: Sequence[tuple[int, Sequence[Intent]]],
        regimes: frozenset[str] = frozenset({"trending", "ranging", "neutral", "unknown"}),
    ) -> None:
        super().__init__({})
        self.regimes = regimes  # type: ignore[misc]
        self.script = sorted(script, key=lambda item: item[0])
        self.events: list[Event] = []

    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        if not isinstance(event, Bars):
            self.events.append(event)
        if isinstance(event, Clock) and self.script and event.ts >= self.script[0][0]:
            return list(self.script.pop(0)[1])
        return []

    def wake(self, ctx: Context) -> Wake:
        return Wake(at=self.script[0][0]) if self.script else Wake()
