"""Celery tasks for execution: ids in, fetch through a selector, call one service.

Flatten and cancel are idempotent (they act on whatever is still working or open at the broker), so they
run with acks_late and are retried on transient broker errors.
"""

import logging

from celery import shared_task

from accounts import selectors as account_selectors
from execution.gateway.errors import BrokerUnavailable, RateLimited
from tradingsite.dispatch import Policy, enqueue

logger = logging.getLogger(__name__)

# Transient broker trouble (timeouts, 5xx, 429, a simulator still starting) is retried with back-off;
# everything else (a rejection, a bug) fails at once and is visible in the worker's log.
BROKER_RETRY = {
    "acks_late": True,
    "autoretry_for": (BrokerUnavailable, RateLimited),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 10,
}


@shared_task(name="execution.account_flatten", **BROKER_RETRY)
def account_flatten_task(*, tenant_id: int, account_id: int, reason: str) -> None:
    from execution import broker

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    if account is None:
        return  # deleted meanwhile
    broker.account_flatten(account=account, reason=reason)


@shared_task(name="execution.account_cancel_open_orders", **BROKER_RETRY)
def account_cancel_open_orders_task(*, tenant_id: int, account_id: int) -> None:
    from execution import broker

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    if account is None:
        return
    broker.account_cancel_open_orders(account=account)


@shared_task(name="execution.connection_sync", **BROKER_RETRY)
def connection_sync_task(*, tenant_id: int, connection_id: int) -> None:
    """Idempotent: accounts and instruments are upserted by their broker ids."""
    from execution import broker

    connection = account_selectors.broker_connection_get(
        tenant=tenant_id, connection_id=connection_id
    )
    if connection is None:
        return
    broker.connection_sync(connection=connection)


@shared_task(name="execution.connection_resync", **BROKER_RETRY)
def connection_resync_task(*, tenant_id: int, connection_id: int) -> None:
    """Idempotent: takes the broker's state for every active account of the login."""
    from execution import broker

    connection = account_selectors.broker_connection_get(
        tenant=tenant_id, connection_id=connection_id
    )
    if connection is None:
        return
    for account in account_selectors.trading_account_list(tenant=tenant_id).filter(
        connection=connection, is_active=True
    ):
        broker.account_resync(account=account)


# --- The order service (execution/trading.py) ---------------------------------------------------
# Duplicates and redeliveries are harmless: sending claims NEW -> SUBMITTED with a conditional
# UPDATE, and recovery only looks the order up by its customTag (or re-places it with the same
# tag, which the broker refuses to double).


def _order(tenant_id: int, order_id: int):
    from execution.models import Order

    return (
        Order.objects.for_tenant(tenant_id)
        .select_related("account__connection", "account__risk_profile", "instrument")
        .filter(pk=order_id)
        .first()
    )


@shared_task(name="execution.order_send", acks_late=True)
def order_send_task(*, tenant_id: int, order_id: int) -> None:
    from execution import trading

    order = _order(tenant_id, order_id)
    if order is not None:
        trading.order_send(order=order)


@shared_task(name="execution.order_cancel", **BROKER_RETRY)
def order_cancel_task(*, tenant_id: int, order_id: int) -> None:
    """Idempotent: an order already finished is left as it is."""
    from execution import trading

    order = _order(tenant_id, order_id)
    if order is not None:
        trading.order_cancel(tenant=order.tenant, order=order)


@shared_task(name="execution.entry_protect", **BROKER_RETRY)
def entry_protect_task(*, tenant_id: int, order_id: int) -> None:
    """Idempotent: each leg's tag derives from the entry, so a second run stores nothing new."""
    from execution import brackets

    order = _order(tenant_id, order_id)
    if order is not None:
        brackets.entry_protect(tenant=order.tenant, entry=order)


@shared_task(name="execution.order_recover", acks_late=True)
def order_recover_task(*, tenant_id: int, order_id: int) -> None:
    from execution import trading

    order = _order(tenant_id, order_id)
    if order is not None:
        trading.order_recover(order=order)


@shared_task(name="execution.orders_reconcile", **BROKER_RETRY)
def orders_reconcile_task(*, tenant_id: int, account_id: int) -> None:
    """Idempotent: takes the broker's truth; a second run finds nothing to correct."""
    from execution import reconcile

    account = account_selectors.trading_account_get(tenant=tenant_id, account_id=account_id)
    if account is not None and account.is_active:
        reconcile.orders_reconcile(account=account)


@shared_task(name="execution.orders_reconcile_fleet", acks_late=True)
def orders_reconcile_fleet_task() -> int:
    """Periodic and at start-up (fleet job, every tenant on purpose): one task per active account."""
    from accounts.models import TradingAccount

    accounts = TradingAccount.all_tenants.filter(is_active=True).values_list("tenant_id", "pk")
    for tenant_id, account_id in accounts:
        enqueue(
            "execution.orders_reconcile",
            policy=Policy.RAISE,  # the fleet task fails visibly; beat runs it again
            tenant_id=tenant_id,
            account_id=account_id,
        )
    return len(accounts)


# --- The trading day (execution/day.py): beat runs these every minute; each is idempotent per
# account and session date (DailyStep rows), so a beat restart or a duplicate changes nothing.


@shared_task(name="execution.day_flatten_due", acks_late=True)
def day_flatten_due_task() -> int:
    from execution import day

    return len(day.day_flatten_due())


@shared_task(name="execution.day_close_due", acks_late=True)
def day_close_due_task() -> int:
    from execution import day

    return len(day.day_close_due())


@shared_task(name="execution.overnight_ranges_record", **BROKER_RETRY)
def overnight_ranges_record_task() -> int:
    from execution import day

    return len(day.overnight_ranges_record())


@shared_task(name="execution.cleanup_cached_bars", acks_late=True)
def cleanup_cached_bars_task() -> int:
    from execution import day

    return day.cached_bars_cleanup()
