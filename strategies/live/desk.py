"""One account's strategies on one contract, driven live: the pure core of the live runtime.

A ``Desk`` runs every enabled strategy configuration of an (account, contract) pair as one
``StrategyManager`` (children named ``c<config id>``, so tags say which configuration owns a trade)
inside a ``LiveRunner``. It is fed what the platform knows - closed bars, the fills of the account on
the contract, the desk's entries that ended without a fill - and answers with the intents to carry
out. It never touches the database, the broker or the clock (``strategies/live/steps.py`` does),
so it pickles between steps and replays deterministically.

Feeding follows the backtester (``strategies/backtest/engine.py``): what happened during a bar
(fills, cancellations) reaches the strategy before that bar's close; a trading date opens with its
first bar and closes when the next date's first bar arrives or its session has ended.

**Catching up.** A new desk (first enabled, parameters changed, or its saved state unreadable) is
warmed on history. Intents decided before ``live_from`` are not carried out: a placement whose tag
the broker already knows (``known_tags``) is taken as real, any other is answered as rejected
("decided before the strategy was live"), and the rest are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from markets.fills import Side
from markets.sessions import trading_date
from strategies.engine.base import Strategy
from strategies.engine.intents import Intent, PlaceBracket
from strategies.engine.manager import StrategyManager
from strategies.engine.regime import MarketRegimeFilter
from strategies.engine.runner import LiveRunner

BAR_SECONDS = 60
NOT_LIVE = "decided before the strategy was live"
_MAX_CHAIN = 64


@dataclass(frozen=True, slots=True)
class Bar:
    ts: int  # open, epoch seconds UTC
    open: int  # prices in ticks
    high: int
    low: int
    close: int
    volume: int


@dataclass(frozen=True, slots=True)
class FillFact:
    """One broker fill on the contract. ``tag`` is the desk's bracket tag, None for a fill of an
    order the desk did not send (a manual trade, the end-of-day or risk flatten)."""

    id: int
    ts: int
    tag: str | None
    role: str  # entry | stop_loss | take_profit | flatten
    side: Side
    qty: int
    price: int


@dataclass(frozen=True, slots=True)
class OrderEnd:
    """A desk entry that finished without any fill: cancelled, rejected or expired."""

    tag: str
    ts: int
    status: str
    reason: str


def child_name(config_id: int) -> str:
    return f"c{config_id}"


def config_id_of(tag_or_name: str) -> int | None:
    """The configuration a tag (``c12/...``) or strategy name (``c12``) belongs to."""
    head = tag_or_name.partition("/")[0]
    return int(head[1:]) if head.startswith("c") and head[1:].isdigit() else None


def _date_of(ts: int) -> date:
    return trading_date(datetime.fromtimestamp(ts, UTC))


class Desk:
    def __init__(
        self,
        strategies: dict[int, Strategy],
        *,
        signature: str,
        live_from: int,
        tick_size: Decimal | None = None,
    ) -> None:
        children = {child_name(pk): s for pk, s in sorted(strategies.items())}
        regime = MarketRegimeFilter() if len(children) > 1 else None
        manager = StrategyManager(children, regime)
        self.runner = LiveRunner(manager, name="desk", tick_size=tick_size)  # reasons in prices
        self.signature = signature
        self.live_from = live_from
        self.known_tags: frozenset[str] = frozenset()
        self.bars_through = 0  # close of the last bar fed
        self.session_close_at: int | None = None
        self.seen_fills: set[int] = set()
        self.seen_ends: set[str] = set()
        self.open_tag: str | None = None
        self.position = 0
        self._notes_taken = 0

    # -- feeding --------------------------------------------------------------------------------

    def step(
        self,
        bars: list[Bar],
        fills: list[FillFact],
        ends: list[OrderEnd],
        now: int,
        *,
        session_close_at: int | None = None,
    ) -> list[Intent]:
        """Feed what is new (already-seen facts and bars are skipped) and return the intents to
        carry out; ``session_close_at`` is when the current trading date's session ends."""
        if session_close_at is not None:
            self.session_close_at = session_close_at
        events = sorted(
            [(f.ts, 0, f) for f in fills if f.id not in self.seen_fills]
            + [(e.ts, 1, e) for e in ends if e.tag not in self.seen_ends],
            key=lambda item: (item[0], item[1]),
        )
        out: list[Intent] = []
        k = 0
        for bar in bars:
            end = bar.ts + BAR_SECONDS
            if end <= self.bars_through:
                continue
            while k < len(events) and events[k][0] < end:
                out += self._fact(events[k][2])
                k += 1
            out += self._bar(bar)
        for _, _, fact in events[k:]:
            out += self._fact(fact)
        if self.session_close_at is not None and now >= self.session_close_at:
            out += self._close_session(self.session_close_at)
        out += self._live(self.runner.on_clock(now), now)
        return out

    def note(self, ts: int, text: str) -> None:
        """A decision of the runtime itself, not of a strategy (e.g. a rebuild), for the journal."""
        self.runner.notes.append((ts, "desk", text))

    def take_notes(self) -> list[tuple[int, str, str]]:
        """Decisions without intents recorded since the last call (for the journal)."""
        notes = self.runner.notes[self._notes_taken :]
        self._notes_taken = len(self.runner.notes)
        # Of the warm-up on history, only what was not carried out concerns the journal.
        return [n for n in notes if n[0] >= self.live_from or NOT_LIVE in n[2]]

    def _bar(self, bar: Bar) -> list[Intent]:
        out: list[Intent] = []
        day = _date_of(bar.ts)
        runner = self.runner
        if runner.trading_date != day:
            if runner.trading_date is not None:
                out += self._close_session(self.bars_through)
            out += self._live(runner.on_session_open(bar.ts, day), bar.ts)
        end = bar.ts + BAR_SECONDS
        self.bars_through = end
        intents = runner.on_bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
        return out + self._live(intents, end)

    def _close_session(self, ts: int) -> list[Intent]:
        self.session_close_at = None
        if self.runner.trading_date is None:
            return []
        return self._live(self.runner.on_session_close(ts), ts)

    def _fact(self, fact: FillFact | OrderEnd) -> list[Intent]:
        runner = self.runner
        if isinstance(fact, OrderEnd):
            self.seen_ends.add(fact.tag)
            intents = runner.on_order_update(fact.ts, fact.tag, fact.status, fact.reason)
            return self._live(intents, fact.ts)
        self.seen_fills.add(fact.id)
        tag, role = fact.tag, fact.role
        if tag is None:  # someone else traded the contract: only a close of ours matters
            closes = self.position * (1 if fact.side == Side.SELL else -1) > 0
            if self.open_tag is None or not closes:
                return []
            tag, role = self.open_tag, "flatten"
        signed = fact.qty if fact.side == Side.BUY else -fact.qty
        self.position += signed
        if role == "entry":
            self.open_tag = tag
        elif self.position == 0:
            self.open_tag = None
        runner.set_position(self.position)
        intents = runner.on_fill(fact.ts, tag, role, fact.side, fact.qty, fact.price)
        return self._live(intents, fact.ts)

    # -- catching up ----------------------------------------------------------------------------

    def _live(self, intents: list[Intent], ts: int) -> list[Intent]:
        """Intents to carry out; before ``live_from`` none are (see the module docstring)."""
        if ts >= self.live_from or not intents:
            return intents
        pending = list(intents)
        for _ in range(_MAX_CHAIN):
            if not pending:
                return []
            intent = pending.pop(0)
            if isinstance(intent, PlaceBracket) and intent.tag not in self.known_tags:
                owner = intent.tag.partition("/")[0]
                self.runner.notes.append((ts, owner, f"{intent.tag} not placed: {NOT_LIVE}"))
                pending += self.runner.on_order_update(ts, intent.tag, "rejected", NOT_LIVE)
        return []
