"""Evaluations (the Evaluation Lab): will a strategy pass a plan's evaluation, how soon, and how
close does it come to failing. Inputs are checked here (as for backtests); the computation is
``strategies.evaluation`` (pure); the report is JSON-ready.

    report = evaluation_report(kind="overnight_range_breakout", params={}, contract="ES",
                               bars_source="es_1min_2019-2023.csv.gz", plan_code="combine-50k")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccountPlan, Tenant
from accounts.selectors import express_plan_after
from accounts.services import audit_record
from execution.selectors import risk_limits_for_plan
from strategies.backtest.run import ReplayData, describe_rules, parameter_grid
from strategies.backtests import (
    BacktestInputError,
    bars_load,
    contract_spec,
    plan_get,
    resolve_bars_source,
)
from strategies.evaluation.attempt import Attempt, Goal, Outcome
from strategies.evaluation.days import trace_days
from strategies.evaluation.express import ExpressRun, PayoutPolicy
from strategies.evaluation.lab import ExpressStage, evaluate_history, monte_carlo, walk_forward
from strategies.evaluation.stats import summarize
from strategies.models import BacktestStatus, EvaluationRun
from strategies.services import strategy_params_clean
from tradingsite.dispatch import Policy, enqueue_on_commit

Progress = Callable[[str, int, int], None]  # (stage, done, total)
FAN_PATHS = 500
MAX_PATHS = 100_000
EXPRESS_SESSIONS = 250  # how long a passed attempt trades its Express Funded Account (a year)
EXPRESS_PATHS = 1_000  # Monte Carlo: passed paths that go on into the XFA (lab.monte_carlo)


@dataclass(frozen=True, slots=True)
class EvaluationInputs:
    kind: str
    params: dict[str, Any]
    contract: str
    bars_source: str
    plan_code: str
    every: int = 1
    paths: int = 10_000
    horizon: int = 250
    block: int = 5
    seed: int = 0


def evaluation_inputs(
    *,
    kind: str,
    params: Mapping[str, Any] | None,
    contract: str,
    bars_source: str,
    plan_code: str,
    every: int = 1,
    paths: int = 10_000,
    horizon: int = 250,
    block: int = 5,
    seed: int = 0,
    allow_any_path: bool = False,
) -> EvaluationInputs:
    """Checked inputs; raises ParameterError (per field) or BacktestInputError (says which)."""
    clean = strategy_params_clean(kind=kind, params=params)
    spec = contract_spec(contract)
    source = resolve_bars_source(bars_source, allow_any_path=allow_any_path)
    plan = plan_get(plan_code) if plan_code else None
    if plan is None or plan.profit_target_usd is None:
        raise BacktestInputError(
            f"an evaluation needs a plan with a profit target (a Trading Combine, e.g. "
            f"combine-50k); {plan_code or 'no plan'!s} has none"
        )
    for name, value, low, high in (
        ("every", every, 1, 1000),
        ("paths", paths, 0, MAX_PATHS),
        ("horizon", horizon, 1, 5000),
        ("block", block, 1, 250),
    ):
        if not low <= value <= high:
            raise BacktestInputError(f"{name} must be between {low} and {high}, got {value}")
    return EvaluationInputs(
        kind, clean, spec.symbol, source, plan_code, every, paths, horizon, block, seed
    )


def evaluation_report(
    inputs: EvaluationInputs, *, on_progress: Progress | None = None
) -> dict[str, Any]:
    """Replay once without rules, then every start day under the plan, then the Monte Carlo."""
    started = time.perf_counter()
    plan = plan_get(inputs.plan_code)
    limits = risk_limits_for_plan(plan=plan)
    goal = Goal(plan.profit_target_usd, plan.consistency_share)  # type: ignore[arg-type]
    spec = contract_spec(inputs.contract)
    data = ReplayData.prepare(bars_load(source=inputs.bars_source, contract=spec))
    trace = trace_days(inputs.kind, inputs.params, data, spec)
    xfa_plan = express_plan_after(plan=plan)
    express = express_stage(xfa_plan) if xfa_plan is not None else None
    history = evaluate_history(
        trace,
        limits,
        goal,
        every=inputs.every,
        on_progress=_stage(on_progress, "history"),
        express=express,
    )
    report: dict[str, Any] = {
        "strategy": inputs.kind,
        "params": trace.replayer.params,
        "contract": spec.symbol,
        "plan": {
            "code": plan.code,
            "name": str(plan),
            "rules": describe_rules(limits),
            "profit_target_usd": str(plan.profit_target_usd),
            "consistency_share": str(plan.consistency_share),
            "evaluation_fee_usd": _str(plan.evaluation_fee_usd),
            "evaluation_fee_source": plan.evaluation_fee_source,
        },
        "express_plan": _express_plan_row(xfa_plan, express),
        "sessions": len(trace.days),
        "first_date": trace.days[0].trading_date.isoformat() if trace.days else None,
        "last_date": trace.days[-1].trading_date.isoformat() if trace.days else None,
        "start_every": inputs.every,
        "history": _jsonable(summarize(history, fee_usd=plan.evaluation_fee_usd)),
        "attempts": [_attempt_row(a) for a in history],
    }
    if inputs.paths:
        paths = monte_carlo(
            trace,
            limits,
            goal,
            paths=inputs.paths,
            horizon=inputs.horizon,
            block=inputs.block,
            seed=inputs.seed,
            keep_paths=min(FAN_PATHS, inputs.paths),
            on_progress=_stage(on_progress, "monte_carlo"),
            express=express,
            express_paths=EXPRESS_PATHS,
        )
        report["monte_carlo"] = {
            "paths": inputs.paths,
            "horizon_sessions": inputs.horizon,
            "block_sessions": inputs.block,
            "seed": inputs.seed,
            **_jsonable(summarize(paths, fee_usd=plan.evaluation_fee_usd)),
            "fan": fan_chart(paths[:FAN_PATHS], inputs.horizon),
        }
    report["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    return report


def evaluation_walk_forward(
    inputs: EvaluationInputs,
    grid: Mapping[str, list[str]],
    *,
    in_sample_sessions: int,
    out_of_sample_sessions: int,
) -> dict[str, Any]:
    """Parameters chosen in-sample among ``grid``'s cells (over ``inputs.params``), attempts scored
    out-of-sample only, with the gap between the two."""
    plan = plan_get(inputs.plan_code)
    limits = risk_limits_for_plan(plan=plan)
    goal = Goal(plan.profit_target_usd, plan.consistency_share)  # type: ignore[arg-type]
    spec = contract_spec(inputs.contract)
    try:
        cells = [{**inputs.params, **cell} for cell in parameter_grid(grid)] or [inputs.params]
    except ValueError as exc:
        raise BacktestInputError(str(exc)) from exc
    for cell in cells:
        strategy_params_clean(kind=inputs.kind, params=cell)  # every cell valid before any work
    data = ReplayData.prepare(bars_load(source=inputs.bars_source, contract=spec))
    result = walk_forward(
        inputs.kind,
        cells,
        data,
        spec,
        limits,
        goal,
        in_sample_sessions=in_sample_sessions,
        out_of_sample_sessions=out_of_sample_sessions,
        every=inputs.every,
    )
    attempts = result.pop("out_of_sample_attempts")
    result["out_of_sample"] = _jsonable(summarize(attempts, fee_usd=plan.evaluation_fee_usd))
    return _jsonable(result)


def payout_policy(plan: AccountPlan) -> PayoutPolicy | None:
    """The plan's payout policy (None when the table has none for it)."""
    if plan.payout_winning_days is None or plan.payout_winning_day_usd is None:
        return None
    return PayoutPolicy(
        winning_days=plan.payout_winning_days,
        winning_day_usd=plan.payout_winning_day_usd,
        balance_share=plan.payout_balance_share or Decimal(1),
        cap_usd=plan.payout_cap_usd,
        consistency_days=plan.payout_consistency_days,
        consistency_share=plan.payout_consistency_share,
    )


