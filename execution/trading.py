"""The order service: every order the platform places, modifies or cancels goes through here.

Nothing lost, nothing doubled, and why:

1. `order_submit` validates, runs the pre-trade risk gate (execution/risk_gate.py) and STORES the
   order before anything is sent: refused -> REJECTED with every failed rule as its reason
   (shown to the user, audited); allowed -> NEW with our own `custom_tag` (sent as the ProjectX
   customTag, unique per account), and `execution.order_send` is queued after commit.
2. `order_send` claims the order with a conditional UPDATE (NEW -> SUBMITTED): a duplicated or
   redelivered task changes nothing. The gateway client never re-sends blindly: after a time-out,
   5xx or 429 it looks the order up by its customTag first (execution/gateway/client.py).
3. When the outcome stays unknown (`OrderSubmissionUncertain`), or a worker died between sending
   and recording (the redelivered task finds the order SUBMITTED without a broker id), the order
   stays SUBMITTED - it keeps counting as working exposure - and `order_recover` looks it up by
   its customTag: found -> recorded through ingest; certainly absent -> placed again with the SAME
   tag while it is still fresh (`RESEND_WINDOW`; the broker refuses a second order with a used
   tag, so this cannot double), else given up as REJECTED with an alert.
4. Reconciliation (execution/reconcile.py) takes the broker's truth (orders, fills, positions,
   balance) through the same ingest services as the hub, audits every difference it corrected and
   alerts.

Every status change goes through the state machine (execution/orders.py). No database transaction
is held across a broker call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import BracketMode, Tenant, TradingAccount
from accounts.services import audit_record
from execution import brackets, broker, ingest, risk, risk_gate
from execution.gateway import types as gw
from execution.gateway.errors import (
    BrokerRejected,
    GatewayError,
    InvalidRequest,
    OrderStateConflict,
    OrderSubmissionUncertain,
    RateLimited,
)
from execution.models import (
    Instrument,
    Order,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
)
from execution.orders import LIVE, OrderEvent, OrderState, apply
from execution.services import account_flatten_request
from markets.fills import OrderKind, Side
from markets.ticks import from_ticks, to_ticks
from notifications.services import notify
from tradingsite.dispatch import Policy, enqueue_on_commit

logger = logging.getLogger(__name__)

# An order whose placement is uncertain may be placed again (same customTag) for this long after
# it was first sent; later, a trading decision is too stale and the order is given up instead.
RESEND_WINDOW = timedelta(seconds=60)
RECOVERY_DELAY_SECONDS = 5.0
LOOKUP_MARGIN = timedelta(minutes=5)  # search the broker from a little before we stored it
SUBMITTABLE_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)
QUEUE = "high"


class InvalidOrder(ValueError):
    """The request cannot be an order at all (wrong tenant, bad size/side/type/price types)."""


class InvalidStopMove(ValueError):
    """A stop move that is not allowed (against the position, not a working stop, no price)."""


@dataclass(frozen=True)
class OrderProposal:
    """What a strategy or a person wants to send. Bracket distances are positive ticks from the
    entry fill; they are stored and sent signed (long: stop-loss below, take-profit above).
    `last_price` (latest trade/quote) feeds the price-sanity band; None skips the band."""

    instrument: Instrument
    side: int
    size: int
    order_type: int = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_loss_ticks: int | None = None
    take_profit_ticks: int | None = None
    role: str = OrderRole.MANUAL
    last_price: Decimal | None = None
    oco_group: str = ""  # entries sharing a group: the first fill cancels the others (ingest)
    parent: Order | None = None  # the entry a stop-loss / take-profit protects


# --- submit ---------------------------------------------------------------------------------------


def order_submit(
    *,
    tenant: Tenant,
    account: TradingAccount,
    proposal: OrderProposal,
    strategy_config: Any = None,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
    custom_tag: str | None = None,
) -> Order:
    """Validate, risk-check and store one order; queue its sending if allowed.

    Returns the stored order: NEW (queued) or REJECTED with `rejection_reason`.
    `custom_tag` (unique per account) makes the call idempotent: when an order with that tag exists
    it is returned unchanged (a strategy intent carried out twice places one order).
    Raises InvalidOrder for requests that cannot be an order, PermissionError across tenants.
    """
    now = now or timezone.now()
    _validate(tenant, account, proposal, strategy_config)
    if custom_tag is not None:
        existing = _order_tagged(tenant, account, custom_tag)
        if existing is not None:
            return existing
    context = risk_gate.gate_context(account=account, now=now)
    decision = risk_gate.check(context, _proposed(proposal, strategy_config), now=now)
    reasons = [risk_gate.reason_text(decision)] if not decision.allowed else []
    if not proposal.instrument.is_active:
        reasons.append(f"contract {proposal.instrument.contract_id} is not active")
    with transaction.atomic():
        order = _new_order(tenant, account, proposal, strategy_config, custom_tag)
        if reasons:
            order.status = OrderStatus.REJECTED
            order.rejection_reason = " | ".join(reasons)
            order.closed_at = now
        if custom_tag is None:
            order.save()  # a fresh UUID tag cannot clash
        else:
            try:
                with transaction.atomic():
                    order.save()
            except IntegrityError:  # the same tag stored meanwhile by a concurrent call
                return _order_tagged(tenant, account, custom_tag)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="order.refused" if reasons else "order.submitted",
            target=order,
            after=_order_facts(order),
        )
        if reasons:
            notify(
                tenant_id=tenant.pk,
                event="risk",
                title=f"{account.name}: order refused by the risk rules",
                body=order.rejection_reason,
                fields=_alert_fields(order),
                account_id=account.pk,
                dedupe_key=f"order-refused:{order.pk}",
            )
        else:
            order_queue_send(order)
    return order


def _validate(
    tenant: Tenant, account: TradingAccount, proposal: OrderProposal, strategy_config: Any
) -> None:
    account.require_tenant(tenant)
    if strategy_config is not None and strategy_config.account_id != account.pk:
        raise InvalidOrder("the strategy belongs to another account")
    size = proposal.size
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InvalidOrder(f"size must be a whole number > 0, got {size!r}")
    if proposal.side not in OrderSide.values:
        raise InvalidOrder(f"side must be 0 (buy) or 1 (sell), got {_plain(proposal.side)}")
    if proposal.order_type not in SUBMITTABLE_TYPES:
        raise InvalidOrder(
            f"order type {_plain(proposal.order_type)} is not submittable; use market (2), limit (1) "
            "or stop (4) (trailing is done by moving the stop)"
        )
    if proposal.role not in OrderRole.values:
        raise InvalidOrder(f"unknown role {proposal.role!r}")
    needed = {OrderType.LIMIT: "limit_price", OrderType.STOP: "stop_price"}.get(
        OrderType(proposal.order_type)
    )
    for name in ("limit_price", "stop_price", "last_price"):
        value = getattr(proposal, name)
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
            raise InvalidOrder(f"{name} must be a finite Decimal, got {value!r}")
        if value is not None and name != "last_price" and name != needed:
            raise InvalidOrder(f"a {OrderType(proposal.order_type).label} order takes no {name}")
    for name in ("stop_loss_ticks", "take_profit_ticks"):
        ticks = getattr(proposal, name)
        if ticks is None:
            continue
        if isinstance(ticks, bool) or not isinstance(ticks, int):
            raise InvalidOrder(f"{name} must be a whole number of ticks, got {ticks!r}")
        if not 1 <= ticks <= gw.MAX_BRACKET_TICKS:
            raise InvalidOrder(f"{name} must be 1..{gw.MAX_BRACKET_TICKS}, got {ticks}")
        if proposal.role not in risk_gate.EXPOSURE_ROLES:
            raise InvalidOrder("brackets attach to entry orders only")


def _plain(value: object) -> str:
    """An enum member as its wire number, anything else as its repr (for error messages)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    return repr(value)


