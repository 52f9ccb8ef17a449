"""Backtest runs and parameter sweeps: create (validated, audited, queued after commit), execute
(in a worker, progress stored), and rank a sweep once its last cell is done.

Per-tenant limits keep one desk from filling the backtest pool: at most BACKTEST_MAX_QUEUED_PER_TENANT
unfinished runs (a new run or sweep over it is refused, saying so), and at most
BACKTEST_MAX_RUNNING_PER_TENANT of them handed to the workers at once; the rest wait in the database,
oldest first, and the next is dispatched when one finishes.

Bars come from a file under MARKET_DATA_DIR (runs started from the web or API may name only such a
file) or from the cached-bars table (`cached:<contract id>`); the command line may name any file.
"""

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import AccountPlan, GatewayEnvironment, Tenant
from accounts.services import audit_record
from execution import risk
from execution.gateway.types import BarUnit
from execution.models import CachedBar
from execution.selectors import risk_limits_for_plan
from execution.sources import market_source
from markets.bars import BarArrays, load_bars_csv
from markets.ticks import ContractSpec, UnknownContract, spec_for
from strategies.backtest.result import BacktestResult
from strategies.backtest.run import describe_rules, parameter_grid, run_backtest
from strategies.models import BacktestRun, BacktestStatus, BacktestSweep
from strategies.services import strategy_params_clean
from tradingsite.dispatch import Policy, enqueue_on_commit

logger = logging.getLogger(__name__)
CACHED_PREFIX = "cached:"
MAX_SWEEP_CELLS = 500


class BacktestInputError(ValueError):
    """A backtest cannot start with these inputs; the message says which and why."""


class BacktestLimitReached(BacktestInputError):
    """The desk already has as many unfinished backtests as it may; nothing was stored."""


# ------------------------------------------------------------------------------------- inputs


def contract_spec(symbol: str) -> ContractSpec:
    try:
        return spec_for(symbol)
    except UnknownContract as exc:
        raise BacktestInputError(str(exc)) from exc


def resolve_bars_source(source: str, *, allow_any_path: bool = False) -> str:
    """Check a bars source and return its canonical form (a file name or a cached: reference)."""
    if source.startswith(CACHED_PREFIX):
        if not source[len(CACHED_PREFIX) :]:
            raise BacktestInputError("cached: needs a contract id, e.g. cached:CON.F.US.EP.H25")
        return source
    path = Path(source)
    if not allow_any_path:
        data_dir = Path(settings.MARKET_DATA_DIR).resolve()
        path = (data_dir / path.name).resolve()  # a bare file name: no directories, no traversal
        if path.parent != data_dir:
            raise BacktestInputError(f"bars file must be one of the files in {data_dir}")
    if not path.is_file():
        raise BacktestInputError(f"bars file {source!r} does not exist")
    return str(path)


def bars_load(*, source: str, contract: ContractSpec) -> BarArrays:
    if not source.startswith(CACHED_PREFIX):
        return load_bars_csv(source, contract.tick_size, cache=True)
    contract_id = source[len(CACHED_PREFIX) :]
    rows = CachedBar.objects.filter(  # the live gateway's bars: simulated prices are no history
        source=market_source(GatewayEnvironment.LIVE).key,
        contract_id=contract_id,
        unit=BarUnit.MINUTE,
        unit_number=1,
    ).order_by("started_at")
    values = list(
        rows.values_list(
            "started_at", "open_price", "high_price", "low_price", "close_price", "volume"
        )
    )
    if not values:
        raise BacktestInputError(f"no cached 1-minute bars for {contract_id}")
    step = contract.tick_size

    def column(i: int) -> np.ndarray:
        return np.fromiter((int(r[i] / step) for r in values), dtype=np.int64, count=len(values))

    ts = np.fromiter((int(r[0].timestamp()) for r in values), dtype=np.int64, count=len(values))
    volume = np.fromiter((r[5] for r in values), dtype=np.int64, count=len(values))
    return BarArrays(ts, column(1), column(2), column(3), column(4), volume, tick_size=step)


def plan_get(plan_code: str) -> AccountPlan:
    plan = AccountPlan.objects.filter(code=plan_code).first()
    if plan is None:
        codes = ", ".join(AccountPlan.objects.order_by("code").values_list("code", flat=True))
        raise BacktestInputError(f"unknown plan {plan_code!r}; choose one of {codes}")
    return plan


def limits_for(plan_code: str) -> risk.RiskLimits | None:
    """Exactly that plan's rules, or None (no plan: no account rules at all)."""
    if not plan_code:
        return None
    return risk_limits_for_plan(plan=plan_get(plan_code))


def rules_label(plan_code: str) -> str:
    """What a result says applied: the plan by name, with its numbers."""
    if not plan_code:
        return describe_rules(None)
    return f"{plan_get(plan_code)} ({plan_code}): {describe_rules(limits_for(plan_code))}"


