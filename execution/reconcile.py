"""Reconciliation: orders, fills, positions and the balance corrected toward the broker's truth.

It runs at worker start, every 5 minutes (beat), and each minute while the user hub is down. The
broker's answers go through the same ingest services as the hub's events (execution/ingest.py); orders
the broker never confirmed are recovered or sent again through the order service
(execution/trading.py). Every difference it corrected is audited and one alert summarises them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import TradingAccount
from accounts.services import audit_record
from execution import brackets, broker, ingest, risk_gate, trading
from execution.gateway.errors import BrokerRejected
from execution.models import OPEN_STATUSES, AccountDay, Fill, Order, OrderStatus, Position
from execution.orders import OrderEvent
from notifications.services import notify

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    differences: list[dict[str, Any]] = field(default_factory=list)
    recovered_orders: list[int] = field(default_factory=list)

    @property
    def is_clean(self) -> bool:
        return not self.differences


def _snapshot(account: TradingAccount) -> dict[str, Any]:
    tenant = account.tenant_id
    orders = {
        pk: (status, filled, broker_id)
        for pk, status, filled, broker_id in Order.objects.for_tenant(tenant)
        .filter(account=account)
        .values_list("pk", "status", "filled_size", "broker_order_id")
    }
    positions = dict(
        Position.objects.for_tenant(tenant)
        .filter(account=account)
        .values_list("instrument__contract_id", "net_size")
    )
    fills = set(
        Fill.objects.for_tenant(tenant)
        .filter(account=account)
        .values_list("broker_trade_id", flat=True)
    )
    day = (
        AccountDay.objects.for_tenant(tenant)
        .filter(account=account)
        .order_by("-session_date")
        .values_list("balance_usd", flat=True)
        .first()
    )
    return {"orders": orders, "positions": positions, "fills": fills, "balance": day}


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for pk, now_ in after["orders"].items():
        was = before["orders"].get(pk)
        if was != now_:
            found.append(
                {
                    "kind": "order",
                    "order_id": pk,
                    "before": None if was is None else list(was),
                    "after": list(now_),
                }
            )
    for contract in sorted(before["positions"].keys() | after["positions"].keys()):
        was, now_ = before["positions"].get(contract, 0), after["positions"].get(contract, 0)
        if was != now_:
            found.append({"kind": "position", "contract": contract, "before": was, "after": now_})
    for trade_id in sorted(after["fills"] - before["fills"]):
        found.append({"kind": "fill", "broker_trade_id": trade_id})
    if before["balance"] != after["balance"] and before["balance"] is not None:
        found.append(
            {"kind": "balance", "before": str(before["balance"]), "after": str(after["balance"])}
        )
    return found


def orders_reconcile(
    *, account: TradingAccount, since: datetime | None = None, now: datetime | None = None
) -> ReconcileReport:
    """Take the broker's truth for one account and report (audit + alert) what it corrected.

    1. broker.account_resync: today's orders (matched by broker id or our customTag), trades,
       open positions (ours that the broker lacks are closed) and the balance, through ingest;
    2. orders we still think open that the broker's search did not return are read by id
       (not found -> expired);
    3. SUBMITTED orders without a broker id are recovered by customTag (order_recover);
    4. NEW orders whose send task was lost are queued again;
    5. brackets the platform holds for a Position Brackets account (execution/brackets.py): a
       filled entry without its legs is protected, a leg whose partner filled is cancelled;
    then every difference is audited and one error alert summarises them, and the risk watch runs.
    """
    now = now or timezone.now()
    report = ReconcileReport()
    before = _snapshot(account)
    started = timezone.now()
    broker.account_resync(account=account, since=since)
    _check_unlisted_open_orders(account, started)
    rows = Order.objects.for_tenant(account.tenant_id).filter(account=account)
    for order in rows.filter(status=OrderStatus.SUBMITTED, broker_order_id__isnull=True):
        recovered = trading.order_recover(order=order, now=now)
        if recovered.broker_order_id is not None:
            report.recovered_orders.append(recovered.pk)
    for order in rows.filter(status=OrderStatus.NEW, created_at__lt=now - timedelta(seconds=30)):
        trading.order_queue_send(order)
    brackets.brackets_reconcile(account=account)
    after = _snapshot(account)
    report.differences = _differences(before, after)
    if report.differences:
        with transaction.atomic():
            for difference in report.differences:
                audit_record(
                    tenant=account.tenant_id,
                    actor=None,
                    actor_label="reconcile",
                    action="reconcile.difference",
                    target=account,
                    after=difference,
                )
            notify(
                tenant_id=account.tenant_id,
                event="error",
                title=f"{account.name}: reconciliation corrected {len(report.differences)} "
                "difference(s) with the broker",
                body=", ".join(sorted({d["kind"] for d in report.differences})),
                fields={"Differences": len(report.differences), "At": now},
                account_id=account.pk,
            )
        logger.warning(
            "account %s: reconciliation corrected %d differences",
            account.pk,
            len(report.differences),
        )
    risk_gate.account_risk_watch(account=account, now=now)
    return report


def _check_unlisted_open_orders(account: TradingAccount, started: datetime) -> None:
    """Open orders the resync did not touch were not in the broker's search: read them by id."""
    client = broker.gateway_client_for(connection=account.connection)
    stale = Order.objects.for_tenant(account.tenant_id).filter(
        account=account,
        status__in=OPEN_STATUSES,
        broker_order_id__isnull=False,
        updated_at__lt=started,
    )
    for order in stale:
        try:
            remote = client.order_by_id(account.projectx_account_id, order.broker_order_id)
        except BrokerRejected as exc:
            if exc.error_name != "OrderNotFound":
                raise
            trading.order_apply_local(order, OrderEvent.EXPIRE, "order.expired_unknown_at_broker")
            continue
        ingest.order_record_broker_update(account=account, order=remote)