def _proposed(proposal: OrderProposal, strategy_config: Any) -> risk.ProposedOrder:
    instrument = proposal.instrument
    return risk.ProposedOrder(
        contract=instrument.contract_id,
        side=Side(proposal.side),
        size=proposal.size,
        kind=OrderKind(proposal.order_type),
        price=proposal.limit_price if proposal.limit_price is not None else proposal.stop_price,
        last_price=proposal.last_price,
        is_strategy_enabled=strategy_config is None or bool(strategy_config.is_enabled),
        max_loss_usd=risk.trade_risk_usd(
            stop_loss_ticks=proposal.stop_loss_ticks,
            size=proposal.size,
            tick_value_usd=instrument.tick_value_usd,
            fee_per_side_usd=instrument.fee_per_side_usd,
        ),
        max_gain_usd=None
        if proposal.take_profit_ticks is None
        else abs(proposal.take_profit_ticks) * instrument.tick_value_usd * proposal.size,
    )


def signed_bracket_ticks(side: int, ticks: int | None, *, is_stop_loss: bool) -> int | None:
    """Signed price offset as sent (long: stop-loss negative, take-profit positive)."""
    if ticks is None:
        return None
    below_entry = is_stop_loss == (side == OrderSide.BUY)
    return -ticks if below_entry else ticks


