"""Celery tasks for execution: ids in, fetch through a selector, call one service.

Flatten and cancel are idempotent (they act on whatever is still working or open at the broker), so they
run with acks_late and are retried on transient broker errors.
"""

from celery import shared_task

from accounts import selectors as account_selectors
from execution.gateway.errors import BrokerUnavailable, RateLimited


@shared_task(name="execution.account_flatten", acks_late=True, max_retries=5)
def account_flatten_task(*, tenant_id: int, account_id: int, reason: str) -> None:
    from execution import broker

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    if account is None:
        return  # deleted meanwhile
    broker.account_flatten(account=account, reason=reason)


@shared_task(name="execution.account_cancel_open_orders", acks_late=True, max_retries=5)
def account_cancel_open_orders_task(*, tenant_id: int, account_id: int) -> None:
    from execution import broker

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    if account is None:
        return
    broker.account_cancel_open_orders(account=account)


@shared_task(
    name="execution.connection_sync",
    acks_late=True,
    autoretry_for=(BrokerUnavailable, RateLimited),  # the simulator may still be starting
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def connection_sync_task(*, tenant_id: int, connection_id: int) -> None:
    """Idempotent: accounts and instruments are upserted by their broker ids."""
    from execution import broker

    connection = (
        account_selectors.broker_connection_list(tenant=tenant_id).filter(pk=connection_id).first()
    )
    if connection is None:
        return
    broker.connection_sync(connection=connection)


@shared_task(
    name="execution.connection_resync",
    acks_late=True,
    autoretry_for=(BrokerUnavailable, RateLimited),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=10,
)
def connection_resync_task(*, tenant_id: int, connection_id: int) -> None:
    """Idempotent: takes the broker's state for every active account of the login."""
    from execution import broker

    connection = (
        account_selectors.broker_connection_list(tenant=tenant_id).filter(pk=connection_id).first()
    )
    if connection is None:
        return
    for account in account_selectors.trading_account_list(tenant=tenant_id).filter(
        connection=connection, is_active=True
    ):
        broker.account_resync(account=account)
