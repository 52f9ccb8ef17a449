"""The account's loss-limit price levels agree with execution.risk's own verdicts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution import risk
from markets.fills import Side
from markets.ticks import spec_for
from strategies.backtest.account import Account

ES = spec_for("ES")


def breached(account: Account, side: Side, entry: int, price: int, qty: int, fees: Decimal) -> bool:
    """What execution.risk says if the position were closed at ``price`` (fees paid)."""
    sign = 1 if side == Side.BUY else -1
    open_pnl = (price - entry) * sign * qty * ES.tick_value
    state = replace(
        account.state,
        unrealized_pnl_usd=open_pnl,
        fees_usd=account.state.fees_usd + fees,
        balance_usd=account.state.balance_usd - fees,
    )
    return risk.assess(account.limits, state).status in (
        risk.RiskStatus.DAILY_LIMIT,
        risk.RiskStatus.MAX_LOSS,
    )


@given(
    side=st.sampled_from([Side.BUY, Side.SELL]),
    qty=st.integers(1, 5),
    entry=st.integers(10_000, 20_000),
    realized=st.integers(-900, 900),
    dll=st.sampled_from([None, Decimal(1000), Decimal(500)]),
    mode=st.sampled_from([risk.MllMode.END_OF_DAY, risk.MllMode.INTRADAY]),
)
def test_risk_level_is_the_first_price_that_reaches_a_limit(side, qty, entry, realized, dll, mode):
    limits = risk.RiskLimits(
        starting_balance_usd=Decimal(50_000),
        max_loss_limit_usd=Decimal(2_000),
        max_contracts=5,
        daily_loss_limit_usd=dll,
        mll_mode=mode,
    )
    account = Account(limits, ES)
    account.realize(Decimal(realized), Decimal("2.80"))
    if account.state.lock_reason is not None:
        return
    fees = 2 * qty * ES.fee_per_side_usd
    levels = account.levels(side, entry, qty, fees)
    level = levels.level(side, entry)
    assert level is not None
    worse = -1 if side == Side.BUY else 1  # one tick further against the position
    assert breached(account, side, entry, level, qty, fees)
    assert not breached(account, side, entry, level - worse, qty, fees)


def test_daily_limit_lock_lifts_at_the_next_day_but_a_max_loss_does_not():
    limits = risk.plan_limits("combine", 50, mll_mode="end_of_day")
    account = Account(limits, ES)
    account.start_day(None)  # type: ignore[arg-type]
    account.realize(Decimal(-1000), Decimal(0))
    assert account.state.lock_reason == risk.LockReason.DAILY_LOSS
    account.end_day(None)  # type: ignore[arg-type]
    assert account.state.lock_reason is None
    account.realize(Decimal(-1000), Decimal(0))
    account.end_day(None)  # type: ignore[arg-type]
    assert account.state.lock_reason == risk.LockReason.MAX_LOSS