def _order_tagged(tenant: Tenant, account: TradingAccount, custom_tag: str) -> Order | None:
    return Order.objects.for_tenant(tenant).filter(account=account, custom_tag=custom_tag).first()


def _new_order(
    tenant: Tenant,
    account: TradingAccount,
    proposal: OrderProposal,
    strategy_config: Any,
    custom_tag: str | None,
) -> Order:
    order = Order(
        tenant=tenant,
        account=account,
        instrument=proposal.instrument,
        strategy_config=strategy_config,
        order_type=int(proposal.order_type),
        side=int(proposal.side),
        size=proposal.size,
        limit_price=proposal.limit_price,
        stop_price=proposal.stop_price,
        stop_loss_ticks=signed_bracket_ticks(
            proposal.side, proposal.stop_loss_ticks, is_stop_loss=True
        ),
        take_profit_ticks=signed_bracket_ticks(
            proposal.side, proposal.take_profit_ticks, is_stop_loss=False
        ),
        role=proposal.role,
        oco_group=proposal.oco_group,
        parent=proposal.parent,
        status=OrderStatus.NEW,
    )
    if strategy_config is None and proposal.parent is not None:
        order.strategy_config = proposal.parent.strategy_config  # its legs report to its strategy
    # Our id, unique per account, chosen before anything is sent: the caller's or a UUID.
    order.custom_tag = custom_tag or f"ts-{order.public_id.hex}"
    return order


def order_queue_send(order: Order) -> None:
    """Queue the send after commit (a failure is logged: reconciliation sends NEW orders later)."""
    enqueue_on_commit(
        "execution.order_send",
        policy=Policy.SWEPT,
        queue=QUEUE,
        tenant_id=order.tenant_id,
        order_id=order.pk,
    )


def _queue_recovery(order: Order, countdown: float = RECOVERY_DELAY_SECONDS) -> None:
    enqueue_on_commit(
        "execution.order_recover",
        policy=Policy.SWEPT,  # the reconciliation recovers it
        queue=QUEUE,
        countdown=countdown,
        tenant_id=order.tenant_id,
        order_id=order.pk,
    )


# --- send and recover -----------------------------------------------------------------------------


