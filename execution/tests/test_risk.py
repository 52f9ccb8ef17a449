from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.risk import (
    AccountRiskState,
    LockReason,
    MllMode,
    ProposedOrder,
    RiskLimits,
    RiskStatus,
    RuleCode,
    assess,
    check_order,
    exposure_units,
    mark_equity,
    max_contracts_for,
    plan_limits,
    roll_trading_day,
    with_lock,
)
from markets.fills import OrderKind, Side
from markets.sessions import CHICAGO, NEW_YORK, NaiveDatetime

D = Decimal
# Wed 2023-06-14 10:00 CT: inside the trading window.
MORNING = datetime(2023, 6, 14, 10, 0, tzinfo=CHICAGO)


def eod_50k(**changes) -> RiskLimits:
    return replace(plan_limits("combine", 50, mll_mode=MllMode.END_OF_DAY), **changes)


def fresh(limits: RiskLimits, **changes) -> AccountRiskState:
    return replace(AccountRiskState.opening(limits), **changes)


def positions(**sizes: int) -> MappingProxyType:
    return MappingProxyType(sizes)


def buy(contract="ES", size=1, **kw) -> ProposedOrder:
    return ProposedOrder(contract, Side.BUY, size, **kw)


def sell(contract="ES", size=1, **kw) -> ProposedOrder:
    return ProposedOrder(contract, Side.SELL, size, **kw)


# --- plans ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "mll", "dll", "max_minis"),
    [(50, "2000", "1000", 5), (100, "3000", "2000", 10), (150, "4500", "3000", 15)],
)
def test_combine_plans_carry_topsteps_published_numbers(size, mll, dll, max_minis):
    limits = plan_limits("TC", size)
    assert limits.starting_balance_usd == D(size * 1000)
    assert limits.max_loss_limit_usd == D(mll)
    assert limits.daily_loss_limit_usd == D(dll)
    assert limits.max_contracts == max_minis
    assert limits.micro_ratio == 1  # a micro counts as a full contract: the stricter reading
    assert limits.mll_mode == MllMode.END_OF_DAY  # Topstep's published rule (help centre)
    assert limits.flat_by == time(15, 10)
    assert limits.flat_by_zone == CHICAGO


def test_plan_accepts_sizes_in_dollars_and_disabling_the_daily_limit():
    limits = plan_limits("combine", 100_000, daily_loss_enforced=False)
    assert limits.starting_balance_usd == D(100_000)
    assert limits.daily_loss_limit_usd is None


def test_express_funded_plan_starts_at_zero_and_scales():
    limits = plan_limits("XFA", 50)
    assert limits.starting_balance_usd == D(0)
    assert limits.mll_mode == MllMode.END_OF_DAY
    state = AccountRiskState.opening(limits)
    assert state.mll_floor_usd == D(-2000)
    assert max_contracts_for(limits, state) == 2
    assert max_contracts_for(limits, replace(state, start_balance_usd=D(1500))) == 2
    assert max_contracts_for(limits, replace(state, start_balance_usd=D("1500.01"))) == 3
    assert max_contracts_for(limits, replace(state, start_balance_usd=D(2001))) == 5


def test_express_funded_150k_reaches_15_contracts_above_4500():
    limits = plan_limits("express", 150)
    assert max_contracts_for(limits, fresh(limits, start_balance_usd=D(4500))) == 10
    assert max_contracts_for(limits, fresh(limits, start_balance_usd=D(4501))) == 15


@pytest.mark.parametrize(("plan", "size"), [("funded", 50), ("combine", 75), ("combine", 50_500)])
def test_plan_limits_rejects_unknown_plans_and_sizes(plan, size):
    with pytest.raises(ValueError, match="unknown"):
        plan_limits(plan, size)


def test_limits_validate_their_amounts():
    with pytest.raises(ValueError, match="max loss limit must be > 0"):
        RiskLimits(D(50_000), D(0), 5)
    with pytest.raises(ValueError, match="daily loss limit must be > 0 or None"):
        RiskLimits(D(50_000), D(2000), 5, daily_loss_limit_usd=D(-1))
    with pytest.raises(ValueError, match="warning share"):
        RiskLimits(D(50_000), D(2000), 5, warning_share=D("1.5"))


