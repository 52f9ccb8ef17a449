"""Celery tasks for accounts: ids in, fetch through a selector, call one service."""

from celery import shared_task

from accounts import selectors
from execution.tasks import BROKER_RETRY


@shared_task(name="accounts.demo_desk_connect", **BROKER_RETRY)
def demo_desk_connect_task(*, tenant_id: int, connection_id: int) -> None:
    """Idempotent (accounts upserted by broker id, one breakout per account); retried while the
    simulator is still starting."""
    from accounts.demo import demo_desk_connect

    connection = selectors.broker_connection_get(tenant=tenant_id, connection_id=connection_id)
    if connection is None:
        return
    demo_desk_connect(connection=connection)
