"""One evaluation attempt: a fresh account under a plan, day after day, until it passes, fails or
the days run out. Every rule comes from ``execution.risk``; nothing is re-decided here.

Each day is settled by arithmetic when that is exact, else by the caller's fallback (a replay of
the session under the plan from the attempt's state; a Monte Carlo path's days are real sessions
too, so they are replayed the same way):

- all the day's entries refused at the opening state: nothing happens (no trade, no P&L). Exact:
  without a trade the state stays put all day, so every entry meets the same refusal.
- all entries allowed even at the day's worst state (lowest equity, floor trailed to the day's
  high) and that worst state touches no loss limit: the day is the run without rules' day.
- otherwise the fallback decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from execution import risk
from markets.ticks import ContractSpec
from strategies.backtest.account import Account
from strategies.evaluation.days import Day

if TYPE_CHECKING:
    from strategies.evaluation.express import ExpressRun

_ZERO = Decimal(0)


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNFINISHED = "unfinished"


@dataclass(frozen=True, slots=True)
class Goal:
    """What passing means (the plan's profit target and consistency target)."""

    profit_target_usd: Decimal
    consistency_share: Decimal
    minimum_trading_days: int = 1


@dataclass(frozen=True, slots=True)
class DayResult:
    net_usd: Decimal
    trades: int
    refused: int
    state: risk.AccountRiskState  # after the day's close (rolled)
    headroom_usd: Decimal  # end-of-day balance over the floor (<= 0: failed)
    failed_reason: str | None = None
    daily_limit: bool = False
    replayed: bool = False


Settle = Callable[[risk.AccountRiskState, int], DayResult]
# How many days from k on are certainly idle in this state (every entry refused, or none asked),
# and how many entries they refuse. Such runs are skipped at once: an account stuck near its
# floor can sit out years of sessions.
Idle = Callable[[risk.AccountRiskState, int], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Attempt:
    start: date
    outcome: Outcome
    end: date | None  # the day it passed or failed
    sessions: int  # sessions from the start through the end (or the last day)
    trading_days: int
    profit_usd: Decimal
    min_headroom_usd: Decimal
    reason: str | None
    refused_entries: int
    daily_limit_days: int
    replayed_days: int
    equity_usd: tuple[Decimal, ...] = ()  # end-of-day profit, for fan charts
    floor_usd: tuple[Decimal, ...] = ()  # end-of-day floor over the start
    express: ExpressRun | None = None  # the Express Funded stage after a pass (when asked)


def run_attempt(
    goal: Goal,
    limits: risk.RiskLimits,
    dates: Sequence[date],
    settle: Settle,
    *,
    idle: Idle | None = None,
    keep_path: bool = False,
) -> Attempt:
    """The attempt over ``dates`` (its sessions in order; ``settle(state, k)`` decides day k,
    ``idle`` says which runs of days can be skipped)."""
    state = risk.AccountRiskState.opening(limits)
    start_balance = limits.starting_balance_usd
    best_day: Decimal | None = None
    trading = refused = dll_days = replayed = 0
    headroom = state.equity_usd - state.mll_floor_usd
    equity: list[Decimal] = []
    floors: list[Decimal] = []
    k = 0
    while k < len(dates):
        skip, skipped_refusals = idle(state, k) if idle is not None else (0, 0)
        if skip:
            state = risk.roll_trading_day(limits, state, state.balance_usd)  # a no-op once rolled
            refused += skipped_refusals
            best_day = _ZERO if best_day is None else max(best_day, _ZERO)
            headroom = min(headroom, _headroom(state))
            if keep_path:
                equity.extend([state.balance_usd - start_balance] * skip)
                floors.extend([state.mll_floor_usd - start_balance] * skip)
            k += skip  # profit and days traded unchanged: an idle day never passes an attempt
            continue
        result = settle(state, k)
        state = result.state
        trading += result.trades > 0
        refused += result.refused
        dll_days += result.daily_limit
        replayed += result.replayed
        headroom = min(headroom, result.headroom_usd)
        best_day = result.net_usd if best_day is None else max(best_day, result.net_usd)
        profit = state.balance_usd - start_balance
        if keep_path:
            equity.append(profit)
            floors.append(state.mll_floor_usd - start_balance)
        outcome = None
        if result.failed_reason is not None:
            outcome = Outcome.FAILED
        elif risk.combine_passed(
            profit_usd=profit,
            best_day_usd=best_day,
            trading_days=trading,
            profit_target_usd=goal.profit_target_usd,
            consistency_share=goal.consistency_share,
            minimum_trading_days=goal.minimum_trading_days,
        ):
            outcome = Outcome.PASSED
        if outcome is not None:
            return Attempt(
                dates[0], outcome, dates[k], k + 1, trading, profit, headroom,
                result.failed_reason, refused, dll_days, replayed, tuple(equity), tuple(floors),
            )  # fmt: skip
        k += 1
    return Attempt(
        dates[0] if dates else date.min, Outcome.UNFINISHED, None, len(dates), trading,
        state.balance_usd - start_balance, headroom, None, refused, dll_days, replayed,
        tuple(equity), tuple(floors),
    )  # fmt: skip


class DaySettler:
    """Settles days by arithmetic where exact (see the module docstring); None otherwise."""

    def __init__(self, limits: risk.RiskLimits, spec: ContractSpec, fee_per_side_usd: Decimal):
        self.limits = limits
        self.spec = spec
        self.fee = fee_per_side_usd
        self._memo: dict[tuple, DayResult | None] = {}
        self._profiles: dict[int, tuple[bool, Decimal | None, Decimal | None]] = {}

    def _judge(
        self,
        state: risk.AccountRiskState,
        day: Day,
        later: risk.AccountRiskState | None = None,
    ) -> list[bool]:
        """Is each of the day's entries allowed? Entries asked before the day's first fill meet
        ``state``; later ones meet ``later`` when given (the day's worst state)."""
        opening = Account(self.limits, self.spec, state)
        after = opening if later is None else Account(self.limits, self.spec, later)
        first_fill = day.first_fill_ts
        return [
            (opening if first_fill is None or p.ts < first_fill else after)._refusal(
                p.side, p.qty, p.ts, stop_loss_ticks=p.stop_loss_ticks, fee_usd=self.fee
            )
            is None
            for p in day.placements
        ]

    def _all_allowed(
        self, state: risk.AccountRiskState, worst: risk.AccountRiskState, day: Day
    ) -> bool:
        """Every entry allowed, entries before the day's first fill at ``state``, later ones at
        ``worst`` (a state no loss limit has reached)? The rules other than trade risk depend on
        the time, the size and the contract only, or are least permissive for a fresh account
        (the scaling plan's cap): judged once per day there. Trade risk is compared with its
        one-number form (``risk.trade_risk_allowance``)."""
        profile = self._profiles.get(id(day))
        if profile is None:
            profile = self._profiles[id(day)] = self._profile(day)
        others_allow, before, after = profile
        if not others_allow:
            return False
        for most, at in ((before, state), (after, worst)):
            if most is None:
                continue
            allowance = risk.trade_risk_allowance(self.limits, at)
            if allowance is None or most >= allowance:
                return False
        return True

    def _profile(self, day: Day) -> tuple[bool, Decimal | None, Decimal | None]:
        fresh = Account(self.limits, self.spec)
        others_allow = True
        before: Decimal | None = None
        after: Decimal | None = None
        for p in day.placements:
            decision = fresh.entry_decision(
                p.side, p.qty, p.ts, stop_loss_ticks=p.stop_loss_ticks, fee_usd=self.fee
            )
            if set(decision.codes) - {risk.RuleCode.TRADE_RISK_TOO_LARGE}:
                others_allow = False
            loss = self._risk(p)
            if loss is None:
                continue
            if day.first_fill_ts is None or p.ts < day.first_fill_ts:
                before = loss if before is None else max(before, loss)
            else:
                after = loss if after is None else max(after, loss)
        return others_allow, before, after

    def _risk(self, p) -> Decimal | None:
        return risk.trade_risk_usd(
            stop_loss_ticks=p.stop_loss_ticks,
            size=p.qty,
            tick_value_usd=self.spec.tick_value,
            fee_per_side_usd=self.fee,
        )

    def _cheapest_risk(self, day: Day) -> Decimal | None:
        """The smallest stop-out loss among the day's entries (None: one has no stop)."""
        risks = [self._risk(p) for p in day.placements]
        return None if any(r is None for r in risks) else min(risks)  # type: ignore[type-var]

    def idle_days(self, days: Sequence[Day]) -> IdleDays:
        """Per day: the cheapest entry's stop-out in cents (none asked: never cheaper than any
        allowance; an entry without a stop: always cheaper) and the entries asked."""
        cheapest = np.empty(len(days), dtype=np.int64)
        for i, day in enumerate(days):
            if not day.placements:
                cheapest[i] = _NEVER
                continue
            least = self._cheapest_risk(day)
            cheapest[i] = -1 if least is None else int(least * 100)
        asked = np.fromiter((len(d.placements) for d in days), dtype=np.int64, count=len(days))
        return IdleDays(self.limits, cheapest, asked)

    def arithmetic(self, state: risk.AccountRiskState, day: Day) -> DayResult | None:
        """The day settled by arithmetic, or None when only a replay can say (memoised: many
        attempts meet a day in the same state, a fresh account above all)."""
        key = (id(day), state.balance_usd, state.high_water_usd, state.mll_floor_usd)
        if state.lock_reason is not None or state.realized_pnl_usd or state.fees_usd:
            return self._arithmetic(state, day)
        if key not in self._memo:
            self._memo[key] = self._arithmetic(state, day)
        return self._memo[key]

    def _arithmetic(self, state: risk.AccountRiskState, day: Day) -> DayResult | None:
        limits = self.limits
        if not day.placements:
            return self._settled(state, day, traded=False, refused=0)
        allowance = risk.trade_risk_allowance(limits, state)
        cheapest = self._cheapest_risk(day)
        if allowance is not None and cheapest is not None and cheapest >= allowance:
            # Every entry's stop-out reaches a loss limit at the opening state: all refused.
            return self._settled(state, day, traded=False, refused=len(day.placements))
        worst = self._worst_state(state, day)
        verdict = risk.assess(limits, worst)
        if verdict.lock_reason is None and self._all_allowed(state, worst, day):
            return self._settled(state, day, traded=True, refused=0)
        allowed = self._judge(state, day)
        if not any(allowed):
            return self._settled(state, day, traded=False, refused=len(allowed))
        return None

    def _worst_state(self, state: risk.AccountRiskState, day: Day) -> risk.AccountRiskState:
        """Lowest equity of the day against the floor trailed to the day's high."""
        high = risk.mark_equity(self.limits, replace(state, unrealized_pnl_usd=day.high_usd))
        return replace(high, unrealized_pnl_usd=day.low_usd)

    def _settled(
        self, state: risk.AccountRiskState, day: Day, *, traded: bool, refused: int
    ) -> DayResult:
        limits = self.limits
        if not traded:
            closed = risk.roll_trading_day(limits, state, state.balance_usd)
            return DayResult(_ZERO, 0, refused, closed, _headroom(closed))
        worst = self._worst_state(state, day)
        balance = state.balance_usd + day.net_usd
        marked = replace(worst, unrealized_pnl_usd=_ZERO, balance_usd=balance)
        closed = risk.roll_trading_day(limits, risk.mark_equity(limits, marked), balance)
        return DayResult(day.net_usd, day.trades, refused, closed, _headroom(closed))


_NEVER = np.iinfo(np.int64).max


class IdleDays:
    """Finds runs of days on which the trade-risk rule refuses every entry (or none is asked)."""

    def __init__(self, limits: risk.RiskLimits, cheapest: np.ndarray, asked: np.ndarray):
        self.limits = limits
        self.cheapest = cheapest
        self.asked_before = np.concatenate(([0], np.cumsum(asked)))

    def take(self, rows: np.ndarray) -> IdleDays:
        """The same for a resampled sequence of these days (Monte Carlo)."""
        asked = np.diff(self.asked_before)[rows]
        return IdleDays(self.limits, self.cheapest[rows], asked)

    def __call__(self, state: risk.AccountRiskState, k: int, offset: int = 0) -> tuple[int, int]:
        allowance = risk.trade_risk_allowance(self.limits, state)
        if allowance is None or state.lock_reason is not None:
            return 0, 0
        start = offset + k
        trading = self.cheapest[start:] < int(allowance * 100)
        stop = start + (int(trading.argmax()) if trading.any() else len(trading))
        return stop - start, int(self.asked_before[stop] - self.asked_before[start])


def _headroom(closed: risk.AccountRiskState) -> Decimal:
    """The end-of-day distance to the maximum loss limit (exact, whichever way the day was
    settled; intraday lows are only known as bounds)."""
    return closed.balance_usd - closed.mll_floor_usd