# --- MLL mechanics (TopStep's worked example) ------------------------------------------------


def test_50k_floor_starts_at_48000():
    assert AccountRiskState.opening(eod_50k()).mll_floor_usd == D(48_000)


def test_50k_floor_trails_the_end_of_day_high():
    limits = eod_50k()
    state = roll_trading_day(limits, AccountRiskState.opening(limits), D(51_000))
    assert (state.high_water_usd, state.mll_floor_usd) == (D(51_000), D(49_000))
    state = roll_trading_day(limits, state, D(50_500))  # a losing day: the floor stays
    assert (state.high_water_usd, state.mll_floor_usd) == (D(51_000), D(49_000))


def test_50k_floor_locks_at_50000_once_eod_balance_reaches_52000():
    limits = eod_50k()
    state = roll_trading_day(limits, AccountRiskState.opening(limits), D(52_000))
    assert state.mll_floor_usd == D(50_000)
    state = roll_trading_day(limits, state, D(55_000))
    assert state.mll_floor_usd == D(50_000)


def test_50k_floor_locks_even_when_passing_52000_in_one_day():
    limits = eod_50k()
    state = roll_trading_day(limits, AccountRiskState.opening(limits), D(53_250))
    assert state.mll_floor_usd == D(50_000)


def test_end_of_day_mode_ignores_the_intraday_equity_high():
    limits = eod_50k(daily_loss_limit_usd=None)
    state = fresh(limits, unrealized_pnl_usd=D(1500))
    assert mark_equity(limits, state) is state
    assert assess(limits, replace(state, unrealized_pnl_usd=D(-1999))).status == RiskStatus.OK


def test_intraday_mode_trails_the_equity_high():
    limits = plan_limits("combine", 50, mll_mode="intraday", daily_loss_enforced=False)
    state = mark_equity(limits, fresh(limits, unrealized_pnl_usd=D(1200)))
    assert (state.high_water_usd, state.mll_floor_usd) == (D(51_200), D(49_200))
    # Giving the open profit back to -800 breaches the trailed floor.
    result = assess(limits, replace(state, unrealized_pnl_usd=D(-800)))
    assert result.status == RiskStatus.MAX_LOSS
    assert result.mll_floor_usd == D(49_200)


def test_intraday_floor_is_applied_by_assess_even_before_mark_equity():
    limits = plan_limits("combine", 50, mll_mode="intraday", daily_loss_enforced=False)
    state = fresh(limits, unrealized_pnl_usd=D(1200))
    assert assess(limits, state).mll_floor_usd == D(49_200)


def test_roll_resets_the_day_and_lifts_day_locks_but_not_a_max_loss_lock():
    limits = eod_50k()
    state = fresh(
        limits,
        realized_pnl_usd=D(-1000),
        fees_usd=D("5.60"),
        lock_reason=LockReason.DAILY_LOSS,
    )
    rolled = roll_trading_day(limits, state, D("48994.40"))
    assert rolled.start_balance_usd == rolled.balance_usd == D("48994.40")
    assert (rolled.realized_pnl_usd, rolled.fees_usd, rolled.lock_reason) == (D(0), D(0), None)
    failed = roll_trading_day(limits, with_lock(state, LockReason.MAX_LOSS), D(47_000))
    assert failed.lock_reason == LockReason.MAX_LOSS


def test_with_lock_never_softens_a_max_loss_lock():
    state = with_lock(fresh(eod_50k()), LockReason.MAX_LOSS)
    assert with_lock(state, LockReason.DAILY_LOSS).lock_reason == LockReason.MAX_LOSS


def test_xfa_floor_locks_at_zero():
    limits = plan_limits("express", 50)
    state = roll_trading_day(limits, AccountRiskState.opening(limits), D(2500))
    assert state.mll_floor_usd == D(0)


