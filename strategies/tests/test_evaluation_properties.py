"""Properties of the evaluation arithmetic, on made-up days (no market data)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execution import risk
from markets.ticks import spec_for
from strategies.backtest.account import Placement
from strategies.evaluation.attempt import DayResult, DaySettler, Goal, Outcome, run_attempt
from strategies.evaluation.days import Day
from strategies.evaluation.lab import bootstrap_indices
from strategies.evaluation.stats import wilson_interval

ES = spec_for("ES")
LIMITS = risk.plan_limits("combine", 50)
GOAL = Goal(Decimal(3000), Decimal("0.5"))
MONDAY = date(2024, 3, 4)
NINE_THIRTY_ET = 1709562600  # 2024-03-04 14:30 UTC


@st.composite
def days(draw) -> list[Day]:
    """Sessions with one or two bracketed entries at the open and a trade or none."""
    out = []
    for k in range(draw(st.integers(min_value=1, max_value=60))):
        stop = draw(st.integers(min_value=4, max_value=120))
        entries = draw(st.integers(min_value=0, max_value=2))
        traded = entries > 0 and draw(st.booleans())
        net = Decimal(draw(st.integers(min_value=-stop * 1250 - 280, max_value=300_000))) / 100
        net = net if traded else Decimal(0)
        low = min(net, Decimal(0)) - Decimal(draw(st.integers(0, 50_000))) / 100 * traded
        high = max(net, Decimal(0)) + Decimal(draw(st.integers(0, 50_000))) / 100 * traded
        ts = NINE_THIRTY_ET + k * 86400
        out.append(
            Day(
                trading_date=MONDAY + timedelta(days=k),
                net_usd=net,
                trades=int(traded),
                low_usd=low,
                high_usd=high,
                placements=tuple(Placement(ts, i % 2, 1, stop) for i in range(entries)),
                first_fill_ts=ts + 60 if traded else None,
            )
        )
    return out


def as_if_no_rules(settler: DaySettler, row: list[Day]):
    """A stand-in for the replay: any fixed function of (state, day) will do for these checks."""

    def settle(state: risk.AccountRiskState, k: int) -> DayResult:
        settled = settler.arithmetic(state, row[k])
        if settled is not None:
            return settled
        # Fails when the day's low reaches the floor.
        verdict = risk.assess(LIMITS, replace(state, unrealized_pnl_usd=row[k].low_usd))
        failed = verdict.lock_reason == risk.LockReason.MAX_LOSS
        closed = risk.roll_trading_day(LIMITS, state, state.balance_usd + row[k].net_usd)
        if failed:
            closed = risk.with_lock(closed, risk.LockReason.MAX_LOSS)
        return DayResult(
            row[k].net_usd,
            row[k].trades,
            0,
            closed,
            closed.balance_usd - closed.mll_floor_usd,
            failed_reason="max_loss_limit" if failed else None,
        )

    return settle


@settings(max_examples=150, deadline=None)
@given(row=days())
def test_skipping_idle_days_changes_nothing(row):
    settler = DaySettler(LIMITS, ES, ES.fee_per_side_usd)
    dates = [d.trading_date for d in row]
    idle = settler.idle_days(row)
    day_by_day = run_attempt(GOAL, LIMITS, dates, as_if_no_rules(settler, row), keep_path=True)
    skipping = run_attempt(
        GOAL, LIMITS, dates, as_if_no_rules(settler, row), idle=idle, keep_path=True
    )
    assert skipping == day_by_day


@settings(max_examples=150, deadline=None)
@given(row=days())
def test_an_attempt_ends_on_the_first_day_that_passes_or_fails(row):
    settler = DaySettler(LIMITS, ES, ES.fee_per_side_usd)
    settle = as_if_no_rules(settler, row)
    attempt = run_attempt(GOAL, LIMITS, [d.trading_date for d in row], settle, keep_path=True)
    # Walk the same days independently and find the first verdict.
    state = risk.AccountRiskState.opening(LIMITS)
    best, traded, expected = None, 0, (Outcome.UNFINISHED, None, len(row))
    for k, day in enumerate(row):
        result = settle(state, k)
        state = result.state
        best = result.net_usd if best is None else max(best, result.net_usd)
        traded += result.trades > 0
        profit = state.balance_usd - LIMITS.starting_balance_usd
        if result.failed_reason:
            expected = (Outcome.FAILED, day.trading_date, k + 1)
            break
        if profit >= GOAL.profit_target_usd and best < GOAL.consistency_share * profit:
            expected = (Outcome.PASSED, day.trading_date, k + 1)
            break
    assert (attempt.outcome, attempt.end, attempt.sessions) == expected
    assert len(attempt.equity_usd) == attempt.sessions
    if attempt.outcome == Outcome.PASSED:
        assert attempt.profit_usd >= GOAL.profit_target_usd


@given(
    successes=st.integers(min_value=0, max_value=500),
    extra=st.integers(min_value=0, max_value=500),
)
def test_wilson_interval_holds_the_observed_rate(successes, extra):
    trials = successes + extra
    interval = wilson_interval(successes, trials)
    if trials == 0:
        assert interval is None
        return
    low, high = interval
    assert 0 <= low <= successes / trials <= high <= 1
    wider = wilson_interval(successes, trials)
    tighter = wilson_interval(successes * 4, trials * 4)
    assert tighter[1] - tighter[0] <= wider[1] - wider[0] + 1e-12


@given(
    n=st.integers(min_value=1, max_value=400),
    horizon=st.integers(min_value=1, max_value=300),
    block=st.integers(min_value=1, max_value=20),
    seed=st.integers(min_value=0, max_value=10),
)
def test_bootstrap_keeps_runs_of_consecutive_days(n, horizon, block, seed):
    index = bootstrap_indices(n, 7, horizon, block, np.random.default_rng(seed))
    assert index.shape == (7, horizon)
    assert index.min() >= 0
    assert index.max() < n
    for start in range(0, horizon, block):
        run = index[:, start : start + block]
        assert ((np.diff(run, axis=1) - 1) % n == 0).all()
