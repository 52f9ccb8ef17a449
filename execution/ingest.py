"""The one path from broker events into the database: hub events as they arrive, and REST results
during reconciliation, go through these services, so both obey the same rules.

Every function is idempotent: fills are unique per (account, broker trade id), order updates go
through the state machine (execution/orders.py), positions and balances are overwritten with the
broker's latest truth. Each change is pushed to the account's dashboards after commit.
"""

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import BrokerConnection, TradingAccount
from accounts.services import audit_record
from analytics.health import hub_state_record
from execution.gateway import types as gw
from execution.models import (
    OPEN_STATUSES,
    AccountDay,
    Fill,
    Instrument,
    Order,
    OrderRole,
    OrderStatus,
    Position,
)
from execution.orders import TERMINAL, InvalidTransition, OrderState, apply_broker_status
from execution.realtime import publish_account_event
from execution.services import account_day_get_or_open
from markets.ticks import UnknownContract, spec_for
from tradingsite.dispatch import Policy, enqueue_on_commit

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")


def account_for_broker(
    *, connection: BrokerConnection, projectx_account_id: int
) -> TradingAccount | None:
    return (
        TradingAccount.objects.for_tenant(connection.tenant_id)
        .filter(connection=connection, projectx_account_id=projectx_account_id)
        .select_related("connection", "risk_profile")
        .first()
    )


def instrument_for_contract(contract_id: str) -> Instrument:
    """Our instrument row for a broker contract id, created from the contract registry if new."""
    instrument = Instrument.objects.filter(contract_id=contract_id).first()
    if instrument is not None:
        return instrument
    root = contract_id.split(".")[3] if contract_id.count(".") >= 4 else contract_id
    try:
        spec = spec_for(root)
    except UnknownContract as exc:
        raise UnknownContract(f"no instrument or contract spec for {contract_id}") from exc
    instrument, _ = Instrument.objects.get_or_create(
        contract_id=contract_id,
        defaults={
            "symbol": spec.symbol,
            "symbol_id": spec.symbol_id,
            "name": contract_id.rsplit(".", 1)[-1],
            "tick_size": spec.tick_size,
            "tick_value_usd": spec.tick_value,
            "fee_per_side_usd": spec.fee_per_side_usd,
        },
    )
    return instrument


def _child_role(order: gw.Order) -> str:
    if order.parent_order_id is None:
        return OrderRole.MANUAL
    return OrderRole.TAKE_PROFIT if order.type == gw.OrderType.LIMIT else OrderRole.STOP_LOSS


def _order_row(account: TradingAccount, order: gw.Order) -> Order:
    """Our row for a broker order: by broker id, by our customTag, else a new row for an order
    placed outside the platform (or a bracket child), so the broker's truth is always recorded."""
    rows = Order.objects.for_tenant(account.tenant_id).select_for_update().filter(account=account)
    row = rows.filter(broker_order_id=order.id).first()
    if row is None and order.custom_tag:
        row = rows.filter(custom_tag=order.custom_tag).first()
    if row is not None:
        return row
    parent = (
        rows.filter(broker_order_id=order.parent_order_id).first()
        if order.parent_order_id
        else None
    )
    row = Order(
        tenant_id=account.tenant_id,
        account=account,
        instrument=instrument_for_contract(order.contract_id),
        custom_tag=order.custom_tag or f"broker:{order.id}",
        broker_order_id=order.id,
        order_type=int(order.type),
        side=int(order.side),
        size=order.size,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        role=_child_role(order),
        parent=parent,
        strategy_config=parent.strategy_config if parent else None,
        status=OrderStatus.NEW,
    )
    row.save()
    return row