def express_stage(plan: AccountPlan) -> ExpressStage | None:
    """The XFA stage under an Express Funded plan's rules and payout policy."""
    policy = payout_policy(plan)
    if policy is None:
        return None
    return ExpressStage(risk_limits_for_plan(plan=plan), policy, EXPRESS_SESSIONS)


def _express_plan_row(plan: AccountPlan | None, stage: ExpressStage | None) -> dict | None:
    if plan is None or stage is None:
        return None
    policy = stage.policy
    return {
        "code": plan.code,
        "name": str(plan),
        "rules": describe_rules(stage.limits),
        "sessions": stage.horizon,
        "monte_carlo_paths": EXPRESS_PATHS,
        "payout_policy": {
            "winning_days": policy.winning_days,
            "winning_day_usd": str(policy.winning_day_usd),
            "consistency_days": policy.consistency_days,
            "consistency_share": _str(policy.consistency_share),
            "balance_share": str(policy.balance_share),
            "cap_usd": _str(policy.cap_usd),
            "source": plan.payout_policy_source,
        },
    }


def fan_chart(attempts: Sequence[Attempt], horizon: int) -> dict[str, list[float]]:
    """Percentiles per session of the profit over the start and of the floor, across paths; a
    path that ended keeps its last value (a passed account stops trading, a failed one is out)."""
    rows = [a for a in attempts if a.equity_usd]
    if not rows:
        return {}
    width = min(horizon, max(len(a.equity_usd) for a in rows))

    def padded(values: tuple[Decimal, ...]) -> list[float]:
        head = [float(v) for v in values[:width]]
        return head + [head[-1]] * (width - len(head))

    equity = np.asarray([padded(a.equity_usd) for a in rows])
    floors = np.asarray([padded(a.floor_usd) for a in rows])
    out = {
        f"equity_p{q}": np.percentile(equity, q, axis=0).round(2).tolist()
        for q in (5, 25, 50, 75, 95)
    }
    out["floor_p50"] = np.percentile(floors, 50, axis=0).round(2).tolist()
    return out