def backtest_run_inputs(
    *,
    kind: str,
    params: Mapping[str, Any] | None,
    contract: str,
    bars_source: str,
    plan_code: str = "",
    allow_any_path: bool = False,
) -> dict[str, Any]:
    """Validated inputs of one run; raises ParameterError (per field) or BacktestInputError."""
    clean = strategy_params_clean(kind=kind, params=params)
    spec = contract_spec(contract)
    source = resolve_bars_source(bars_source, allow_any_path=allow_any_path)
    limits_for(plan_code)
    return {
        "kind": kind,
        "params": clean,
        "contract": spec.symbol,
        "bars_source": source,
        "plan_code": plan_code,
    }


# --------------------------------------------------------------------------------- services


@transaction.atomic
def backtest_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    kind: str,
    params: Mapping[str, Any] | None,
    contract: str,
    bars_source: str,
    first_date: date | None = None,
    last_date: date | None = None,
    plan_code: str = "",
    commission_usd: Decimal | None = None,
    slippage_ticks: int = 0,
    sweep: BacktestSweep | None = None,
    enqueue: bool = True,
) -> BacktestRun:
    """Store a queued run; a worker picks it up after commit (`enqueue=False`: the caller runs it)."""
    if first_date and last_date and first_date > last_date:
        raise BacktestInputError("first_date is after last_date")
    if sweep is None:  # a sweep checks its cells at once
        _refuse_over_queue_limit(tenant_id=tenant.pk, adding=1)
    inputs = backtest_run_inputs(
        kind=kind, params=params, contract=contract, bars_source=bars_source, plan_code=plan_code
    )
    run = BacktestRun(
        tenant=tenant,
        created_by=actor if actor and actor.is_authenticated else None,
        sweep=sweep,
        first_date=first_date,
        last_date=last_date,
        commission_usd=commission_usd,
        slippage_ticks=slippage_ticks,
        **inputs,
    )
    run.save()
    if sweep is None:
        audit_record(
            tenant=tenant,
            actor=actor,
            action="backtest.create",
            target=run,
            after={"kind": kind, "params": run.params, "contract": run.contract},
        )
    if enqueue:
        backtests_dispatch(tenant_id=tenant.pk)
    return run


@transaction.atomic
def sweep_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    kind: str,
    grid: Mapping[str, list[Any]],
    contract: str,
    bars_source: str,
    rank_by: str = "net_pnl_usd",
    **run_options: Any,
) -> BacktestSweep:
    try:
        cells = parameter_grid(grid)
    except ValueError as exc:
        raise BacktestInputError(str(exc)) from exc
    if len(cells) > MAX_SWEEP_CELLS:
        raise BacktestInputError(f"{len(cells)} cells; a sweep may have at most {MAX_SWEEP_CELLS}")
    _refuse_over_queue_limit(tenant_id=tenant.pk, adding=len(cells))
    enqueue = run_options.pop("enqueue", True)
    sweep = BacktestSweep(
        tenant=tenant,
        created_by=actor if actor and actor.is_authenticated else None,
        kind=kind,
        grid=dict(grid),
        rank_by=rank_by,
        cells_total=len(cells),
    )
    sweep.save()
    for cell in cells:
        backtest_create(
            tenant=tenant,
            actor=actor,
            kind=kind,
            params=cell,
            contract=contract,
            bars_source=bars_source,
            sweep=sweep,
            enqueue=False,  # dispatched together below, up to the desk's running limit
            **run_options,
        )
    audit_record(
        tenant=tenant,
        actor=actor,
        action="backtest.sweep_create",
        target=sweep,
        after={"kind": kind, "grid": sweep.grid, "cells": len(cells)},
    )
    if enqueue:
        backtests_dispatch(tenant_id=tenant.pk)
    return sweep


# ------------------------------------------------------------------------- per-tenant limits


def _unfinished(tenant_id: int) -> QuerySet[BacktestRun]:
    return BacktestRun.objects.for_tenant(tenant_id).filter(
        status__in=(BacktestStatus.QUEUED, BacktestStatus.RUNNING)
    )


def _lock_tenant(tenant_id: int) -> None:
    """Serialise a desk's limit checks and dispatches (two requests cannot both take the last slot)."""
    Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True).first()


def _refuse_over_queue_limit(*, tenant_id: int, adding: int) -> None:
    limit = settings.BACKTEST_MAX_QUEUED_PER_TENANT
    _lock_tenant(tenant_id)
    unfinished = _unfinished(tenant_id).count()
    if unfinished + adding > limit:
        asked = "this backtest" if adding == 1 else f"these {adding} backtests"
        raise BacktestLimitReached(
            f"your desk has {unfinished} backtests queued or running and may have at most "
            f"{limit}; {asked} would go over. Wait for some to finish and start again."
        )


def _lost_before() -> datetime:
    """A run handed to the workers but still not started by then was lost with its queue message
    (Redis restarted): it is handed over again (the claim makes a duplicate harmless)."""
    return timezone.now() - timedelta(
        seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    )