def order_send(*, order: Order, now: datetime | None = None) -> Order:
    """Claim a NEW order and place it at the broker, once (see the module docstring)."""
    now = now or timezone.now()
    claimed_status = apply(OrderState(OrderStatus.NEW, order.size), OrderEvent.SUBMIT).status
    claimed = (
        Order.objects.for_tenant(order.tenant_id)
        .filter(pk=order.pk, status=OrderStatus.NEW)
        .update(status=claimed_status, submitted_at=now, updated_at=now)
    )
    order.refresh_from_db()
    if claimed != 1:
        if order.status == OrderStatus.SUBMITTED and order.broker_order_id is None:
            # A redelivered task after a worker died mid-send, or a duplicate: look, never resend.
            return order_recover(order=order, now=now)
        return order
    refusal = _locked_since_submit(order, now)
    if refusal:
        return _record_reject(order, refusal, by="risk")
    return _place(order, first=True)


def _locked_since_submit(order: Order, now: datetime) -> str:
    """A lock that arrived between submit and send stops an exposure-adding order."""
    if order.role not in risk_gate.EXPOSURE_ROLES:
        return ""
    context = risk_gate.gate_context(account=order.account, now=now)
    if not context.state.is_locked:
        return ""
    proposed = risk.ProposedOrder(order.instrument.contract_id, Side(order.side), order.size)
    decision = risk.check_order(context.limits, replace(context.state, working={}), proposed, now)
    if risk.RuleCode.ACCOUNT_LOCKED in decision.codes:
        return f"account_locked: locked before the order was sent ({context.state.lock_reason})"
    return ""


def place_request(order: Order) -> gw.PlaceOrderRequest:
    """The gateway request for a stored order (brackets as distances; the client signs them).
    An order to be protected after its fill (Position Brackets, execution/brackets.py) goes
    without them."""
    kind = gw.OrderType(order.order_type)
    with_brackets = not order.protect_after_fill
    return gw.PlaceOrderRequest(
        account_id=order.account.projectx_account_id,
        contract_id=order.instrument.contract_id,
        type=kind,
        side=gw.OrderSide(order.side),
        size=order.size,
        limit_price=order.limit_price if kind == gw.OrderType.LIMIT else None,
        stop_price=order.stop_price if kind == gw.OrderType.STOP else None,
        custom_tag=order.custom_tag,
        stop_loss=gw.Bracket(abs(order.stop_loss_ticks), gw.OrderType.STOP)
        if order.stop_loss_ticks and with_brackets
        else None,
        take_profit=gw.Bracket(abs(order.take_profit_ticks), gw.OrderType.LIMIT)
        if order.take_profit_ticks and with_brackets
        else None,
    )


def _has_brackets(order: Order) -> bool:
    return bool(order.stop_loss_ticks or order.take_profit_ticks)


def _protect_after_fill(order: Order) -> None:
    """Stored before anything is sent, so the fill finds it whichever process records it."""
    Order.objects.for_tenant(order.tenant_id).filter(pk=order.pk).update(protect_after_fill=True)
    order.protect_after_fill = True


def _client(account: TradingAccount):
    return broker.gateway_client_for(connection=account.connection)


def _place(order: Order, *, first: bool) -> Order:
    account = order.account
    if (
        account.bracket_mode == BracketMode.POSITION
        and _has_brackets(order)
        and not order.protect_after_fill
    ):
        _protect_after_fill(order)  # the account refuses brackets: do not even try
    try:
        request = place_request(order)
    except InvalidRequest as exc:
        return _record_reject(order, f"invalid order: {exc}", by="platform")
    client = _client(account)
    try:
        placed = client.place_order(request)
    except BrokerRejected as exc:
        if not first:  # a resend refused as a duplicate tag means the first one landed
            found = _lookup(order)
            if found is not None:
                return _record_found(order, found)
        if exc.is_bracket_mode_refusal and (request.stop_loss or request.take_profit):
            return _place_after_bracket_refusal(order)
        return _record_reject(order, f"broker: {exc.error_name}: {exc.error_message}", by="broker")
    except RateLimited as exc:
        # Our own budget refused before sending (a broker 429 is reconciled inside the client).
        _audit(order, "order.send_deferred", {"error": str(exc)})
        _queue_recovery(order, countdown=max(exc.retry_after_seconds, 1.0))
        return order
    except (OrderSubmissionUncertain, GatewayError) as exc:
        return _record_uncertain(order, exc)
    return _record_placed(order, placed)