@given(eods=st.lists(st.integers(40_000, 60_000), min_size=1, max_size=30), intraday=st.booleans())
def test_floor_never_decreases_and_never_passes_the_lock(eods, intraday):
    mode = MllMode.INTRADAY if intraday else MllMode.END_OF_DAY
    limits = eod_50k(mll_mode=mode)
    state = AccountRiskState.opening(limits)
    for eod in eods:
        before = state.mll_floor_usd
        state = mark_equity(limits, replace(state, unrealized_pnl_usd=D(eod) - state.balance_usd))
        state = roll_trading_day(limits, replace(state, unrealized_pnl_usd=D(0)), D(eod))
        assert before <= state.mll_floor_usd <= D(50_000)
        assert state.mll_floor_usd == min(state.high_water_usd - D(2000), D(50_000))


# --- assess --------------------------------------------------------------------------------


def test_assess_ok_reports_the_amounts():
    limits = eod_50k()
    result = assess(limits, fresh(limits, realized_pnl_usd=D(-300), balance_usd=D(49_700)))
    assert result.status == RiskStatus.OK
    assert (result.day_pnl_usd, result.daily_remaining_usd) == (D(-300), D(700))
    assert (result.equity_usd, result.mll_floor_usd, result.mll_headroom_usd) == (
        D(49_700),
        D(48_000),
        D(1_700),
    )
    assert not result.must_flatten


def test_assess_warns_at_80_percent_of_the_daily_limit():
    limits = eod_50k()
    result = assess(limits, fresh(limits, realized_pnl_usd=D(-700), unrealized_pnl_usd=D(-100)))
    assert result.status == RiskStatus.WARNING
    assert result.lock_reason is None
    assert assess(limits, fresh(limits, realized_pnl_usd=D("-799.99"))).status == RiskStatus.OK


def test_assess_daily_limit_is_a_soft_breach_counting_fees_and_open_pnl():
    limits = eod_50k()
    state = fresh(limits, realized_pnl_usd=D(-600), unrealized_pnl_usd=D(-395), fees_usd=D(5))
    result = assess(limits, state)
    assert result.status == RiskStatus.DAILY_LIMIT
    assert result.lock_reason == LockReason.DAILY_LOSS
    assert result.must_cancel_orders
    assert result.must_flatten
    assert result.daily_remaining_usd == D(0)


def test_assess_max_loss_is_a_hard_breach_and_wins_over_the_daily_limit():
    limits = eod_50k()
    state = fresh(
        limits, balance_usd=D(48_500), realized_pnl_usd=D(-1500), unrealized_pnl_usd=D(-500)
    )
    result = assess(limits, state)
    assert result.status == RiskStatus.MAX_LOSS
    assert result.lock_reason == LockReason.MAX_LOSS
    assert result.mll_headroom_usd == D(0)


def test_assess_without_a_daily_limit_never_reports_one():
    limits = eod_50k(daily_loss_limit_usd=None)
    result = assess(limits, fresh(limits, realized_pnl_usd=D(-1500), balance_usd=D(48_500)))
    assert result.status == RiskStatus.OK
    assert result.daily_remaining_usd is None


def test_assess_orders_a_flatten_at_the_flat_by_time_with_positions_open():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=1))
    at_cutoff = datetime(2023, 6, 14, 15, 10, tzinfo=CHICAGO)
    assert assess(limits, state, at_cutoff).status == RiskStatus.FLAT_BY
    assert assess(limits, state, at_cutoff - timedelta(seconds=1)).status == RiskStatus.OK
    assert assess(limits, fresh(limits), at_cutoff).status == RiskStatus.OK


# --- check_order: each rule ----------------------------------------------------------------


def test_a_plain_entry_passes():
    decision = check_order(eod_50k(), fresh(eod_50k()), buy(size=5), MORNING)
    assert decision.allowed
    assert decision.violations == ()
    assert not decision.is_reducing


def test_locked_account_refuses_entries_with_a_message():
    limits = eod_50k()
    decision = check_order(limits, fresh(limits, lock_reason="daily_loss_limit"), buy(), MORNING)
    assert decision.codes == (RuleCode.ACCOUNT_LOCKED,)
    assert decision.violations[0].message == "account is locked (daily_loss_limit); exits only"


def test_locked_account_still_allows_the_exit():
    limits = eod_50k()
    state = fresh(limits, lock_reason=LockReason.MAX_LOSS, positions=positions(ES=2))
    decision = check_order(limits, state, sell(size=2), MORNING)
    assert decision.allowed
    assert decision.is_reducing


