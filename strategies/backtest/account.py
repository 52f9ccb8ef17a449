"""The TopStep account during a backtest: ``execution.risk`` state and rules, nothing re-decided here.

Pre-trade checks use ``risk.check_order``; after every realised P&L, ``risk.mark_equity`` and
``risk.assess`` say whether the daily loss limit (soft: locked for the rest of the day) or the
maximum loss limit (hard: the account failed) was reached; ``risk.roll_trading_day`` closes each
day. What this module adds is the translation of the account's remaining loss allowance into price
levels for an open position, so the engine can find the bar that would breach a limit with the same
vectorised search it uses for stops (``RiskLevels``): the position is liquidated there like a stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType

from execution import risk
from markets.fills import OrderKind, Side
from markets.ticks import ContractSpec


@dataclass(frozen=True, slots=True)
class RiskLevels:
    """Where an open position reaches a loss limit, in price ticks.

    For a long the limit is reached when the low is at or below ``level(best)``; for a short when
    the high is at or above it. ``best`` is the best price since entry, before the bar (an
    intraday-trailing maximum loss floor rises with open profit, like a trailing stop):
    long: ``max(fixed, min(best - trail, lock))``; short: ``min(fixed, max(best + trail, lock))``.
    ``trail`` is None when the floor does not trail intraday.
    """

    fixed: int | None
    trail: int | None
    lock: int | None

    def level(self, side: int, best: int) -> int | None:
        if self.trail is None:
            return self.fixed
        if side == Side.BUY:
            moving = (
                min(best - self.trail, self.lock) if self.lock is not None else best - self.trail
            )
            return moving if self.fixed is None else max(self.fixed, moving)
        moving = max(best + self.trail, self.lock) if self.lock is not None else best + self.trail
        return moving if self.fixed is None else min(self.fixed, moving)


@dataclass(frozen=True, slots=True)
class Placement:
    """An entry a strategy asked for (what the rules would have judged)."""

    ts: int
    side: int
    qty: int
    stop_loss_ticks: int | None


@dataclass(slots=True)
class DayTrace:
    """One session of a run without rules, as an evaluation needs it to re-decide the day under
    a plan: the entries asked for, and the highest equity reached over the day's opening balance
    (open profit included, as ``mark_best`` sees it; what an intraday-trailing floor follows)."""

    trading_date: date
    placements: list[Placement] = field(default_factory=list)
    high_usd: Decimal = Decimal(0)


# Only to open a balance at 0 when no rules apply; never consulted for a decision.
_UNRESTRICTED = risk.RiskLimits(
    starting_balance_usd=Decimal(0), max_loss_limit_usd=Decimal(1), max_contracts=1
)


class Account:
    """Risk state of one simulated account; money in Decimal dollars.

    ``limits=None`` is a strategy's own performance: no account rule applies (no loss limits, no
    position cap, no entry refusals); the balance starts at 0 and only books P&L.
    """

    def __init__(
        self,
        limits: risk.RiskLimits | None,
        contract: ContractSpec,
        opening: risk.AccountRiskState | None = None,
    ) -> None:
        self.limits = limits
        self.contract = contract
        self.state = opening or risk.AccountRiskState.opening(limits or _UNRESTRICTED)
        self.traces: list[DayTrace] = []  # kept without rules only
        self._day_open = self.state.balance_usd
        self.failed_on: date | None = None
        self.failure_reason: str | None = None
        self.daily_limit_days: list[date] = []
        self.refused_entries = 0
        self.first_refused_on: date | None = None
        self._day: date | None = None

    @property
    def balance_usd(self) -> Decimal:
        return self.state.balance_usd

    def start_day(self, trading_date: date) -> None:
        self._day = trading_date
        if self.limits is None:
            self.traces.append(DayTrace(trading_date))
            self._day_open = self.state.balance_usd

    def end_day(self, trading_date: date) -> None:
        if self.limits is None:
            return
        self.state = risk.roll_trading_day(self.limits, self.state, self.state.balance_usd)

    def entry_refusal(
        self, side: int, qty: int, ts: int, *, stop_loss_ticks: int | None, fee_usd: Decimal
    ) -> str | None:
        """Why ``check_order`` refuses a new entry now, or None (the live gate's rules, including
        the stop-out that alone would reach a loss limit). Refusals are counted, with the first day."""
        if self.limits is None and self.traces:
            self.traces[-1].placements.append(Placement(ts, side, qty, stop_loss_ticks))
        reason = self._refusal(side, qty, ts, stop_loss_ticks=stop_loss_ticks, fee_usd=fee_usd)
        if reason is not None:
            self.refused_entries += 1
            if self.first_refused_on is None:
                self.first_refused_on = self._day
        return reason

    def _refusal(
        self, side: int, qty: int, ts: int, *, stop_loss_ticks: int | None, fee_usd: Decimal
    ) -> str | None:
        if self.limits is None:
            return None
        if self.state.lock_reason is not None:
            return f"account locked ({self.state.lock_reason})"
        decision = self.entry_decision(
            side, qty, ts, stop_loss_ticks=stop_loss_ticks, fee_usd=fee_usd
        )
        if decision.allowed:
            return None
        return "; ".join(v.message for v in decision.violations)

    def entry_decision(
        self, side: int, qty: int, ts: int, *, stop_loss_ticks: int | None, fee_usd: Decimal
    ) -> risk.RiskDecision:
        """``check_order`` on an entry as the backtest sends it (a market bracket)."""
        assert self.limits is not None
        max_loss = risk.trade_risk_usd(
            stop_loss_ticks=stop_loss_ticks,
            size=qty,
            tick_value_usd=self.contract.tick_value,
            fee_per_side_usd=fee_usd,
        )
        proposed = risk.ProposedOrder(
            self.contract.symbol, Side(side), qty, OrderKind.MARKET, max_loss_usd=max_loss
        )
        return risk.check_order(self.limits, self.state, proposed, datetime.fromtimestamp(ts, UTC))

    def realize(self, gross_usd: Decimal, fees_usd: Decimal) -> risk.RiskAssessment | None:
        """Book a closed trade; lock the account if a limit is reached (None: no rules apply)."""
        state = self.state
        state = replace(
            state,
            balance_usd=state.balance_usd + gross_usd - fees_usd,
            realized_pnl_usd=state.realized_pnl_usd + gross_usd,
            fees_usd=state.fees_usd + fees_usd,
            unrealized_pnl_usd=Decimal(0),
            positions=MappingProxyType({}),
        )
        if self.limits is None:
            self.state = state
            self._trace_high(state.balance_usd)
            return None
        state = risk.mark_equity(self.limits, state)
        verdict = risk.assess(self.limits, state)
        if verdict.lock_reason is not None:
            state = risk.with_lock(state, verdict.lock_reason)
            if verdict.lock_reason == risk.LockReason.MAX_LOSS and self.failed_on is None:
                self.failed_on = self._day
                self.failure_reason = verdict.message
            elif (
                verdict.lock_reason == risk.LockReason.DAILY_LOSS
                and self._day not in self.daily_limit_days
            ):
                self.daily_limit_days.append(self._day)  # type: ignore[arg-type]
        self.state = state
        return verdict

    def mark_best(self, side: int, entry: int, best: int, qty: int) -> None:
        """INTRADAY mode: the equity high of an open position raises the floor (``mark_equity``)."""
        sign = 1 if side == Side.BUY else -1
        open_pnl = (best - entry) * sign * qty * self.contract.tick_value
        if self.limits is None:
            self._trace_high(self.state.balance_usd + open_pnl)
            return
        if self.limits.mll_mode != risk.MllMode.INTRADAY:
            return
        if open_pnl <= 0:
            return
        marked = risk.mark_equity(self.limits, replace(self.state, unrealized_pnl_usd=open_pnl))
        self.state = replace(marked, unrealized_pnl_usd=Decimal(0))

    def _trace_high(self, equity: Decimal) -> None:
        if self.traces:
            trace = self.traces[-1]
            trace.high_usd = max(trace.high_usd, equity - self._day_open)

    def levels(self, side: int, entry: int, qty: int, round_trip_fees: Decimal) -> RiskLevels:
        """Price levels at which the open position would reach the DLL or the MLL floor."""
        state, limits = self.state, self.limits
        if limits is None:
            return RiskLevels(None, None, None)
        per_tick = qty * self.contract.tick_value
        sign = 1 if side == Side.BUY else -1
        candidates: list[int] = []
        # DLL: realised - fees - round trip + open <= -DLL.
        if limits.daily_loss_limit_usd is not None:
            allowance = (
                limits.daily_loss_limit_usd
                + state.realized_pnl_usd
                - state.fees_usd
                - round_trip_fees
            )
            candidates.append(entry + sign * math.floor(-allowance / per_tick))
        # MLL: balance - round trip + open <= floor (the floor in force now).
        floor = risk.assess(limits, state).mll_floor_usd  # the floor in force now
        base = state.balance_usd - round_trip_fees
        candidates.append(entry + sign * math.floor((floor - base) / per_tick))
        fixed = max(candidates) if sign == 1 else min(candidates)
        if limits.mll_mode != risk.MllMode.INTRADAY or floor >= limits.lock_balance_usd:
            return RiskLevels(fixed, None, None)
        # Intraday trailing: the floor follows (balance + open profit) - MLL up to the lock.
        trail = math.ceil((limits.max_loss_limit_usd - round_trip_fees) / per_tick)
        lock = entry + sign * math.floor((limits.lock_balance_usd - base) / per_tick)
        return RiskLevels(fixed, max(trail, 0), lock)