def _place_after_bracket_refusal(order: Order) -> Order:
    """The bracketed entry was refused: the account is on Position Brackets (§11). The refusal
    may have placed the entry anyway (it may carry its id): take the one carrying our tag, and
    place it without brackets only when the broker certainly has none (execution/brackets.py)."""
    _protect_after_fill(order)
    try:
        found = _lookup(order)
    except GatewayError as exc:
        return _record_uncertain(order, exc)  # order_recover places it, without brackets
    row = _record_found(order, found) if found is not None else _place(order, first=False)
    if row.status != OrderStatus.REJECTED:
        brackets.bracket_mode_learn(account=order.account, order=row)
        if brackets.needs_protection(row):  # it filled before the flag was stored
            brackets.entry_protect(tenant=row.tenant, entry=row)
    return row


def _lookup(order: Order) -> gw.Order | None:
    """The broker's order carrying our tag, or None when the search certainly shows none.
    Raises GatewayError when the search fails."""
    since = order.created_at - LOOKUP_MARGIN
    return _client(order.account).find_order_by_custom_tag(
        order.account.projectx_account_id, order.custom_tag, since=since
    )


def order_recover(
    *, order: Order, now: datetime | None = None, resend_window: timedelta = RESEND_WINDOW
) -> Order:
    """Settle a SUBMITTED order without a broker id: find it by customTag, place it again with
    the same tag while fresh, or give it up (REJECTED + alert). Safe to run any number of times,
    concurrently too (the broker refuses a second order with the same tag)."""
    now = now or timezone.now()
    order.refresh_from_db()
    if order.status != OrderStatus.SUBMITTED or order.broker_order_id is not None:
        return order
    try:
        found = _lookup(order)
    except GatewayError as exc:
        logger.warning("order %s: lookup by tag failed (%s); retrying later", order.pk, exc)
        _queue_recovery(order)
        return order
    if found is not None:
        return _record_found(order, found)
    sent_at = order.submitted_at or order.created_at
    if now - sent_at <= resend_window:
        _audit(order, "order.resent", {"custom_tag": order.custom_tag})
        return _place(order, first=False)
    reason = (
        f"not placed: the broker has no order tagged {order.custom_tag} "
        f"{int((now - sent_at).total_seconds())} s after sending; given up"
    )
    return _record_reject(order, reason, by="platform")


def _record_found(order: Order, found: gw.Order) -> Order:
    row = ingest.order_record_broker_update(account=order.account, order=found)
    _audit(order, "order.recovered", {"broker_order_id": found.id, "status": int(found.status)})
    return row or Order.objects.for_tenant(order.tenant_id).get(pk=order.pk)


@transaction.atomic
def _record_placed(order: Order, placed: gw.PlacedOrder) -> Order:
    row = Order.objects.for_tenant(order.tenant_id).select_for_update().get(pk=order.pk)
    state = OrderState(row.status, row.size, row.filled_size)
    after = apply(state, OrderEvent.ACKNOWLEDGE)
    row.broker_order_id = placed.order_id
    row.status = after.status
    row.acknowledged_at = row.acknowledged_at or timezone.now()
    row.save(update_fields=["broker_order_id", "status", "acknowledged_at", "updated_at"])
    audit_record(
        tenant=row.tenant_id,
        actor=None,
        actor_label="execution",
        action="order.placed",
        target=row,
        after={"broker_order_id": placed.order_id, "recovered": placed.recovered},
    )
    ingest.order_publish(row)  # the hub's "open" may have come first and changed nothing
    return row


