"""The Evaluation Lab: a plan's evaluation replayed from every start date over the history, and
the same figures over Monte Carlo paths (a block bootstrap of the strategy's days).

    trace = trace_days("overnight_range_breakout", {}, ReplayData.prepare(bars), spec_for("ES"))
    attempts = evaluate_history(trace, limits, goal)          # one attempt per start day
    paths = monte_carlo(trace, limits, goal, paths=10_000)    # resampled attempts
    summarize(attempts, fee_usd=plan.evaluation_fee_usd)

With ``express=ExpressStage(xfa_limits, payout_policy)`` every passed attempt goes on into the
Express Funded Account on the sessions that follow its pass (``express.run_express``).

Days are settled by arithmetic over the run without rules where that is exact, and by replaying
the session under the plan where an intraday rule needs it (``attempt`` says when). A Monte Carlo
path is a sequence of real sessions, so its days are settled the same way, from the path's state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np

from execution import risk
from markets.ticks import ContractSpec
from strategies.backtest.run import ReplayData, walk_forward_splits
from strategies.evaluation.attempt import (
    Attempt,
    DayResult,
    DaySettler,
    Goal,
    Outcome,
    run_attempt,
)
from strategies.evaluation.days import Day, Trace, trace_days
from strategies.evaluation.express import ExpressRun, PayoutPolicy, run_express

Progress = Callable[[int, int], None]


def _settler(trace: Trace, limits: risk.RiskLimits) -> DaySettler:
    replayer = trace.replayer
    fee = replayer.commission_usd
    if fee is None:
        fee = replayer.spec.fee_per_side_usd
    return DaySettler(limits, replayer.spec, fee)


def replay_day(
    trace: Trace, limits: risk.RiskLimits, state: risk.AccountRiskState, day: Day
) -> DayResult:
    """The session replayed under the plan from ``state`` (the engine decides every rule)."""
    run = trace.replayer.day(limits, state, day.trading_date)
    result, closed = run.result, run.account.state
    return DayResult(
        net_usd=sum(result.daily_pnl_usd, Decimal(0)),
        trades=len(result.trades),
        refused=result.refused_entries,
        state=closed,
        headroom_usd=closed.balance_usd - closed.mll_floor_usd,
        failed_reason=risk.LockReason.MAX_LOSS.value if result.failed_on else None,
        daily_limit=bool(result.daily_loss_limit_days),
        replayed=True,
    )


class ReplayCache:
    """Replayed sessions by (date, account state): attempts often reach a day in one state."""

    def __init__(self, trace: Trace, limits: risk.RiskLimits) -> None:
        self.trace, self.limits = trace, limits
        self._done: dict[tuple, DayResult] = {}

    def __call__(self, state: risk.AccountRiskState, day: Day) -> DayResult:
        key = (
            day.trading_date,
            state.balance_usd,
            state.high_water_usd,
            state.mll_floor_usd,
            state.lock_reason,
        )
        if key not in self._done:
            self._done[key] = replay_day(self.trace, self.limits, state, day)
        return self._done[key]


@dataclass(frozen=True, slots=True)
class ExpressStage:
    """The Express Funded Account a passed attempt continues into, for up to ``horizon`` sessions."""

    limits: risk.RiskLimits
    policy: PayoutPolicy
    horizon: int = 250


class ExpressRunner:
    """Runs the XFA stage over any sequence of the trace's days (settled as attempts are)."""

    def __init__(self, trace: Trace, stage: ExpressStage) -> None:
        self.days, self.stage = trace.days, stage
        self.settler = _settler(trace, stage.limits)
        self.replayed = ReplayCache(trace, stage.limits)
        self.idle_days = self.settler.idle_days(trace.days)

    def run(self, rows: Sequence[int]) -> ExpressRun:
        """The XFA over the days at ``rows`` (indices into the trace's days, in order)."""
        rows = np.asarray(rows[: self.stage.horizon], dtype=np.int64)
        row = [self.days[i] for i in rows]

        def settle(state: risk.AccountRiskState, k: int) -> DayResult:
            settled = self.settler.arithmetic(state, row[k])
            return settled if settled is not None else self.replayed(state, row[k])

        return run_express(
            self.stage.policy,
            self.stage.limits,
            [d.trading_date for d in row],
            settle,
            idle=self.idle_days.take(rows),
        )


