"""The one-number forms of rules that evaluations use agree with the rules themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution import risk
from markets.fills import OrderKind, Side

NOON_CT = datetime(2024, 3, 5, 18, 0, tzinfo=UTC)  # a Tuesday, well inside the trading window
cents = st.integers(min_value=-300_000, max_value=300_000).map(lambda c: Decimal(c) / 100)


@given(
    limits=st.sampled_from(
        [
            risk.plan_limits("combine", 50),
            risk.plan_limits("combine", 100, mll_mode="end_of_day"),
            risk.plan_limits("combine", 150, daily_loss_enforced=False),
        ]
    ),
    balance_move=cents,
    floor_gap=st.integers(min_value=0, max_value=500_000).map(lambda c: Decimal(c) / 100),
    day_pnl=cents,
    max_loss=st.integers(min_value=0, max_value=600_000).map(lambda c: Decimal(c) / 100),
)
def test_trade_risk_allowance_is_the_trade_risk_rule(
    limits, balance_move, floor_gap, day_pnl, max_loss
):
    balance = limits.starting_balance_usd + balance_move
    state = risk.AccountRiskState(
        balance_usd=balance,
        start_balance_usd=balance,
        high_water_usd=balance,
        mll_floor_usd=min(balance - floor_gap, limits.lock_balance_usd),
        realized_pnl_usd=day_pnl,
    )
    order = risk.ProposedOrder("ES", Side.BUY, 1, OrderKind.MARKET, max_loss_usd=max_loss)
    refused = (
        risk.RuleCode.TRADE_RISK_TOO_LARGE in risk.check_order(limits, state, order, NOON_CT).codes
    )
    allowance = risk.trade_risk_allowance(limits, state)
    assert refused == (allowance is not None and max_loss >= allowance)


@given(
    profit=cents,
    best=cents,
    days=st.integers(min_value=0, max_value=30),
    minimum=st.integers(min_value=1, max_value=5),
)
def test_combine_passed_needs_target_consistency_and_days(profit, best, days, minimum):
    passed = risk.combine_passed(
        profit_usd=profit,
        best_day_usd=best,
        trading_days=days,
        profit_target_usd=Decimal(3000),
        consistency_share=Decimal("0.5"),
        minimum_trading_days=minimum,
    )
    assert passed == (profit >= 3000 and best * 2 < profit and days >= minimum)


def test_one_big_day_does_not_pass_until_the_profit_dilutes_it():
    common = {"profit_target_usd": Decimal(3000), "consistency_share": Decimal("0.5")}
    assert not risk.combine_passed(
        profit_usd=Decimal(3100), best_day_usd=Decimal(2500), trading_days=3, **common
    )
    assert risk.combine_passed(
        profit_usd=Decimal(5100), best_day_usd=Decimal(2500), trading_days=6, **common
    )