def test_disabled_strategy_may_only_exit():
    limits = eod_50k()
    assert check_order(limits, fresh(limits), buy(is_strategy_enabled=False), MORNING).codes == (
        RuleCode.STRATEGY_DISABLED,
    )
    state = fresh(limits, positions=positions(ES=-1))
    assert check_order(limits, state, buy(is_strategy_enabled=False), MORNING).allowed


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (datetime(2023, 6, 14, 15, 9, 59, tzinfo=CHICAGO), True),
        (datetime(2023, 6, 14, 15, 10, tzinfo=CHICAGO), False),
        (datetime(2023, 6, 14, 16, 59, tzinfo=CHICAGO), False),
        (datetime(2023, 6, 14, 17, 0, tzinfo=CHICAGO), True),  # the next trading day began
        (datetime(2023, 1, 11, 21, 10, tzinfo=UTC), False),  # 15:10 CST
        (datetime(2023, 1, 11, 21, 9, tzinfo=UTC), True),
        (datetime(2023, 7, 11, 20, 10, tzinfo=UTC), False),  # 15:10 CDT
        (datetime(2023, 7, 11, 20, 9, tzinfo=UTC), True),
    ],
)
def test_no_new_entries_after_the_flat_by_time(now, allowed):
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy(), now)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (RuleCode.FLAT_BY_PASSED,)


def test_flat_by_in_the_march_dst_week_is_1510_chicago():
    limits = eod_50k()
    friday_before = datetime(2023, 3, 10, 21, 9, tzinfo=UTC)  # 15:09 CST
    monday_after = datetime(2023, 3, 13, 20, 10, tzinfo=UTC)  # 15:10 CDT
    assert check_order(limits, fresh(limits), buy(), friday_before).allowed
    assert not check_order(limits, fresh(limits), buy(), monday_after).allowed


def test_flat_by_configured_in_new_york_time():
    limits = eod_50k(flat_by=time(15, 55), flat_by_zone=NEW_YORK)
    assert check_order(
        limits, fresh(limits), buy(), datetime(2023, 6, 14, 14, 54, tzinfo=CHICAGO)
    ).allowed
    refused = check_order(
        limits, fresh(limits), buy(), datetime(2023, 6, 14, 14, 55, tzinfo=CHICAGO)
    )
    assert refused.codes == (RuleCode.FLAT_BY_PASSED,)


def test_early_close_moves_the_entry_cutoff():
    limits = eod_50k()
    close = datetime(2023, 11, 24, 12, 15, tzinfo=CHICAGO)
    state = fresh(limits, session_close_at=close)
    assert check_order(limits, state, buy(), close - timedelta(minutes=6)).allowed
    assert check_order(limits, state, buy(), close - timedelta(minutes=5)).codes == (
        RuleCode.FLAT_BY_PASSED,
    )


def test_exits_are_allowed_after_the_flat_by_time():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=3))
    late = datetime(2023, 6, 14, 15, 30, tzinfo=CHICAGO)
    assert check_order(limits, state, sell(size=3), late).allowed


def test_max_contracts_counts_the_position_after_the_order():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=4))
    assert check_order(limits, state, buy(size=1), MORNING).allowed
    refused = check_order(limits, state, buy(size=2), MORNING)
    assert refused.codes == (RuleCode.MAX_CONTRACTS,)
    assert refused.violations[0].message == (
        "position would reach 6 mini-equivalents (ES +2); the cap is 5"
    )


def test_max_contracts_counts_micros_at_one_tenth():
    limits = eod_50k(micro_ratio=10)
    state = fresh(limits, positions=positions(ES=4, MNQ=9))
    assert check_order(limits, state, buy("MES", 1), MORNING).allowed
    refused = check_order(limits, state, buy("MES", 2), MORNING)
    assert refused.codes == (RuleCode.MAX_CONTRACTS,)
    assert "5.1 mini-equivalents" in refused.violations[0].message


