"""TopstepX account rules of execution/risk.py (issue 14, part A), pure: the personal daily loss
limit and its three actions next to a firm one, the consistency cap, micro counting and the
Express scaling plan frozen during the day. The database and simulator side is in
test_risk_account_rules_e2e.py."""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.risk import (
    AccountRiskState,
    DailyLossAction,
    LockReason,
    ProposedOrder,
    RiskLimits,
    RiskStatus,
    RuleCode,
    assess,
    check_order,
    consistency_day_cap,
    consistency_of,
    max_contracts_for,
    plan_limits,
    roll_trading_day,
)
from markets.fills import Side
from markets.sessions import CHICAGO

D = Decimal
MORNING = datetime(2023, 6, 14, 10, 0, tzinfo=CHICAGO)
TOPSTEPX_50K = plan_limits("combine", 50, daily_loss_enforced=False)  # no firm DLL
cents = st.integers(-300_000, 300_000).map(lambda c: D(c) / 100)


def losing(limits: RiskLimits, loss: str, **changes) -> AccountRiskState:
    return replace(
        AccountRiskState.opening(limits),
        realized_pnl_usd=-D(loss),
        balance_usd=limits.starting_balance_usd - D(loss),
        **changes,
    )


def personal(action: DailyLossAction, amount: str = "500", **changes) -> RiskLimits:
    return replace(
        TOPSTEPX_50K,
        personal_daily_loss_usd=D(amount),
        personal_daily_loss_action=action,
        **changes,
    )


def buy(contract: str = "ES", size: int = 1, **fields) -> ProposedOrder:
    return ProposedOrder(contract, Side.BUY, size, **fields)


# --- daily loss limits ---------------------------------------------------------------------------


def test_a_topstepx_plan_has_no_firm_daily_limit_and_no_personal_one_by_default():
    result = assess(TOPSTEPX_50K, losing(TOPSTEPX_50K, "1900"))
    assert TOPSTEPX_50K.daily_loss_limit_usd is None
    assert TOPSTEPX_50K.personal_daily_loss_usd is None
    assert result.status == RiskStatus.OK  # $1,900 down: only the MLL ($2,000) is left
    assert check_order(TOPSTEPX_50K, losing(TOPSTEPX_50K, "1900"), buy(), MORNING).allowed


@pytest.mark.parametrize(
    ("action", "lock", "flattens"),
    [
        (DailyLossAction.ALERT, None, False),
        (DailyLossAction.LIQUIDATE, None, True),
        (DailyLossAction.LIQUIDATE_AND_BLOCK, LockReason.PERSONAL_DAILY_LOSS, True),
    ],
)
def test_reaching_the_personal_limit_does_what_its_action_says(action, lock, flattens):
    limits = personal(action)
    result = assess(limits, losing(limits, "500"))
    assert result.status == RiskStatus.PERSONAL_DAILY_LIMIT
    assert result.lock_reason == lock
    assert (result.must_flatten, result.must_cancel_orders) == (flattens, flattens)
    assert action.value in result.message
    assert assess(limits, losing(limits, "499.99")).status == RiskStatus.WARNING


@pytest.mark.parametrize(
    ("action", "refused"),
    [
        (DailyLossAction.ALERT, False),
        (DailyLossAction.LIQUIDATE, False),
        (DailyLossAction.LIQUIDATE_AND_BLOCK, True),
    ],
)
def test_only_liquidate_and_block_refuses_entries_before_the_lock_is_recorded(action, refused):
    limits = personal(action)
    decision = check_order(limits, losing(limits, "500"), buy(), MORNING)
    assert (RuleCode.PERSONAL_DAILY_LOSS_REACHED in decision.codes) is refused
    exit_ = ProposedOrder("ES", Side.SELL, 1)
    held = losing(limits, "500", positions={"ES": 1})
    assert check_order(limits, held, exit_, MORNING).allowed  # flattening is never blocked


def test_a_firm_limit_and_a_personal_one_both_apply_and_the_firm_one_wins_when_both_are_hit():
    limits = replace(personal(DailyLossAction.ALERT), daily_loss_limit_usd=D(1000))
    assert assess(limits, losing(limits, "600")).status == RiskStatus.PERSONAL_DAILY_LIMIT
    both = assess(limits, losing(limits, "1000"))
    assert both.status == RiskStatus.DAILY_LIMIT
    assert both.lock_reason == LockReason.DAILY_LOSS
    # the warning comes at 80 % of the tighter limit
    assert assess(limits, losing(limits, "400")).status == RiskStatus.WARNING
    assert assess(limits, losing(limits, "399.99")).status == RiskStatus.OK