@transaction.atomic
def order_record_broker_update(*, account: TradingAccount, order: gw.Order) -> Order | None:
    row = _order_row(account, order)
    before = OrderState(row.status, row.size, row.filled_size)
    try:
        after = apply_broker_status(before, int(order.status), fill_volume=order.fill_volume)
    except InvalidTransition as exc:
        # Impossible by our rules: keep our row, record why, and let reconciliation decide.
        audit_record(
            tenant=account.tenant_id,
            actor=None,
            actor_label="broker",
            target=row,
            action="order.impossible_update",
            after={"error": str(exc), "broker_status": int(order.status)},
        )
        logger.warning("order %s: impossible broker update (%s)", row.pk, exc)
        return None
    now = timezone.now()
    row.broker_order_id = order.id
    row.status, row.filled_size = after.status, after.filled_size
    # A bracket child gets its prices once its entry fills, and a stop moves: the broker's latest.
    row.stop_price = order.stop_price if order.stop_price is not None else row.stop_price
    row.limit_price = order.limit_price if order.limit_price is not None else row.limit_price
    if order.filled_price is not None and after.filled_size:
        row.average_fill_price = order.filled_price
    if row.acknowledged_at is None and after.status != OrderStatus.NEW:
        row.acknowledged_at = now
    if after.status in TERMINAL and row.closed_at is None:
        row.closed_at = now
    row.save()
    if row.oco_group and after.filled_size and not before.filled_size:
        _cancel_oco_siblings(row)
    finished = after.is_terminal and not before.is_terminal
    if row.protect_after_fill and finished and after.filled_size:
        _protect_later(row)  # the position it opened is final: protect what filled
    if after != before:
        order_publish(row)
    return row


def order_publish(row: Order) -> None:
    """Push an order's new status to the account's open dashboards (after commit)."""
    publish_account_event(
        tenant_id=row.tenant_id,
        account_id=row.account_id,
        kind="order",
        data={
            "id": str(row.public_id),
            "status": row.status,
            "filled_size": row.filled_size,
            "role": row.role,
        },
    )


def _cancel_oco_siblings(filled: Order) -> None:
    """The first fill of an entry cancels the other entries of its OCO group, at once (the broker
    has no OCO between entries; waiting for the strategy's next step could let both fill)."""
    siblings = (
        Order.objects.for_tenant(filled.tenant_id)
        .filter(account_id=filled.account_id, oco_group=filled.oco_group, status__in=OPEN_STATUSES)
        .exclude(pk=filled.pk)
        .values_list("pk", flat=True)
    )
    for pk in siblings:
        enqueue_on_commit(
            "execution.order_cancel",
            policy=Policy.RISK_REDUCING,
            queue="critical",
            tenant_id=filled.tenant_id,
            order_id=pk,
        )


def _protect_later(entry: Order) -> None:
    """An entry sent without its brackets filled: place its stop-loss and take-profit now
    (execution/brackets.py); the reconciliation redoes it if this task is lost."""
    enqueue_on_commit(
        "execution.entry_protect",
        policy=Policy.RISK_REDUCING,
        queue="critical",
        tenant_id=entry.tenant_id,
        order_id=entry.pk,
    )


@transaction.atomic
def fill_record(*, account: TradingAccount, trade: gw.HalfTrade) -> Fill | None:
    """Record one broker half-turn once; the account's day takes its P&L and fees once."""
    if trade.voided:
        return None
    order = (
        Order.objects.for_tenant(account.tenant_id)
        .filter(account=account, broker_order_id=trade.order_id)
        .first()
    )
    fill, created = Fill.all_tenants.get_or_create(
        account=account,
        broker_trade_id=trade.id,
        defaults={
            "tenant_id": account.tenant_id,
            "order": order,
            "instrument": instrument_for_contract(trade.contract_id),
            "side": int(trade.side),
            "size": trade.size,
            "price": trade.price,
            "fees_usd": trade.fees_usd,
            "realized_pnl_usd": trade.profit_and_loss_usd,
            "executed_at": trade.created_at,
            "strategy_config": order.strategy_config if order else None,
        },
    )
    if not created:
        return fill
    day = AccountDay.all_tenants.select_for_update().get(
        pk=account_day_get_or_open(account=account).pk
    )
    day.realized_pnl_usd += (trade.profit_and_loss_usd or Decimal(0)).quantize(CENT)
    day.fees_usd += trade.fees_usd.quantize(CENT)
    day.save(update_fields=["realized_pnl_usd", "fees_usd", "updated_at"])
    publish_account_event(
        tenant_id=account.tenant_id,
        account_id=account.pk,
        kind="fill",
        data={
            "side": fill.get_side_display(),
            "size": fill.size,
            "price": str(fill.price),
            "realized_pnl_usd": None
            if fill.realized_pnl_usd is None
            else str(fill.realized_pnl_usd),
            "contract": trade.contract_id,
        },
    )
    return fill