@transaction.atomic
def _record_reject(order: Order, reason: str, *, by: str) -> Order:
    row = Order.objects.for_tenant(order.tenant_id).select_for_update().get(pk=order.pk)
    after = apply(OrderState(row.status, row.size, row.filled_size), OrderEvent.REJECT)
    row.status = after.status
    row.rejection_reason = reason
    row.closed_at = row.closed_at or timezone.now()
    row.save(update_fields=["status", "rejection_reason", "closed_at", "updated_at"])
    audit_record(
        tenant=row.tenant_id,
        actor=None,
        actor_label=by,
        action="order.rejected",
        target=row,
        after={"reason": reason},
    )
    notify(
        tenant_id=row.tenant_id,
        event="risk" if by == "risk" else "error",
        title=f"{row.account.name}: order rejected ({by})",
        body=reason,
        fields=_alert_fields(row),
        account_id=row.account_id,
        dedupe_key=f"order-rejected:{row.pk}",
    )
    return row


@transaction.atomic
def _record_uncertain(order: Order, exc: Exception) -> Order:
    """Unknown outcome: stay SUBMITTED (counted as working), alert, and reconcile by tag."""
    _audit(order, "order.submission_uncertain", {"error": str(exc)[:500]})
    notify(
        tenant_id=order.tenant_id,
        event="error",
        title=f"{order.account.name}: order outcome unknown, reconciling",
        body=f"{exc}"[:1000],
        fields=_alert_fields(order),
        account_id=order.account_id,
        dedupe_key=f"order-uncertain:{order.pk}",
    )
    _queue_recovery(order)
    return order


# --- cancel, modify, stops ------------------------------------------------------------------------


def order_cancel(*, tenant: Tenant, order: Order, actor: AbstractBaseUser | None = None) -> Order:
    """Cancel one order. NEW (not sent yet) is cancelled locally, before any send can claim it;
    a working order is cancelled at the broker; a fill that won the race is recorded instead."""
    order.require_tenant(tenant)
    now = timezone.now()
    target = apply(OrderState(OrderStatus.NEW, order.size), OrderEvent.CANCEL).status
    if (
        Order.objects.for_tenant(tenant)
        .filter(pk=order.pk, status=OrderStatus.NEW)
        .update(status=target, closed_at=now, updated_at=now)
    ):
        order.refresh_from_db()
        _audit(order, "order.cancelled", {"where": "before sending"}, actor=actor)
        return order
    order.refresh_from_db()
    if order.status not in LIVE:
        return order  # already finished: nothing to cancel
    if order.broker_order_id is None:
        # Look it up, never (re)place it just to cancel it.
        found = _lookup(order)
        if found is None:
            raise InvalidOrder("the order's placement is still being reconciled; try again")
        order = _record_found(order, found)
        if order.status not in LIVE:
            return order
    client = _client(order.account)
    try:
        client.cancel_order(order.account.projectx_account_id, order.broker_order_id)
    except OrderStateConflict as exc:
        return ingest.order_record_broker_update(account=order.account, order=exc.order) or order
    except BrokerRejected:
        remote = client.order_by_id(order.account.projectx_account_id, order.broker_order_id)
        return ingest.order_record_broker_update(account=order.account, order=remote) or order
    return order_apply_local(order, OrderEvent.CANCEL, "order.cancelled", actor=actor)


@transaction.atomic
def order_apply_local(
    order: Order, event: OrderEvent, action: str, *, actor: AbstractBaseUser | None = None
) -> Order:
    """Record a status change that happened at the broker without an event (audited)."""
    row = Order.objects.for_tenant(order.tenant_id).select_for_update().get(pk=order.pk)
    after = apply(OrderState(row.status, row.size, row.filled_size), event)
    if after.status != row.status:
        row.status = after.status
        if after.is_terminal:
            row.closed_at = row.closed_at or timezone.now()
        row.save(update_fields=["status", "closed_at", "updated_at"])
    audit_record(
        tenant=row.tenant_id,
        actor=actor,
        actor_label="" if actor else "execution",
        action=action,
        target=row,
        after={"status": row.status},
    )
    return row