def _attempt_row(a: Attempt) -> dict[str, Any]:
    return {
        "start": a.start.isoformat(),
        "outcome": a.outcome.value,
        "end": a.end.isoformat() if a.end else None,
        "sessions": a.sessions if a.outcome != Outcome.UNFINISHED else None,
        "profit_usd": str(a.profit_usd),
        "min_headroom_usd": str(a.min_headroom_usd),
        "reason": a.reason,
        "express": _express_row(a.express) if a.express is not None else None,
    }


def _express_row(run: ExpressRun) -> dict[str, Any]:
    return {
        "outcome": run.outcome.value,
        "sessions": run.sessions,
        "reason": run.reason,
        "days_to_first_payout": run.payouts[0].session if run.payouts else None,
        "paid_usd": str(run.paid_usd),
        "payouts": [
            {
                "date": p.day.isoformat(),
                "session": p.session,
                "amount_usd": str(p.amount_usd),
                "path": p.path.value,
            }
            for p in run.payouts
        ],
    }


def _stage(on_progress: Progress | None, stage: str) -> Callable[[int, int], None] | None:
    if on_progress is None:
        return None
    return lambda done, total: on_progress(stage, done, total)


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


# --------------------------------------------------------------------------------- services


@transaction.atomic
def evaluation_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    kind: str,
    params: Mapping[str, Any] | None,
    contract: str,
    bars_source: str,
    plan_code: str,
    start_every: int = 1,
    paths: int = 10_000,
    horizon: int = 250,
    block: int = 5,
    seed: int = 0,
    enqueue: bool = True,
) -> EvaluationRun:
    """Store a queued evaluation; a worker runs it after commit (web and API: files of the
    market-data folder only)."""
    inputs = evaluation_inputs(
        kind=kind,
        params=params,
        contract=contract,
        bars_source=bars_source,
        plan_code=plan_code,
        every=start_every,
        paths=paths,
        horizon=horizon,
        block=block,
        seed=seed,
    )
    fields = asdict(inputs)
    fields["start_every"] = fields.pop("every")
    run = EvaluationRun(
        tenant=tenant, created_by=actor if actor and actor.is_authenticated else None, **fields
    )
    run.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="evaluation.create",
        target=run,
        after={"kind": kind, "params": run.params, "plan": plan_code},
    )
    if enqueue:
        tenant_id, run_id = run.tenant_id, run.pk
        enqueue_on_commit(
            "strategies.evaluation_run", policy=Policy.RETRY, tenant_id=tenant_id, run_id=run_id
        )
    return run


def evaluation_claim(*, run: EvaluationRun) -> bool:
    """Queued (or stale running) -> running, with a conditional UPDATE: a repeated task no-ops."""
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimable = Q(status=BacktestStatus.QUEUED) | Q(
        status=BacktestStatus.RUNNING, started_at__lt=stale
    )
    claimed = (
        EvaluationRun.objects.for_tenant(run.tenant_id)
        .filter(claimable, pk=run.pk)
        .update(status=BacktestStatus.RUNNING, started_at=timezone.now(), error="")
    )
    return claimed == 1


def evaluation_execute(*, run: EvaluationRun) -> EvaluationRun:
    """Run it (in a worker): progress stored per stage, the report at the end."""
    if not evaluation_claim(run=run):
        return run
    rows = EvaluationRun.objects.for_tenant(run.tenant_id).filter(pk=run.pk)
    last: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if share - last.get(stage, -1.0) >= 0.05 or done == total:
            last[stage] = share
            rows.update(stage=stage, progress_done=done, progress_total=total)

    inputs = EvaluationInputs(
        run.kind,
        run.params,
        run.contract,
        run.bars_source,
        run.plan_code,
        run.start_every,
        run.paths,
        run.horizon,
        run.block,
        run.seed,
    )
    try:
        report = evaluation_report(inputs, on_progress=progress)
    except (BacktestInputError, ValueError) as exc:  # bad inputs or bars: say so, don't retry
        rows.update(status=BacktestStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now())
    else:
        rows.update(status=BacktestStatus.SUCCEEDED, report=report, finished_at=timezone.now())
    run.refresh_from_db()
    return run