def test_a_stop_out_reaching_a_personal_limit_that_acts_is_refused_but_not_one_that_alerts():
    order = buy(max_loss_usd=D("300"))
    state = losing(TOPSTEPX_50K, "200")
    blocking = check_order(personal(DailyLossAction.LIQUIDATE), state, order, MORNING)
    assert blocking.codes == (RuleCode.TRADE_RISK_TOO_LARGE,)
    assert "personal daily loss limit" in blocking.violations[0].message
    assert check_order(personal(DailyLossAction.ALERT), state, order, MORNING).allowed


def test_the_roll_lifts_a_personal_block():
    limits = personal(DailyLossAction.LIQUIDATE_AND_BLOCK)
    state = losing(limits, "500", lock_reason=LockReason.PERSONAL_DAILY_LOSS)
    rolled = roll_trading_day(limits, state, state.balance_usd)
    assert rolled.lock_reason is None
    assert check_order(limits, rolled, buy(), MORNING).allowed


def test_limits_refuse_a_personal_limit_that_is_not_positive():
    with pytest.raises(ValueError, match="personal daily loss limit must be > 0"):
        personal(DailyLossAction.ALERT, amount="0")
    with pytest.raises(ValueError, match="not a valid DailyLossAction"):
        replace(TOPSTEPX_50K, personal_daily_loss_action="shrug")


@given(loss=cents, amount=st.integers(1, 5000), action=st.sampled_from(DailyLossAction))
def test_the_personal_limit_triggers_exactly_at_its_amount(loss, amount, action):
    limits = personal(action, amount=str(amount))
    state = replace(AccountRiskState.opening(limits), realized_pnl_usd=-loss)
    reached = loss >= amount
    result = assess(limits, state)
    if result.status != RiskStatus.MAX_LOSS:
        assert (result.status == RiskStatus.PERSONAL_DAILY_LIMIT) is reached
    blocked = (
        RuleCode.PERSONAL_DAILY_LOSS_REACHED in check_order(limits, state, buy(), MORNING).codes
    )
    assert blocked is (reached and action == DailyLossAction.LIQUIDATE_AND_BLOCK)


# --- consistency ---------------------------------------------------------------------------------


def test_the_day_cap_examples():
    cap = consistency_day_cap  # 50 % share, $3,000 target
    # a first day may win up to half the target: more raises what the Combine needs to pass
    assert cap(share=D("0.5"), profit_target_usd=D(3000), prior_profit_usd=D(0),
               prior_best_day_usd=D(0)) == D(1500)  # fmt: skip
    # $4,000 made already: today may make up to $4,000 and stay under half of the total
    assert cap(share=D("0.5"), profit_target_usd=D(3000), prior_profit_usd=D(4000),
               prior_best_day_usd=D(1200)) == D(4000)  # fmt: skip
    # an earlier day of $2,500: today is not the best day below it, whatever it makes
    assert cap(share=D("0.5"), profit_target_usd=D(3000), prior_profit_usd=D(2000),
               prior_best_day_usd=D(2500)) == D(2500)  # fmt: skip
    # a 40 % share: 0.4 / 0.6 x 1000 = 666.666... -> 666.66, the cent below
    assert cap(share=D("0.4"), profit_target_usd=D(1000), prior_profit_usd=D(1000),
               prior_best_day_usd=D(0)) == D("666.66")  # fmt: skip


@given(
    share=st.sampled_from([D("0.4"), D("0.5"), D("0.3")]),
    target=st.integers(500, 9000).map(D),
    prior_days=st.lists(cents, max_size=8),
    today=cents,
)
def test_a_day_below_the_cap_never_breaks_consistency_and_a_day_above_it_does(
    share, target, prior_days, today
):
    """Break = today becomes the best day and its share of max(target, total) reaches `share`:
    reaching the target, or the total made by then, would no longer pass."""
    prior_profit, prior_best = sum(prior_days, D(0)), max(prior_days, default=D(0))
    cap = consistency_day_cap(
        share=share,
        profit_target_usd=target,
        prior_profit_usd=prior_profit,
        prior_best_day_usd=max(prior_best, D(0)),
    )

    def breaks(x: Decimal) -> bool:
        return x > max(prior_best, D(0)) and x >= share * max(target, prior_profit + x)

    if today < cap:
        assert not breaks(today)
    if today >= cap + D("0.01"):
        assert breaks(today)


