"""The Express Funded stage: payouts on the winning-days and consistency paths, the floor at $0
after a payout, the XFA failing; properties on made-up days, and on real ES bars the arithmetic
settlement against a replay of every day under the XFA plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from hypothesis import given
from hypothesis import settings as hypothesis_settings

from execution import risk
from markets.bars import load_bars_csv
from markets.ticks import spec_for
from strategies.backtest.run import ReplayData
from strategies.evaluation.attempt import DayResult, DaySettler
from strategies.evaluation.days import Day, trace_days
from strategies.evaluation.express import (
    ExpressOutcome,
    PayoutPath,
    PayoutPolicy,
    run_express,
)
from strategies.evaluation.lab import ExpressRunner, ExpressStage, replay_day
from strategies.tests.test_evaluation_lab import ES_FILE, evaluate_json
from strategies.tests.test_evaluation_properties import days

ES = spec_for("ES")
XFA = risk.plan_limits("express", 50)  # balance from $0, floor -2,000 EOD locking at $0
POLICY = PayoutPolicy(
    winning_days=5,
    winning_day_usd=Decimal(150),
    balance_share=Decimal("0.5"),
    cap_usd=Decimal(5000),
    consistency_days=3,
    consistency_share=Decimal("0.4"),
)
MONDAY = date(2024, 3, 4)


def closing_at(nets: list[str], low: str | None = None):
    """A settle that closes each day at its net (and fails when the balance reaches the floor)."""

    def settle(state: risk.AccountRiskState, k: int) -> DayResult:
        net = Decimal(nets[k])
        closed = risk.roll_trading_day(XFA, state, state.balance_usd + net)
        failed = closed.balance_usd <= state.mll_floor_usd
        return DayResult(
            net, int(net != 0), 0, closed, closed.balance_usd - closed.mll_floor_usd,
            failed_reason=risk.LockReason.MAX_LOSS.value if failed else None,
        )  # fmt: skip

    return settle


def dates(n: int) -> list[date]:
    return [MONDAY + timedelta(days=k) for k in range(n)]


def test_five_winning_days_pay_half_the_balance_then_the_floor_is_zero():
    nets = ["600", "-100", "150", "150", "149.99", "150", "150", "-300", "-400"]
    run = run_express(POLICY, XFA, dates(len(nets)), closing_at(nets))
    # Winning days ($150+): 600 and four of 150 -> the fifth on day 7; 149.99 does not count.
    # The consistency path is not met before: the best day (600) stays >= 40 % of the profit.
    [payout] = run.payouts
    assert (payout.session, payout.path) == (7, PayoutPath.WINNING_DAYS)
    assert payout.amount_usd == Decimal("624.99")  # 50 % of 1,249.99, rounded down to the cent
    # After the payout the floor is $0: 625.00 - 300 - 400 falls through it on day 9.
    assert (run.outcome, run.sessions, run.reason) == (
        ExpressOutcome.FAILED,
        9,
        risk.LockReason.MAX_LOSS.value,
    )
    assert run.balance_usd == Decimal("-75.00")


def test_three_steady_days_pay_on_the_consistency_path():
    run = run_express(POLICY, XFA, dates(4), closing_at(["100", "120", "110", "50"]))
    # 120 < 40 % of 330 on day 3: paid 165.00; nothing more (a new cycle needs 3 days again).
    assert [(p.session, p.path, p.amount_usd) for p in run.payouts] == [
        (3, PayoutPath.CONSISTENCY, Decimal("165.00"))
    ]
    assert (run.outcome, run.balance_usd) == (ExpressOutcome.FUNDED, Decimal("215.00"))


def test_one_big_day_waits_for_the_winning_days():
    # 500 is >= 40 % of every later cycle profit here: no consistency payout; the winning days
    # path pays on the fifth $150+ day; the cap limits a large balance's payout.
    nets = ["500", "100", "100", "150", "150", "9000", "150"]
    policy = replace(POLICY, cap_usd=Decimal(2000))
    run = run_express(policy, XFA, dates(len(nets)), closing_at(nets))
    assert [(p.session, p.path, p.amount_usd) for p in run.payouts] == [
        (7, PayoutPath.WINNING_DAYS, Decimal("2000"))
    ]


def test_a_policy_without_a_consistency_path_or_with_half_of_it_is_refused():
    assert replace(POLICY, consistency_days=None, consistency_share=None).consistency_days is None
    with pytest.raises(ValueError, match="consistency path"):
        replace(POLICY, consistency_share=None)
    with pytest.raises(ValueError, match="balance share"):
        replace(POLICY, balance_share=Decimal("1.5"))


def as_closing(settler: DaySettler, row: list[Day]):
    """Arithmetic where exact, else the day closes at its net (a stand-in for the replay)."""

    def settle(state: risk.AccountRiskState, k: int) -> DayResult:
        settled = settler.arithmetic(state, row[k])
        if settled is not None:
            return settled
        closed = risk.roll_trading_day(XFA, state, state.balance_usd + row[k].net_usd)
        failed = closed.balance_usd <= state.mll_floor_usd
        return DayResult(
            row[k].net_usd, row[k].trades, 0, closed, closed.balance_usd - closed.mll_floor_usd,
            failed_reason="max_loss_limit" if failed else None,
        )  # fmt: skip

    return settle


@hypothesis_settings(max_examples=150, deadline=None)
@given(row=days())
def test_payouts_keep_to_the_policy_and_no_money_is_lost(row):
    settler = DaySettler(XFA, ES, ES.fee_per_side_usd)
    settle = as_closing(settler, row)
    day_dates = [d.trading_date for d in row]
    run = run_express(POLICY, XFA, day_dates, settle)
    assert run == run_express(POLICY, XFA, day_dates, settle, idle=settler.idle_days(row))
    # Walk the same days: every payout at most half the balance and the cap, and the money
    # made (the days' nets) is what was paid plus what is left.
    state, made, paid = risk.AccountRiskState.opening(XFA), Decimal(0), {}
    for p in run.payouts:
        paid[p.session] = p
    for k in range(run.sessions):
        result = settle(state, k)
        state, made = result.state, made + result.net_usd
        if k + 1 in paid:
            amount = paid[k + 1].amount_usd
            assert 0 < amount <= min(state.balance_usd * POLICY.balance_share, POLICY.cap_usd)
            state = replace(state, balance_usd=state.balance_usd - amount, mll_floor_usd=Decimal(0))
    assert made == run.paid_usd + run.balance_usd
    if run.outcome == ExpressOutcome.FAILED:
        assert run.reason == "max_loss_limit"
    else:
        assert run.sessions == len(row)


@pytest.fixture(scope="module")
def es() -> ReplayData:
    return ReplayData.prepare(load_bars_csv(ES_FILE, ES.tick_size, cache=True))


@pytest.mark.parametrize("params", [{}, {"stop_atr": "0.15"}], ids=["defaults", "tight-stop"])
def test_xfa_runs_settled_by_arithmetic_match_every_day_replayed(es, params):
    trace = trace_days("overnight_range_breakout", params, es, ES)
    stage = ExpressStage(XFA, POLICY, horizon=60)
    runner = ExpressRunner(trace, stage)
    paid = 0
    for begin in range(0, len(trace.days) - 60, 250):
        rows = range(begin, begin + 60)
        row = [trace.days[i] for i in rows]

        def replayed(state, k, row=row):
            return replay_day(trace, XFA, state, row[k])

        truth = run_express(POLICY, XFA, [d.trading_date for d in row], replayed)
        assert runner.run(rows) == truth, begin
        paid += bool(truth.payouts)
    assert paid  # payouts were reached, so the floor at $0 after one was lived through too
    assert runner.replayed._done  # some days needed the replay, others not


@pytest.mark.django_db
def test_evaluate_reports_the_xfa_of_each_passed_attempt_in_json_and_text():
    report = evaluate_json("--plan=combine-50k", "--every=20", "--paths=300", "--horizon=120")
    xfa = report["express_plan"]
    assert (xfa["code"], xfa["sessions"]) == ("express-50k", 250)
    assert "scaling plan: 3 above 1,500 USD, 5 above 2,000 USD" in xfa["rules"]
    assert xfa["payout_policy"]["winning_day_usd"] == "150.00"
    assert "not confirmed" in xfa["payout_policy"]["source"]
    rows = report["attempts"]
    passed = [r for r in rows if r["outcome"] == "passed"]
    assert all(r["express"] is None for r in rows if r["outcome"] != "passed")
    figures = report["history"]["express"]
    ran = [r["express"] for r in passed if r["express"]["sessions"]]
    assert figures["runs"] == len(ran) > 0
    assert figures["with_payout"] == sum(1 for x in ran if x["payouts"]) > 0
    for x in ran:
        assert Decimal(x["paid_usd"]) == sum(Decimal(p["amount_usd"]) for p in x["payouts"])
        assert {p["path"] for p in x["payouts"]} <= {"winning_days", "consistency"}
        if x["payouts"]:
            assert x["days_to_first_payout"] == x["payouts"][0]["session"]
    assert sum(figures["first_payout_paths"].values()) == figures["with_payout"]
    assert report["monte_carlo"]["express"]["runs"] > 0


@pytest.mark.django_db
def test_evaluate_prints_the_express_stage():
    out = StringIO()
    call_command(
        "evaluate", "--strategy=overnight_range_breakout", f"--bars={ES_FILE}", "--contract=ES",
        "--plan=combine-50k", "--every=20", "--paths=0", stdout=out, stderr=StringIO(),
    )  # fmt: skip
    text = out.getvalue()
    assert "then: Express Funded 50K (express-50k) for up to 250 sessions" in text
    assert "payout after 5 days of 150.00+ USD (winning days) or 3 trading days" in text
    assert "a payout reached by" in text
    assert "days to the first payout: median" in text