def order_modify(
    *,
    tenant: Tenant,
    order: Order,
    size: int | None = None,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> Order:
    """Change a working order's size or price at the broker, then record it. A larger size on an
    exposure-adding order goes through the pre-trade gate first (the added part is a new risk)."""
    order.require_tenant(tenant)
    order.refresh_from_db()
    if order.status not in (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED):
        raise InvalidOrder(f"only a working order can be modified; this one is {order.status}")
    if size is not None and size > order.size and order.role in risk_gate.EXPOSURE_ROLES:
        now = now or timezone.now()
        context = risk_gate.gate_context(account=order.account, now=now)
        added = risk.ProposedOrder(
            order.instrument.contract_id, Side(order.side), size - order.size
        )
        decision = risk_gate.check(context, added, now=now)
        if not decision.allowed:
            raise InvalidOrder(f"refused by the risk rules: {risk_gate.reason_text(decision)}")
    for price in (limit_price, stop_price):
        if price is not None:
            to_ticks(price, order.instrument.tick_size)  # raises OffTick off the grid
    request = gw.ModifyOrderRequest(
        account_id=order.account.projectx_account_id,
        order_id=order.broker_order_id,
        size=size,
        limit_price=limit_price,
        stop_price=stop_price,
    )
    try:
        _client(order.account).modify_order(request)
    except OrderStateConflict as exc:  # it filled or was cancelled meanwhile: record that
        ingest.order_record_broker_update(account=order.account, order=exc.order)
        raise InvalidOrder(f"order {order.pk} is {exc.order.status.name} at the broker") from exc
    before = _order_facts(order)
    changes = {
        "size": size,
        "limit_price": limit_price,
        "stop_price": stop_price,
    }
    with transaction.atomic():
        row = Order.objects.for_tenant(order.tenant_id).select_for_update().get(pk=order.pk)
        for name, value in changes.items():
            if value is not None:
                setattr(row, name, value)
        row.save(update_fields=[*(n for n, v in changes.items() if v is not None), "updated_at"])
        audit_record(
            tenant=row.tenant_id,
            actor=actor,
            actor_label="" if actor else "execution",
            action="order.modified",
            target=row,
            before=before,
            after=_order_facts(row),
        )
    return row


def _protected_side(stop: Order) -> int:
    """+1 when the stop protects a long (a sell stop), -1 for a short."""
    return 1 if stop.side == OrderSide.SELL else -1


def stop_move(
    *,
    tenant: Tenant,
    stop: Order,
    new_stop_price: Decimal,
    last_price: Decimal | None = None,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
) -> Order:
    """Move a working stop. A stop never moves against the position (a long's stop only rises,
    a short's only falls) and must stay on the protective side of the last price."""
    stop.require_tenant(tenant)
    stop.refresh_from_db()
    if stop.order_type != OrderType.STOP or stop.status != OrderStatus.WORKING:
        raise InvalidStopMove(f"order {stop.pk} is not a working stop ({stop.status})")
    if stop.stop_price is None:
        raise InvalidStopMove(f"stop {stop.pk} has no price recorded yet; reconcile first")
    direction = _protected_side(stop)
    if (new_stop_price - stop.stop_price) * direction < 0:
        raise InvalidStopMove(
            f"moving the stop from {stop.stop_price} to {new_stop_price} would loosen it "
            "(a stop never moves against the position)"
        )
    if last_price is not None and (last_price - new_stop_price) * direction <= 0:
        raise InvalidStopMove(
            f"stop {new_stop_price} is not on the protective side of the last price {last_price}"
        )
    if new_stop_price == stop.stop_price:
        return stop
    row = order_modify(tenant=tenant, order=stop, stop_price=new_stop_price, actor=actor)
    if reason:
        _audit(row, "order.stop_moved", {"reason": reason, "stop_price": str(new_stop_price)})
    return row


def stop_to_breakeven(
    *,
    tenant: Tenant,
    stop: Order,
    offset_ticks: int = 0,
    last_price: Decimal | None = None,
    actor: AbstractBaseUser | None = None,
) -> Order:
    """Move a bracket's stop to the entry's fill price (+ `offset_ticks` in the trade's favour).
    Does nothing when the stop is already at or beyond it."""
    entry = stop.parent
    if entry is None or entry.average_fill_price is None:
        raise InvalidStopMove("breakeven needs the filled entry this stop protects")
    tick = stop.instrument.tick_size
    target = entry.average_fill_price + _protected_side(stop) * from_ticks(offset_ticks, tick)
    stop.refresh_from_db()
    if stop.stop_price is not None and (target - stop.stop_price) * _protected_side(stop) <= 0:
        return stop
    return stop_move(
        tenant=tenant,
        stop=stop,
        new_stop_price=target,
        last_price=last_price,
        actor=actor,
        reason="breakeven",
    )


def trail_target(
    *, side: int, stop_price: Decimal | None, last_price: Decimal, trail_ticks: int, tick: Decimal
) -> Decimal | None:
    """Where a trailing stop of a `side` stop order goes for `last_price`, or None when that
    would not tighten it (pure; the stop only ever moves in the position's favour)."""
    direction = 1 if side == OrderSide.SELL else -1
    target = from_ticks(to_ticks(last_price, tick) - direction * trail_ticks, tick)
    if stop_price is not None and (target - stop_price) * direction <= 0:
        return None
    return target


def stop_trail(*, tenant: Tenant, stop: Order, last_price: Decimal, trail_ticks: int) -> Order:
    """Trail a stop `trail_ticks` behind `last_price` (on the tick grid); it only ever tightens."""
    if isinstance(trail_ticks, bool) or not isinstance(trail_ticks, int) or trail_ticks < 1:
        raise InvalidStopMove(f"trail_ticks must be a whole number >= 1, got {trail_ticks!r}")
    stop.refresh_from_db()
    target = trail_target(
        side=stop.side,
        stop_price=stop.stop_price,
        last_price=last_price,
        trail_ticks=trail_ticks,
        tick=stop.instrument.tick_size,
    )
    if target is None:
        return stop
    return stop_move(
        tenant=tenant, stop=stop, new_stop_price=target, last_price=last_price, reason="trailing"
    )


def tenant_flatten(
    *, tenant: Tenant, actor: AbstractBaseUser | None, reason: str
) -> list[TradingAccount]:
    """Flatten every active account of a tenant (cancel all working orders, close every position):
    one audited request per account, each queued on the critical queue after commit."""
    accounts = list(TradingAccount.objects.for_tenant(tenant).filter(is_active=True).order_by("pk"))
    with transaction.atomic():
        for account in accounts:
            account_flatten_request(tenant=tenant, account=account, actor=actor, reason=reason)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="tenant.flatten_requested",
            target=tenant,
            after={"reason": reason, "accounts": [a.pk for a in accounts]},
        )
    return accounts


# --- helpers --------------------------------------------------------------------------------------


def _order_facts(order: Order) -> dict[str, Any]:
    return {
        "custom_tag": order.custom_tag,
        "status": order.status,
        "side": int(order.side),
        "size": order.size,
        "type": int(order.order_type),
        "contract": order.instrument.contract_id,
        "limit_price": None if order.limit_price is None else str(order.limit_price),
        "stop_price": None if order.stop_price is None else str(order.stop_price),
        "stop_loss_ticks": order.stop_loss_ticks,
        "take_profit_ticks": order.take_profit_ticks,
        "role": order.role,
        "rejection_reason": order.rejection_reason,
    }


def _alert_fields(order: Order) -> dict[str, Any]:
    return {
        "Order": f"{order.get_side_display()} {order.size} {order.instrument.symbol}",
        "Type": order.get_order_type_display(),
        "Tag": order.custom_tag,
        "Status": order.status,
    }


def _audit(
    order: Order,
    action: str,
    after: dict[str, Any],
    *,
    actor: AbstractBaseUser | None = None,
) -> None:
    audit_record(
        tenant=order.tenant_id,
        actor=actor,
        actor_label="" if actor else "execution",
        action=action,
        target=order,
        after=after,
    )