@transaction.atomic
def backtests_dispatch(*, tenant_id: int) -> list[int]:
    """Hand the desk's oldest waiting runs to the backtest pool, up to its running limit; the tasks
    are queued after commit. Called when runs are created and whenever one finishes."""
    _lock_tenant(tenant_id)
    unfinished = _unfinished(tenant_id)
    handed = Q(status=BacktestStatus.RUNNING) | Q(dispatched_at__gte=_lost_before())
    free = settings.BACKTEST_MAX_RUNNING_PER_TENANT - unfinished.filter(handed).count()
    if free <= 0:
        return []
    waiting = unfinished.filter(status=BacktestStatus.QUEUED).exclude(handed)
    run_ids = list(waiting.order_by("created_at", "pk").values_list("pk", flat=True)[:free])
    BacktestRun.objects.for_tenant(tenant_id).filter(pk__in=run_ids).update(
        dispatched_at=timezone.now()
    )

    for run_id in run_ids:  # a run not started in time is handed over again (_lost_before)
        enqueue_on_commit(
            "strategies.backtest_run", policy=Policy.SWEPT, tenant_id=tenant_id, run_id=run_id
        )
    return run_ids


def backtest_claim(*, run: BacktestRun) -> bool:
    """Move a queued run (or one whose worker died: running for longer than a task may) to running.
    A conditional UPDATE, so a duplicated task finds nothing to do."""
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimable = Q(status=BacktestStatus.QUEUED) | Q(
        status=BacktestStatus.RUNNING, started_at__lt=stale
    )
    claimed = (
        BacktestRun.objects.for_tenant(run.tenant_id)
        .filter(claimable, pk=run.pk)
        .update(status=BacktestStatus.RUNNING, started_at=timezone.now(), error="")
    )
    return claimed == 1


def backtest_execute(*, run: BacktestRun, on_progress=None) -> BacktestRun:
    """Run it (in a worker or the command line): progress stored as it goes, results at the end."""
    if not backtest_claim(run=run):
        return run
    progress = _ProgressWriter(run, on_progress)
    try:
        spec = contract_spec(run.contract)
        result = run_backtest(
            run.kind,
            run.params,
            bars_load(source=run.bars_source, contract=spec),
            spec,
            limits=limits_for(run.plan_code),
            rules=rules_label(run.plan_code),
            commission_usd=run.commission_usd,
            slippage_ticks=run.slippage_ticks,
            on_progress=progress,
            first_date=run.first_date,
            last_date=run.last_date,
        )
    except (BacktestInputError, ValueError) as exc:  # bad inputs or bars: say so, don't retry
        _finish(run, status=BacktestStatus.FAILED, error=str(exc))
    else:
        _finish(run, status=BacktestStatus.SUCCEEDED, result=result)
    run.refresh_from_db()
    return run


class _ProgressWriter:
    """Stores progress at most every 2 % so a long run costs a few dozen UPDATEs."""

    def __init__(self, run: BacktestRun, also) -> None:
        self.run, self.also, self.last = run, also, -1.0

    def __call__(self, done: int, total: int) -> None:
        if self.also is not None:
            self.also(done, total)
        share = done / total if total else 1.0
        if share - self.last >= 0.02 or done == total:
            self.last = share
            BacktestRun.objects.for_tenant(self.run.tenant_id).filter(pk=self.run.pk).update(
                progress_done=done, progress_total=total
            )


@transaction.atomic
def _finish(
    run: BacktestRun, *, status: str, result: BacktestResult | None = None, error: str = ""
) -> None:
    fields = {"status": status, "finished_at": timezone.now(), "error": error[:2000]}
    if result is not None:
        data = result.to_dict()
        fields["metrics"], fields["result"] = data["metrics"], data
    BacktestRun.objects.for_tenant(run.tenant_id).filter(pk=run.pk).update(**fields)
    if run.sweep_id is not None:
        _sweep_cell_done(run)
    # A worker's run frees a slot for the desk's next one (the command line's never took one).
    if run.dispatched_at is not None:
        backtests_dispatch(tenant_id=run.tenant_id)


def _sweep_cell_done(run: BacktestRun) -> None:
    """The last cell to finish ranks the sweep (no result backend needed for a chord)."""
    sweeps = BacktestSweep.objects.for_tenant(run.tenant_id).select_for_update()
    sweeps.filter(pk=run.sweep_id).update(cells_done=F("cells_done") + 1)
    sweep = sweeps.get(pk=run.sweep_id)
    if sweep.cells_done < sweep.cells_total:
        return
    runs = list(sweep.runs.filter(status=BacktestStatus.SUCCEEDED).values("pk", "metrics"))

    def sort_key(row: dict[str, Any]) -> tuple[int, float]:
        metrics = row["metrics"] or {}
        value = metrics.get(sweep.rank_by)
        number = float("-inf") if value is None else float(value)
        return (0 if metrics.get("survived", True) else 1, -number)

    sweep.ranking = [row["pk"] for row in sorted(runs, key=sort_key)]
    sweep.finished_at = timezone.now()
    sweep.save(update_fields=["ranking", "finished_at"])


def bars_files() -> list[str]:
    """The bar files a run started from the web or the API may use (the market-data folder)."""
    data_dir = Path(settings.MARKET_DATA_DIR)
    if not data_dir.is_dir():
        return []
    suffixes = (".csv", ".csv.gz", ".parquet")
    return sorted(p.name for p in data_dir.iterdir() if p.is_file() and p.name.endswith(suffixes))
