"""Celery tasks for strategies: ids in, fetch through a selector, call one service."""

from celery import shared_task

from execution.tasks import BROKER_RETRY
from strategies.models import BacktestRun, EvaluationRun
from tradingsite.dispatch import Policy, enqueue


@shared_task(name="strategies.backtest_run", acks_late=True, time_limit=3600, soft_time_limit=3500)
def backtest_run_task(*, tenant_id: int, run_id: int) -> None:
    """Safe to deliver twice: the run is claimed with a conditional UPDATE before it starts."""
    from strategies.backtests import backtest_execute

    run = BacktestRun.objects.for_tenant(tenant_id).filter(pk=run_id).first()
    if run is None:
        return
    backtest_execute(run=run)


@shared_task(
    name="strategies.evaluation_run", acks_late=True, time_limit=3600, soft_time_limit=3500
)
def evaluation_run_task(*, tenant_id: int, run_id: int) -> None:
    """Safe to deliver twice: the run is claimed with a conditional UPDATE before it starts."""
    from strategies.evaluations import evaluation_execute

    run = EvaluationRun.objects.for_tenant(tenant_id).filter(pk=run_id).first()
    if run is None:
        return
    evaluation_execute(run=run)


# A step is idempotent (strategies/live/steps.py), so a late or repeated delivery changes
# nothing; one left in the queue for a minute is stale and dropped (the next minute's replaces it).
STEP_EXPIRES_SECONDS = 55


@shared_task(name="strategies.desks_step_fleet", acks_late=True)
def desks_step_fleet_task() -> int:
    """Every minute (beat): one step task per desk, spread over the workers."""
    from strategies.selectors import fleet_desks

    desks = fleet_desks()
    for tenant_id, account_id, instrument_id in desks:
        enqueue(
            "strategies.desk_step",
            policy=Policy.RAISE,  # the fleet task fails visibly; the next minute steps every desk
            queue="high",
            expires=STEP_EXPIRES_SECONDS,
            tenant_id=tenant_id,
            account_id=account_id,
            instrument_id=instrument_id,
        )
    return len(desks)


@shared_task(name="strategies.desk_step", **BROKER_RETRY)
def desk_step_task(*, tenant_id: int, account_id: int, instrument_id: int) -> None:
    from accounts import selectors as account_selectors
    from execution.models import Instrument
    from strategies.live.steps import desk_step

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    instrument = Instrument.objects.filter(pk=instrument_id).first()
    if account is not None and instrument is not None:
        desk_step(account=account, instrument=instrument)