def test_max_contracts_counts_working_entry_orders_as_filled():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=2), working=MappingProxyType({"ES": (2, 0)}))
    assert check_order(limits, state, buy(size=1), MORNING).allowed
    assert check_order(limits, state, buy(size=2), MORNING).codes == (RuleCode.MAX_CONTRACTS,)


def test_flipping_a_position_is_an_entry():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=2))
    decision = check_order(limits, state, sell(size=8), MORNING)
    assert not decision.is_reducing
    assert decision.codes == (RuleCode.MAX_CONTRACTS,)


def test_daily_loss_reached_blocks_entries():
    limits = eod_50k()
    state = fresh(limits, realized_pnl_usd=D(-1000))
    assert check_order(limits, state, buy(), MORNING).codes == (RuleCode.DAILY_LOSS_REACHED,)


def test_max_loss_breached_blocks_entries():
    limits = eod_50k(daily_loss_limit_usd=None)
    state = fresh(limits, balance_usd=D(48_000), realized_pnl_usd=D(-2000))
    assert check_order(limits, state, buy(), MORNING).codes == (RuleCode.MAX_LOSS_BREACHED,)


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "2"])
def test_invalid_sizes_are_refused(size):
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy(size=size), MORNING)
    assert RuleCode.SIZE_INVALID in decision.codes
    assert not decision.is_reducing


def test_off_tick_limit_price_is_refused():
    limits = eod_50k()
    order = buy(kind=OrderKind.LIMIT, price=D("4500.10"), last_price=D("4501.00"))
    decision = check_order(limits, fresh(limits), order, MORNING)
    assert decision.codes == (RuleCode.PRICE_OFF_TICK,)
    assert decision.violations[0].message == "ES: 4500.10 is not a multiple of the tick size 0.25"


def test_price_outside_the_band_is_refused():
    limits = eod_50k()
    order = buy(kind=OrderKind.STOP, price=D("4800.00"), last_price=D("4500.00"))
    decision = check_order(limits, fresh(limits), order, MORNING)
    assert decision.codes == (RuleCode.PRICE_OUT_OF_BAND,)
    assert decision.violations[0].message == (
        "ES price 4800.00 is more than 5% away from the last price 4500.00"
    )
    inside = buy(kind=OrderKind.STOP, price=D("4725.00"), last_price=D("4500.00"))
    assert check_order(limits, fresh(limits), inside, MORNING).allowed


def test_limit_order_without_a_price_is_refused():
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy(kind=OrderKind.LIMIT), MORNING)
    assert decision.codes == (RuleCode.PRICE_MISSING,)


def test_a_float_price_is_refused_as_off_tick():
    limits = eod_50k()
    order = buy(kind=OrderKind.LIMIT, price=4500.25)
    assert check_order(limits, fresh(limits), order, MORNING).codes == (RuleCode.PRICE_OFF_TICK,)


def test_unknown_contract_is_refused():
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy("ZB"), MORNING)
    assert decision.codes == (RuleCode.UNKNOWN_CONTRACT,)


def test_sanity_rules_apply_to_exits_too():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=2))
    order = sell(size=2, kind=OrderKind.LIMIT, price=D("4500.10"))
    decision = check_order(limits, state, order, MORNING)
    assert decision.is_reducing
    assert decision.codes == (RuleCode.PRICE_OFF_TICK,)


def test_every_failed_rule_is_listed():
    limits = eod_50k()
    state = fresh(
        limits,
        lock_reason=LockReason.DAILY_LOSS,
        realized_pnl_usd=D(-1200),
        positions=positions(ES=5),
    )
    late = datetime(2023, 6, 14, 15, 30, tzinfo=CHICAGO)
    decision = check_order(limits, state, buy(size=1, is_strategy_enabled=False), late)
    assert decision.codes == (
        RuleCode.ACCOUNT_LOCKED,
        RuleCode.STRATEGY_DISABLED,
        RuleCode.FLAT_BY_PASSED,
        RuleCode.DAILY_LOSS_REACHED,
        RuleCode.MAX_CONTRACTS,
    )


def test_check_order_rejects_a_naive_time():
    limits = eod_50k()
    with pytest.raises(NaiveDatetime):
        check_order(limits, fresh(limits), buy(), datetime(2023, 6, 14, 10, 0))


