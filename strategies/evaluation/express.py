"""The Express Funded Account (XFA) stage: after a passed Combine, the account the trader is given,
day after day, until it fails or the days run out, and the payouts it reaches on the way.

The XFA's loss rules are the plan's (``execution.risk``: balance shown from $0, floor at -MLL
trailing the end-of-day high and locking at $0, size from the scaling plan); days are settled
exactly as Combine attempts settle them (arithmetic where exact, else a replay under the plan).
What is added here is the payout policy (``PayoutPolicy``, data of the plan table):

- winning-days path: ``winning_days`` days of at least ``winning_day_usd`` net since the last
  payout (not necessarily in a row);
- consistency path: at least ``consistency_days`` trading days since the last payout with a profit
  over that cycle and the cycle's best day under ``consistency_share`` of it.

The trader asks for a payout at the end of the first day either path is met (the winning-days
path is named when both are), for ``balance_share`` of the balance up to ``cap_usd``. After a
payout the floor is set to $0 (the account fails if the balance falls back to it) and both paths
count again from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from execution import risk
from strategies.evaluation.attempt import Idle, Settle

_ZERO = Decimal(0)
_CENT = Decimal("0.01")


class PayoutPath(StrEnum):
    WINNING_DAYS = "winning_days"
    CONSISTENCY = "consistency"


@dataclass(frozen=True, slots=True)
class PayoutPolicy:
    winning_days: int
    winning_day_usd: Decimal
    balance_share: Decimal
    cap_usd: Decimal | None = None
    consistency_days: int | None = None  # None: no consistency path
    consistency_share: Decimal | None = None

    def __post_init__(self) -> None:
        if self.winning_days < 1 or self.winning_day_usd <= 0:
            raise ValueError("a payout needs >= 1 winning day of a positive net amount")
        if not 0 < self.balance_share <= 1:
            raise ValueError(f"balance share must be in (0, 1], got {self.balance_share}")
        if (self.consistency_days is None) != (self.consistency_share is None):
            raise ValueError("the consistency path needs both its days and its share")

    def path_due(self, cycle: Cycle) -> PayoutPath | None:
        """Which path (if any) allows a payout request at the end of this day."""
        if cycle.winning_days >= self.winning_days:
            return PayoutPath.WINNING_DAYS
        if (
            self.consistency_days is not None
            and self.consistency_share is not None
            and cycle.trading_days >= self.consistency_days
            and cycle.profit_usd > 0
            and cycle.best_day_usd < self.consistency_share * cycle.profit_usd
        ):
            return PayoutPath.CONSISTENCY
        return None

    def amount(self, balance_usd: Decimal) -> Decimal:
        """The most one request may take from ``balance_usd`` (whole cents, rounded down)."""
        amount = (balance_usd * self.balance_share).quantize(_CENT, rounding=ROUND_DOWN)
        if self.cap_usd is not None:
            amount = min(amount, self.cap_usd)
        return max(amount, _ZERO)


@dataclass(slots=True)
class Cycle:
    """What the payout paths count since the last payout (or the account's start)."""

    winning_days: int = 0
    trading_days: int = 0
    profit_usd: Decimal = _ZERO
    best_day_usd: Decimal = _ZERO

    def add_day(self, policy: PayoutPolicy, net_usd: Decimal, traded: bool) -> None:
        self.winning_days += net_usd >= policy.winning_day_usd
        self.trading_days += traded
        self.profit_usd += net_usd
        self.best_day_usd = max(self.best_day_usd, net_usd)


@dataclass(frozen=True, slots=True)
class Payout:
    session: int  # XFA sessions through the request day
    day: date
    amount_usd: Decimal
    path: PayoutPath


class ExpressOutcome(StrEnum):
    FAILED = "failed"
    FUNDED = "funded"  # still trading when the horizon (or the data) ended


@dataclass(frozen=True, slots=True)
class ExpressRun:
    start: date | None
    outcome: ExpressOutcome
    sessions: int
    payouts: tuple[Payout, ...]
    reason: str | None  # why it failed
    balance_usd: Decimal  # at the end (after the payouts)

    @property
    def paid_usd(self) -> Decimal:
        return sum((p.amount_usd for p in self.payouts), _ZERO)


def after_payout(
    limits: risk.RiskLimits, state: risk.AccountRiskState, amount_usd: Decimal
) -> risk.AccountRiskState:
    """The account after a payout: the balance less the amount, the floor set to the lock level
    ($0) for good; the scaling plan then reads the lower balance."""
    balance = state.balance_usd - amount_usd
    return replace(
        state,
        balance_usd=balance,
        start_balance_usd=balance,
        high_water_usd=balance,
        mll_floor_usd=limits.lock_balance_usd,
    )


def run_express(
    policy: PayoutPolicy,
    limits: risk.RiskLimits,
    dates: Sequence[date],
    settle: Settle,
    *,
    idle: Idle | None = None,
) -> ExpressRun:
    """A fresh XFA over ``dates`` (``settle`` and ``idle`` as for ``attempt.run_attempt``)."""
    state = risk.AccountRiskState.opening(limits)
    cycle = Cycle()
    payouts: list[Payout] = []
    k = 0
    while k < len(dates):
        skip, _ = idle(state, k) if idle is not None else (0, 0)
        if skip:  # no trade: no path moves, the floor stays (a payout was already taken if due)
            state = risk.roll_trading_day(limits, state, state.balance_usd)
            k += skip
            continue
        result = settle(state, k)
        state = result.state
        if result.failed_reason is not None:
            return ExpressRun(
                dates[0], ExpressOutcome.FAILED, k + 1, tuple(payouts), result.failed_reason,
                state.balance_usd,
            )  # fmt: skip
        cycle.add_day(policy, result.net_usd, result.trades > 0)
        path = policy.path_due(cycle)
        amount = policy.amount(state.balance_usd) if path is not None else _ZERO
        if path is not None and amount > 0:
            payouts.append(Payout(k + 1, dates[k], amount, path))
            state = after_payout(limits, state, amount)
            cycle = Cycle()
        k += 1
    return ExpressRun(
        dates[0] if dates else None, ExpressOutcome.FUNDED, len(dates), tuple(payouts), None,
        state.balance_usd,
    )  # fmt: skip
