"""Celery tasks for strategies: ids in, fetch through a selector, call one service."""

from celery import shared_task

from strategies.models import BacktestRun


@shared_task(name="strategies.backtest_run", acks_late=True, time_limit=3600, soft_time_limit=3500)
def backtest_run_task(*, tenant_id: int, run_id: int) -> None:
    """Safe to deliver twice: the run is claimed with a conditional UPDATE before it starts."""
    from strategies.backtests import backtest_execute

    run = BacktestRun.objects.for_tenant(tenant_id).filter(pk=run_id).first()
    if run is None:
        return
    backtest_execute(run=run)
