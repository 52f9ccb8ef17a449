"""Brackets on an account set to "Position Brackets" (projectx-gateway.md §11).

TopstepX attaches a stop-loss and take-profit to an entry only under the account's "Auto OCO
Brackets" risk setting; under "Position Brackets" an Order/place carrying them is refused with
errorCode 2, sometimes with the id of the entry it placed anyway, without them. So:

1. The order service (trading._place) recognises that refusal (`is_bracket_mode_refusal`): it
   marks the entry `protect_after_fill`, takes the entry carrying its customTag if the refusal
   placed one, and only when the broker certainly has none places it again without brackets, with
   the same tag: never two entries. The account's mode is remembered (`bracket_mode_learn`), so
   later entries go straight out without brackets, and the trader is told how to switch (audit
   log, notification, the strategy's decision journal, the account page).
2. When such an entry fills, `entry_protect` places the stop-loss and take-profit as our own
   orders, children of the entry, at the prices the brackets would have had, with tags derived
   from the entry (placing twice stores one of each).
3. The two legs share an OCO group: the first fill cancels the other (ingest), and the periodic
   reconciliation repeats both steps from the database (`brackets_reconcile`), so a worker
   restart between a fill and its follow-up loses nothing.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import BracketMode, TradingAccount
from accounts.services import audit_record
from execution.models import OPEN_STATUSES, Order, OrderRole, OrderSide, OrderStatus, OrderType
from markets.ticks import from_ticks
from notifications.services import notify

logger = logging.getLogger(__name__)

HOW_TO_SWITCH = (
    "TopstepX refused brackets on this account: its risk settings use Position Brackets. "
    "Until that changes, entries go out without brackets and the platform places the stop-loss "
    "and take-profit itself as soon as an entry fills (the first to fill cancels the other). "
    "For brackets held by the broker from the moment of entry: in TopstepX open Settings > Risk "
    'Settings, choose Auto OCO Brackets and save, then press "Auto OCO Brackets is on" on this '
    "account's page."
)
_LEG_TAGS = {OrderRole.STOP_LOSS: "sl", OrderRole.TAKE_PROFIT: "tp"}


def oco_group_of(entry: Order) -> str:
    return f"bracket:{entry.pk}"


@transaction.atomic
def bracket_mode_learn(*, account: TradingAccount, order: Order) -> bool:
    """Remember that the broker refused brackets on `account`; tell the trader once (audit log,
    notification; the account page shows it). Returns False when it was already known."""
    changed = (
        TradingAccount.objects.for_tenant(account.tenant_id)
        .filter(pk=account.pk)
        .exclude(bracket_mode=BracketMode.POSITION)
        .update(bracket_mode=BracketMode.POSITION)
    )
    account.bracket_mode = BracketMode.POSITION
    if not changed:
        return False
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="broker",
        action="account.bracket_mode_learnt",
        target=account,
        after={"bracket_mode": BracketMode.POSITION, "order": order.custom_tag},
    )
    notify(
        tenant_id=account.tenant_id,
        event="error",
        title=f"{account.name}: brackets refused (Position Brackets); protecting after fills",
        body=HOW_TO_SWITCH,
        fields={"Order": order.custom_tag, "Setting": "Auto OCO Brackets"},
        account_id=account.pk,
        dedupe_key=f"bracket-mode:{account.pk}",
    )
    _journal_note(order, HOW_TO_SWITCH)
    logger.warning("account %s: Position Brackets; brackets placed after fills", account.pk)
    return True


def _journal_note(order: Order, text: str) -> None:
    """A note in the strategy's decision journal, when a strategy's entry met the refusal."""
    from strategies.models import DecisionStatus, StrategyDecision, StrategyRuntime

    if order.strategy_config_id is None:
        return
    runtime = (
        StrategyRuntime.objects.for_tenant(order.tenant_id)
        .filter(account_id=order.account_id, instrument_id=order.instrument_id)
        .first()
    )
    if runtime is None:
        return
    StrategyDecision(
        tenant_id=order.tenant_id,
        runtime=runtime,
        strategy_config_id=order.strategy_config_id,
        decided_at=timezone.now(),
        action="note",
        tag=order.custom_tag,
        reason=f"brackets refused (Position Brackets); {text}",
        status=DecisionStatus.NOTED,
    ).save()


@transaction.atomic
def bracket_mode_reset(*, account: TradingAccount, actor) -> None:
    """The trader switched the account to Auto OCO Brackets: send brackets with entries again."""
    TradingAccount.objects.for_tenant(account.tenant_id).filter(pk=account.pk).update(
        bracket_mode=BracketMode.AUTO_OCO
    )
    account.bracket_mode = BracketMode.AUTO_OCO
    audit_record(
        tenant=account.tenant_id,
        actor=actor,
        action="account.bracket_mode_reset",
        target=account,
        after={"bracket_mode": BracketMode.AUTO_OCO},
    )


_FINISHED = (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)


def is_finished_with_a_fill(entry: Order) -> bool:
    """Filled, or cancelled/expired after a partial fill: the position it opened is final."""
    return entry.status in _FINISHED and entry.filled_size > 0


def needs_protection(entry: Order) -> bool:
    """A filled entry sent without its brackets, whose legs are not all placed yet."""
    if not entry.protect_after_fill or not is_finished_with_a_fill(entry):
        return False
    wanted = {role for role, ticks in _leg_ticks(entry) if ticks}
    placed = set(entry.children.filter(role__in=wanted).values_list("role", flat=True))
    return placed != wanted


def _leg_ticks(entry: Order) -> tuple[tuple[str, int | None], ...]:
    return (
        (OrderRole.STOP_LOSS, entry.stop_loss_ticks),
        (OrderRole.TAKE_PROFIT, entry.take_profit_ticks),
    )


def entry_protect(*, tenant, entry: Order) -> list[Order]:
    """Place the stop-loss and take-profit of a filled entry that went out without brackets, at
    the prices the brackets would have had (signed ticks from the fill). Idempotent."""
    from execution import trading  # trading imports this module

    entry.require_tenant(tenant)
    entry.refresh_from_db()
    if not entry.protect_after_fill or not is_finished_with_a_fill(entry):
        return []
    if entry.average_fill_price is None:
        raise ValueError(f"entry {entry.pk} is filled without a fill price; reconcile first")
    exit_side = OrderSide.SELL if entry.side == OrderSide.BUY else OrderSide.BUY
    legs = []
    for role, ticks in _leg_ticks(entry):
        if not ticks:
            continue
        price = entry.average_fill_price + from_ticks(ticks, entry.instrument.tick_size)
        is_stop = role == OrderRole.STOP_LOSS
        proposal = trading.OrderProposal(
            instrument=entry.instrument,
            side=exit_side,
            size=entry.filled_size,
            order_type=OrderType.STOP if is_stop else OrderType.LIMIT,
            stop_price=price if is_stop else None,
            limit_price=None if is_stop else price,
            role=role,
            oco_group=oco_group_of(entry),
            parent=entry,
        )
        legs.append(
            trading.order_submit(
                tenant=tenant,
                account=entry.account,
                proposal=proposal,
                custom_tag=f"{_LEG_TAGS[role]}:{entry.pk}",
            )
        )
    return legs


def brackets_reconcile(*, account: TradingAccount) -> None:
    """Redo from the database what a lost task may have left undone: protect filled entries that
    lack their legs, and cancel the open leg of a pair whose other leg filled."""
    from execution import trading

    orders = Order.objects.for_tenant(account.tenant_id).filter(account=account)
    for entry in orders.filter(protect_after_fill=True, status__in=_FINISHED, filled_size__gt=0):
        if needs_protection(entry):
            entry_protect(tenant=account.tenant, entry=entry)
    filled_groups = orders.filter(
        oco_group__startswith="bracket:", status=OrderStatus.FILLED
    ).values_list("oco_group", flat=True)
    for leg in orders.filter(oco_group__in=list(filled_groups), status__in=OPEN_STATUSES):
        trading.order_cancel(tenant=account.tenant, order=leg)