def evaluate_history(
    trace: Trace,
    limits: risk.RiskLimits,
    goal: Goal,
    *,
    every: int = 1,
    on_progress: Progress | None = None,
    keep_paths: bool = False,
    express: ExpressStage | None = None,
) -> list[Attempt]:
    """One attempt starting on every ``every``-th session, each with a fresh account; with
    ``express``, a passed one goes on into the XFA from the next session."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    settler = _settler(trace, limits)
    days = trace.days
    dates = [d.trading_date for d in days]
    replayed = ReplayCache(trace, limits)

    starts = range(0, len(days), every)
    attempts = []
    idle_days = settler.idle_days(days)
    xfa = ExpressRunner(trace, express) if express is not None else None
    xfa_from: dict[int, ExpressRun] = {}  # a fresh XFA from one session always runs the same
    for n, first in enumerate(starts, 1):

        def settle(state: risk.AccountRiskState, k: int, first: int = first) -> DayResult:
            day = days[first + k]
            settled = settler.arithmetic(state, day)
            return settled if settled is not None else replayed(state, day)

        def idle(state: risk.AccountRiskState, k: int, first: int = first) -> tuple[int, int]:
            return idle_days(state, k, first)

        attempt = run_attempt(goal, limits, dates[first:], settle, idle=idle, keep_path=keep_paths)
        if xfa is not None and attempt.outcome == Outcome.PASSED:
            begin = first + attempt.sessions
            if begin not in xfa_from:
                xfa_from[begin] = xfa.run(range(begin, len(days)))
            attempt = replace(attempt, express=xfa_from[begin])
        attempts.append(attempt)
        if on_progress is not None:
            on_progress(n, len(starts))
    return attempts


def bootstrap_indices(
    days: int, paths: int, horizon: int, block: int, rng: np.random.Generator
) -> np.ndarray:
    """``paths`` x ``horizon`` day indices: runs of ``block`` consecutive days from random
    starts (circular), so streaks of good and bad days stay together."""
    if days < 1 or paths < 1 or horizon < 1 or block < 1:
        raise ValueError("days, paths, horizon and block must be >= 1")
    blocks = -(-horizon // block)
    starts = rng.integers(0, days, size=(paths, blocks))
    index = (starts[:, :, None] + np.arange(block)) % days
    return index.reshape(paths, blocks * block)[:, :horizon]


def monte_carlo(
    trace: Trace,
    limits: risk.RiskLimits,
    goal: Goal,
    *,
    paths: int = 10_000,
    horizon: int = 250,
    block: int = 5,
    seed: int = 0,
    on_progress: Progress | None = None,
    keep_paths: int = 0,
    express: ExpressStage | None = None,
    express_paths: int = 1_000,
) -> list[Attempt]:
    """Attempts over resampled histories of ``horizon`` sessions (block bootstrap); the first
    ``keep_paths`` keep their end-of-day equity and floor (the fan chart). With ``express``, the
    first ``express_paths`` passed paths go on into the XFA, each over a resampled history of its
    own (drawn with the next seed, so the Combine's figures stay those of the seed). A fresh XFA
    on its own history does not depend on the path that passed: these runs are a sample of the
    XFA stage, kept to ``express_paths`` because an XFA near its floor needs many replays."""
    settler = _settler(trace, limits)
    days = trace.days
    index = bootstrap_indices(len(days), paths, horizon, block, np.random.default_rng(seed))
    xfa = ExpressRunner(trace, express) if express is not None else None
    if xfa is not None:
        xfa_index = bootstrap_indices(
            len(days), express_paths, xfa.stage.horizon, block, np.random.default_rng(seed + 1)
        )
    xfa_runs = 0
    idle_days = settler.idle_days(days)
    replayed = ReplayCache(trace, limits)
    attempts = []
    step = max(1, paths // 100)
    for p in range(paths):
        row = [days[i] for i in index[p]]

        def settle(state: risk.AccountRiskState, k: int, row: list[Day] = row) -> DayResult:
            settled = settler.arithmetic(state, row[k])
            return settled if settled is not None else replayed(state, row[k])

        attempt = run_attempt(
            goal,
            limits,
            [d.trading_date for d in row],
            settle,
            idle=idle_days.take(index[p]),
            keep_path=p < keep_paths,
        )
        if xfa is not None and attempt.outcome == Outcome.PASSED and xfa_runs < express_paths:
            attempt = replace(attempt, express=xfa.run(xfa_index[xfa_runs]))
            xfa_runs += 1
        attempts.append(attempt)
        if on_progress is not None and ((p + 1) % step == 0 or p + 1 == paths):
            on_progress(p + 1, paths)
    return attempts


def walk_forward(
    strategy: str,
    cells: list[dict[str, object]],
    data: ReplayData,
    spec: ContractSpec,
    limits: risk.RiskLimits,
    goal: Goal,
    *,
    in_sample_sessions: int,
    out_of_sample_sessions: int,
    every: int = 1,
) -> dict[str, Any]:
    """Parameters chosen in-sample (the cell whose attempts passed most often within the window),
    evaluations scored out-of-sample only; the in-sample/out-of-sample gap says how much of the
    in-sample figure was fitting. Folds from ``walk_forward_splits``."""
    folds = []
    out_of_sample: list[Attempt] = []
    for split in walk_forward_splits(
        data.sessions.dates,
        in_sample_sessions=in_sample_sessions,
        out_of_sample_sessions=out_of_sample_sessions,
    ):
        scored = []
        for cell in cells:
            trace = trace_days(
                strategy,
                cell,
                data,
                spec,
                first_date=split.in_sample[0],
                last_date=split.in_sample[1],
            )
            scored.append((_passed_share(evaluate_history(trace, limits, goal, every=every)), cell))
        best_score, best = max(scored, key=lambda item: item[0])  # first cell wins a tie
        trace = trace_days(
            strategy,
            best,
            data,
            spec,
            first_date=split.out_of_sample[0],
            last_date=split.out_of_sample[1],
        )
        attempts = evaluate_history(trace, limits, goal, every=every)
        out_of_sample += attempts
        folds.append(
            {
                "in_sample": [d.isoformat() for d in split.in_sample],
                "out_of_sample": [d.isoformat() for d in split.out_of_sample],
                "params": best,
                "in_sample_passed_share": best_score,
                "out_of_sample_passed_share": _passed_share(attempts),
            }
        )
    in_mean = _mean([f["in_sample_passed_share"] for f in folds])
    out_mean = _mean([f["out_of_sample_passed_share"] for f in folds])
    return {
        "folds": folds,
        "in_sample_passed_share": in_mean,
        "out_of_sample_passed_share": out_mean,
        "gap": None if in_mean is None or out_mean is None else in_mean - out_mean,
        "out_of_sample_attempts": out_of_sample,
    }


def _passed_share(attempts: list[Attempt]) -> float:
    return sum(a.outcome == Outcome.PASSED for a in attempts) / len(attempts) if attempts else 0.0


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