# --- properties ----------------------------------------------------------------------------

contracts = st.sampled_from(["ES", "MES", "NQ", "MNQ"])


@given(
    held=st.integers(-200, 200).filter(bool),
    fraction=st.floats(0.0, 1.0),
    contract=contracts,
    locked=st.booleans(),
    late=st.booleans(),
    loss=st.integers(0, 5000),
)
def test_a_reducing_order_is_never_refused(held, fraction, contract, locked, late, loss):
    limits = eod_50k()
    size = max(1, round(abs(held) * fraction))
    state = fresh(
        limits,
        positions=positions(**{contract: held}),
        lock_reason=LockReason.MAX_LOSS if locked else None,
        realized_pnl_usd=D(-loss),
        balance_usd=D(50_000 - loss),
    )
    now = datetime(2023, 6, 14, 15, 30, tzinfo=CHICAGO) if late else MORNING
    side = Side.SELL if held > 0 else Side.BUY
    decision = check_order(limits, state, ProposedOrder(contract, side, size), now)
    assert decision.is_reducing
    assert decision.allowed


@given(minis=st.integers(0, 8), micros=st.integers(0, 80), add_micro=st.booleans())
def test_ten_micros_weigh_one_mini(minis, micros, add_micro):
    limits = eod_50k(micro_ratio=10)
    state = fresh(limits, positions=positions(ES=minis, MNQ=micros))
    order = buy("MES" if add_micro else "NQ", 1)
    after_units = 10 * minis + micros + (1 if add_micro else 10)
    assert check_order(limits, state, order, MORNING).allowed is (after_units <= 50)


@given(held=st.dictionaries(contracts, st.integers(-20, 20), max_size=4))
def test_exposure_is_symmetric_in_long_and_short(held):
    flipped = {k: -v for k, v in held.items()}
    assert exposure_units(held, {}, 10) == exposure_units(flipped, {}, 10)


@pytest.mark.parametrize("side", [2, -1, True])
def test_invalid_side_is_refused(side):
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), ProposedOrder("ES", side, 1), MORNING)
    assert RuleCode.SIDE_INVALID in decision.codes


def test_an_exit_keyed_by_symbol_matches_a_position_keyed_by_contract_id():
    limits = eod_50k()
    state = fresh(
        limits, lock_reason=LockReason.MAX_LOSS, positions=positions(**{"CON.F.US.EP.Z25": 2})
    )
    decision = check_order(limits, state, sell("ES", 2), MORNING)
    assert decision.is_reducing
    assert decision.allowed


def test_different_expiries_are_different_positions():
    limits = eod_50k()
    state = fresh(
        limits, lock_reason=LockReason.MANUAL, positions=positions(**{"CON.F.US.EP.Z25": 2})
    )
    decision = check_order(limits, state, sell("CON.F.US.EP.H26", 2), MORNING)
    assert not decision.is_reducing
    assert decision.codes == (RuleCode.ACCOUNT_LOCKED,)


def test_express_funded_cap_follows_the_scaling_plan_in_check_order():
    limits = plan_limits("express", 50)
    start = AccountRiskState.opening(limits)
    assert check_order(limits, start, buy(size=2), MORNING).allowed
    assert check_order(limits, start, buy(size=3), MORNING).codes == (RuleCode.MAX_CONTRACTS,)
    scaled = roll_trading_day(limits, start, D(2100))
    assert check_order(limits, scaled, buy(size=5), MORNING).allowed


def test_a_market_order_needs_no_price_and_ignores_the_band():
    limits = eod_50k()
    order = buy(price=None, last_price=D("4500.00"))
    assert check_order(limits, fresh(limits), order, MORNING).allowed


def test_a_numpy_integer_size_is_a_whole_number():
    import numpy as np

    limits = eod_50k()
    assert check_order(limits, fresh(limits), buy(size=np.int64(2)), MORNING).allowed


@pytest.mark.parametrize("kind", [3, 6, 7, "LIMIT", None])
def test_an_unsupported_order_kind_is_refused(kind):
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy(kind=kind, price=D("4500.00")), MORNING)
    assert RuleCode.KIND_INVALID in decision.codes