@transaction.atomic
def position_record(*, account: TradingAccount, position: gw.Position) -> Position:
    """The broker's net position per contract; size 0 means it closed."""
    sign = -1 if position.type == gw.PositionType.SHORT else 1
    net = sign * position.size
    row, _ = Position.all_tenants.select_for_update().get_or_create(
        account=account,
        instrument=instrument_for_contract(position.contract_id),
        defaults={"tenant_id": account.tenant_id},
    )
    if row.net_size == 0 and net != 0:
        row.opened_at = position.created_at
    row.net_size = net
    row.average_price = position.average_price if net else None
    if net == 0:
        row.unrealized_pnl_usd = Decimal(0)
    row.save()
    publish_account_event(
        tenant_id=account.tenant_id,
        account_id=account.pk,
        kind="position",
        data={
            "contract": position.contract_id,
            "net_size": net,
            "average_price": None if row.average_price is None else str(row.average_price),
        },
    )
    return row


@transaction.atomic
def account_balance_record(*, account: TradingAccount, balance_usd: Decimal) -> AccountDay:
    """The broker's balance (after realised P&L and fees) on today's row; the high-water mark follows."""
    day = AccountDay.all_tenants.select_for_update().get(
        pk=account_day_get_or_open(account=account).pk
    )
    day.balance_usd = balance_usd.quantize(CENT)
    day.high_water_usd = max(day.high_water_usd, day.balance_usd)
    day.save(update_fields=["balance_usd", "high_water_usd", "updated_at"])
    publish_account_event(
        tenant_id=account.tenant_id,
        account_id=account.pk,
        kind="balance",
        data={"balance_usd": str(day.balance_usd), "session_date": day.session_date.isoformat()},
    )
    return day


def handle_hub_event(*, connection: BrokerConnection, event: object) -> None:
    """Route one user-hub event of a broker login to its service; market events are not stored."""
    from execution.gateway import hubs

    if isinstance(event, hubs.HubStateEvent):
        hub_state_record(
            connection_id=connection.pk,
            hub=event.hub,
            connected=event.connected,
            reason=event.reason,
        )
        if event.connected and event.hub == "user":
            _resync_connection_later(connection)  # events sent while we were away are lost
        return
    handlers = {
        hubs.OrderEvent: lambda e: (
            e.order.account_id,
            lambda a: order_record_broker_update(account=a, order=e.order),
        ),
        hubs.TradeEvent: lambda e: (
            e.trade.account_id,
            lambda a: fill_record(account=a, trade=e.trade),
        ),
        hubs.PositionEvent: lambda e: (
            e.position.account_id,
            lambda a: position_record(account=a, position=e.position),
        ),
        hubs.AccountEvent: lambda e: (
            e.account.id,
            lambda a: account_balance_record(account=a, balance_usd=e.account.balance_usd),
        ),
    }
    route = handlers.get(type(event))
    if route is None:
        return
    broker_account_id, apply = route(event)
    account = account_for_broker(connection=connection, projectx_account_id=broker_account_id)
    if account is None:
        logger.info("hub event for unknown broker account %s ignored", broker_account_id)
        return
    apply(account)
    if not isinstance(event, hubs.OrderEvent):  # a fill, position or balance changed the P&L
        from execution.risk_gate import account_risk_watch

        account_risk_watch(account=account)


def _resync_connection_later(connection: BrokerConnection) -> None:
    enqueue_on_commit(
        "execution.connection_resync",
        policy=Policy.RETRY,
        tenant_id=connection.tenant_id,
        connection_id=connection.pk,
    )