def guarded(**changes) -> RiskLimits:
    return replace(TOPSTEPX_50K, profit_target_usd=D(3000), is_consistency_guarded=True, **changes)


def winning(today: str, prior_profit: str = "0", prior_best: str = "0") -> AccountRiskState:
    return replace(
        AccountRiskState.opening(TOPSTEPX_50K),
        realized_pnl_usd=D(today),
        prior_profit_usd=D(prior_profit),
        prior_best_day_usd=D(prior_best),
    )


def test_the_guard_stops_entries_when_the_take_profit_would_reach_the_cap():
    limits = guarded()
    assert check_order(limits, winning("1000"), buy(max_gain_usd=D("499")), MORNING).allowed
    refused = check_order(limits, winning("1000"), buy(max_gain_usd=D("500")), MORNING)
    assert refused.codes == (RuleCode.CONSISTENCY_DAY_CAP,)
    assert "would reach 1500" in refused.violations[0].message
    assert "stopped for the day" in refused.violations[0].message


def test_the_guard_stops_every_entry_once_the_day_is_at_the_cap_but_never_an_exit():
    limits = guarded()
    at_cap = replace(winning("1500"), positions={"ES": 1})
    assert check_order(limits, at_cap, buy("MES"), MORNING).codes == (RuleCode.CONSISTENCY_DAY_CAP,)
    assert check_order(limits, at_cap, ProposedOrder("ES", Side.SELL, 1), MORNING).allowed


def test_without_the_guard_or_a_target_the_cap_is_shown_but_nothing_is_refused():
    state = winning("2000")
    assert check_order(replace(guarded(), is_consistency_guarded=False), state, buy(),
                       MORNING).allowed  # fmt: skip
    assert consistency_of(TOPSTEPX_50K, state) is None  # no profit target: not a Combine
    assert check_order(replace(TOPSTEPX_50K, is_consistency_guarded=True), state, buy(),
                       MORNING).allowed  # fmt: skip


def test_consistency_of_counts_today_with_the_earlier_days():
    found = consistency_of(guarded(), winning("900", prior_profit="2100", prior_best="1000"))
    assert found.total_profit_usd == D(3000)
    assert found.best_day_usd == D(1000)
    assert found.best_day_share == D("0.3333")
    assert found.is_consistent
    assert found.day_cap_usd == D(2100)  # 0.5 / 0.5 x 2100 > half the target
    assert found.remaining_today_usd == D(1200)
    first_day = consistency_of(guarded(), winning("1000"))
    assert (first_day.best_day_share, first_day.is_consistent) == (D(1), False)
    assert first_day.remaining_today_usd == D(500)


# --- position size: micros and the Express scaling plan -----------------------------------------


@given(minis=st.integers(0, 6), micros=st.integers(0, 6), add_micro=st.booleans())
def test_by_default_a_micro_counts_as_a_full_contract(minis, micros, add_micro):
    limits = TOPSTEPX_50K  # micro_ratio 1: the stricter reading
    state = replace(AccountRiskState.opening(limits), positions={"ES": minis, "MNQ": micros})
    allowed = check_order(limits, state, buy("MES" if add_micro else "NQ"), MORNING).allowed
    assert allowed is (minis + micros + 1 <= 5)


@given(
    day_profit=cents,
    start_profit=st.integers(0, 5000).map(D),
)
def test_the_express_allowance_is_frozen_during_the_day_and_moves_at_the_roll(
    day_profit, start_profit
):
    limits = plan_limits("express", 50)  # 2 -> 3 above $1,500 -> 5 above $2,000
    opening = AccountRiskState.opening(limits, balance_usd=start_profit)
    during = replace(opening, balance_usd=start_profit + day_profit, realized_pnl_usd=day_profit)
    assert max_contracts_for(limits, during) == max_contracts_for(limits, opening)
    rolled = roll_trading_day(limits, during, during.balance_usd)
    end_profit = start_profit + day_profit
    expected = 5 if end_profit > 2000 else 3 if end_profit > 1500 else 2
    assert max_contracts_for(limits, rolled) == expected