def test_a_bad_last_price_skips_the_band_instead_of_crashing():
    limits = eod_50k()
    for last in (D("NaN"), 4500.0, "4500"):
        order = buy(kind=OrderKind.LIMIT, price=D("4500.00"), last_price=last)
        assert check_order(limits, fresh(limits), order, MORNING).allowed


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.decimals(allow_nan=True, allow_infinity=True),
)


@given(
    contract=st.one_of(st.sampled_from(["ES", "MES", "CON.F.US.EP.Z25", "ZB", ""]), st.none()),
    side=anything,
    size=anything,
    kind=st.one_of(st.sampled_from(list(OrderKind)), anything),
    price=anything,
    last=anything,
)
def test_check_order_never_crashes_on_malformed_proposals(contract, side, size, kind, price, last):
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=1))
    decision = check_order(
        limits, state, ProposedOrder(contract, side, size, kind, price, last), MORNING
    )
    assert decision.allowed is (not decision.violations)


def test_an_entry_whose_stop_out_would_reach_the_daily_limit_is_refused():
    limits = eod_50k()
    state = fresh(limits, realized_pnl_usd=D(-600), balance_usd=D(49_400))
    assert check_order(limits, state, buy(max_loss_usd=D("399.99")), MORNING).allowed
    refused = check_order(limits, state, buy(max_loss_usd=D(400)), MORNING)
    assert refused.codes == (RuleCode.TRADE_RISK_TOO_LARGE,)
    assert refused.violations[0].message == (
        "a stop-out would lose 400, reaching the daily loss limit (400 of room left)"
    )


def test_an_entry_whose_stop_out_would_reach_the_mll_floor_is_refused():
    limits = eod_50k(daily_loss_limit_usd=None)
    state = fresh(limits, balance_usd=D(48_300))
    refused = check_order(limits, state, buy(max_loss_usd=D(300)), MORNING)
    assert refused.codes == (RuleCode.TRADE_RISK_TOO_LARGE,)
    assert "max loss limit (300 of room left)" in refused.violations[0].message


def test_trade_risk_does_not_apply_to_exits():
    limits = eod_50k()
    state = fresh(limits, realized_pnl_usd=D(-990), positions=positions(ES=1))
    assert check_order(limits, state, sell(max_loss_usd=D(5000)), MORNING).allowed


def test_a_malformed_trade_risk_is_refused():
    limits = eod_50k()
    decision = check_order(limits, fresh(limits), buy(max_loss_usd=D(-1)), MORNING)
    assert decision.codes == (RuleCode.TRADE_RISK_TOO_LARGE,)


def test_a_losing_day_walks_through_warning_lock_exit_and_next_day_reset():
    limits = eod_50k()
    state = fresh(limits, positions=positions(ES=2))
    # Open loss of $820: a warning, entries still allowed.
    state = replace(state, unrealized_pnl_usd=D(-820))
    assert assess(limits, state).status == RiskStatus.WARNING
    assert check_order(limits, state, buy(size=1), MORNING).allowed
    # Loss reaches the $1,000 DLL: flatten and lock; only the exit passes.
    state = replace(state, unrealized_pnl_usd=D(-1000))
    verdict = assess(limits, state)
    assert (verdict.status, verdict.must_flatten) == (RiskStatus.DAILY_LIMIT, True)
    state = with_lock(state, verdict.lock_reason)
    assert check_order(limits, state, buy(size=1), MORNING).codes == (
        RuleCode.ACCOUNT_LOCKED,
        RuleCode.DAILY_LOSS_REACHED,
    )
    assert check_order(limits, state, sell(size=2), MORNING).allowed
    # Flattened at the loss, fees paid; the next trading day starts unlocked.
    state = replace(
        state,
        positions=positions(),
        unrealized_pnl_usd=D(0),
        realized_pnl_usd=D(-1000),
        fees_usd=D("5.60"),
        balance_usd=D("48994.40"),
    )
    state = roll_trading_day(limits, state, state.balance_usd)
    assert state.lock_reason is None
    assert state.mll_floor_usd == D(48_000)
    assert check_order(limits, state, buy(size=1), MORNING + timedelta(days=1)).allowed
