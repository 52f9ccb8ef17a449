"""The live runtime's journal and outbox: every decision of a desk is stored with its reason
(notes as NOTED, intents as PENDING), and PENDING intents are carried out from here through the order
service (execution/trading.py), so every order of a strategy passes the same risk gate as any other.

Carrying out runs in order, outside any transaction (broker calls), and marks each decision DONE or
FAILED with the outcome; a worker killed in between leaves it PENDING for the next step. It is
idempotent: a placement's customTag is derived from the strategy's tag (``s:<tag>``), a cancel or stop
move acts on what is still working, a flatten closes what is still open. A placement still pending
``PLACE_DEADLINE`` after its decision is given up (a breakout decided minutes ago is no longer the
same trade); cancels, stop moves and flattens reduce risk and are always done.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import TradingAccount
from accounts.selectors import copier_followers
from execution import broker, trading
from execution.gateway.errors import GatewayError
from execution.models import OPEN_STATUSES, Order, OrderRole, OrderStatus, OrderType
from execution.services import copier_follower_cut_out
from markets.fills import OrderKind, Side
from markets.sessions import trading_date
from markets.ticks import from_ticks
from strategies.engine.intents import CancelOrder, Flatten, Intent, ModifyStop, PlaceBracket
from strategies.live.desk import config_id_of
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime

logger = logging.getLogger(__name__)

TAG_PREFIX = "s:"  # customTag of a strategy's entry: "s:c12/2025-03-03#1:buy"
COPY_PREFIX = "copy:"  # its copy on a follower account: "copy:c12/2025-03-03#1:buy"
PLACE_DEADLINE = timedelta(minutes=2)
_REFUSED = (trading.InvalidOrder, trading.InvalidStopMove, ValueError)  # the action cannot be done
_INTENTS = {cls.__name__: cls for cls in (PlaceBracket, ModifyStop, CancelOrder, Flatten)}
_ACTIONS = {
    PlaceBracket: "place",
    ModifyStop: "move stop",
    CancelOrder: "cancel",
    Flatten: "flatten",
}


# --- the journal -----------------------------------------------------------------------------------


def decision_rows(
    runtime: StrategyRuntime,
    notes: list[tuple[int, str, str]],
    intents: list[Intent],
    now: datetime,
    last_price: Decimal | None,
) -> list[StrategyDecision]:
    """A step's decisions as rows: its notes, then its intents (the outbox)."""
    config_ids = set(
        StrategyConfig.objects.for_tenant(runtime.tenant_id)
        .filter(account_id=runtime.account_id, instrument_id=runtime.instrument_id)
        .values_list("pk", flat=True)
    )
    rows = [_note_row(runtime, config_ids, ts, name, text) for ts, name, text in notes]
    return rows + [_intent_row(runtime, config_ids, i, now, last_price) for i in intents]


def desk_note_record(*, runtime: StrategyRuntime, text: str, now: datetime) -> None:
    """A note of the runtime itself, not of a strategy (a refused step, a roll), in the journal."""
    minute = int(now.astimezone(UTC).replace(second=0, microsecond=0).timestamp())
    rows = decision_rows(runtime, [(minute, "desk", text)], [], now, None)
    StrategyDecision.all_tenants.bulk_create(rows)


def _config_of(config_ids: set[int], name_or_tag: str) -> int | None:
    pk = config_id_of(name_or_tag)
    return pk if pk in config_ids else None


def _note_row(
    runtime: StrategyRuntime, config_ids: set[int], ts: int, name: str, text: str
) -> StrategyDecision:
    owner, sep, rest = text.partition(": ")  # the manager's notes start with "c12: "
    config_id = _config_of(config_ids, name) or (_config_of(config_ids, owner) if sep else None)
    action = rest.split(" ", 1)[0] if sep and config_id_of(owner) else "note"
    return StrategyDecision(
        tenant_id=runtime.tenant_id,
        runtime=runtime,
        strategy_config_id=config_id,
        decided_at=datetime.fromtimestamp(ts, UTC),
        action=action[:20],
        reason=text,
        status=DecisionStatus.NOTED,
    )


def _intent_row(
    runtime: StrategyRuntime,
    config_ids: set[int],
    intent: Intent,
    now: datetime,
    last_price: Decimal | None,
) -> StrategyDecision:
    tag = getattr(intent, "tag", "")
    payload = {"type": type(intent).__name__, **asdict(intent)}
    if last_price is not None:
        payload["last_price"] = str(last_price)
    return StrategyDecision(
        tenant_id=runtime.tenant_id,
        runtime=runtime,
        strategy_config_id=_config_of(config_ids, tag) if tag else None,
        decided_at=now,
        action=_ACTIONS[type(intent)],
        tag=tag,
        reason=intent.reason,
        intent=payload,
        status=DecisionStatus.PENDING,
    )


# --- the outbox ------------------------------------------------------------------------------------


def decisions_carry_out(*, runtime: StrategyRuntime, now: datetime | None = None) -> int:
    """Carry out the runtime's PENDING decisions in order; returns how many finished. A broker
    that is down leaves the rest pending for the next step (in order)."""
    now = now or timezone.now()
    finished = 0
    pending = StrategyDecision.objects.for_tenant(runtime.tenant_id).filter(
        runtime=runtime, status=DecisionStatus.PENDING
    )
    for decision in pending.select_related("runtime__account__connection", "runtime__instrument"):
        try:
            status, outcome = _carry_out(decision, now)
        except GatewayError as exc:
            StrategyDecision.all_tenants.filter(pk=decision.pk).update(
                outcome=f"will retry: {exc}", updated_at=now
            )
            logger.warning("decision %s waits for the broker: %s", decision.pk, exc)
            break
        except _REFUSED as exc:
            status, outcome = DecisionStatus.FAILED, str(exc)
        finished += StrategyDecision.all_tenants.filter(
            pk=decision.pk, status=DecisionStatus.PENDING
        ).update(status=status, outcome=outcome[:2000], updated_at=now)
    return finished


def _intent(decision: StrategyDecision) -> Intent:
    fields = {k: v for k, v in decision.intent.items() if k not in ("type", "last_price")}
    cls = _INTENTS[decision.intent["type"]]
    if cls is PlaceBracket:
        fields["side"], fields["kind"] = Side(fields["side"]), OrderKind(fields["kind"])
    return cls(**fields)


def _carry_out(decision: StrategyDecision, now: datetime) -> tuple[str, str]:
    intent = _intent(decision)
    runtime = decision.runtime
    if isinstance(intent, PlaceBracket) and now - decision.decided_at > PLACE_DEADLINE:
        return DecisionStatus.FAILED, "given up: not placed within 2 minutes of the decision"
    status, outcome = _act(decision, intent, runtime.account, TAG_PREFIX, now)
    copies = _copy(decision, intent, now) if status == DecisionStatus.DONE else []
    return status, "; ".join([outcome, *copies])


def _last_price(decision: StrategyDecision) -> Decimal | None:
    last = decision.intent.get("last_price")
    return Decimal(last) if last else None


def _act(
    decision: StrategyDecision, intent: Intent, account: TradingAccount, prefix: str, now: datetime
) -> tuple[str, str]:
    """Carry out `intent` on `account` (the desk's, or a follower's with the copy prefix)."""
    runtime = decision.runtime
    if isinstance(intent, PlaceBracket):
        order = _place(runtime, account, prefix, intent, _last_price(decision), now)
        why = f": {order.rejection_reason}" if order.rejection_reason else ""
        return DecisionStatus.DONE, f"order {order.pk} {order.status}{why}"
    if isinstance(intent, Flatten):
        broker.contract_flatten(
            account=account, contract_id=runtime.instrument.contract_id, reason=intent.reason
        )
        return DecisionStatus.DONE, "cancelled what was working and closed the position"
    entry = _tagged(account, f"{prefix}{intent.tag}")
    if entry is None:
        return DecisionStatus.FAILED, f"no order tagged {intent.tag}"
    if isinstance(intent, CancelOrder):
        if entry.status not in OPEN_STATUSES:
            return DecisionStatus.DONE, f"nothing to cancel: the order is {entry.status}"
        entry = trading.order_cancel(tenant=runtime.tenant, order=entry)
        return DecisionStatus.DONE, f"order {entry.pk} {entry.status}"
    stop = _working_stop(entry)
    if stop is None:
        return DecisionStatus.FAILED, "no working stop-loss for this bracket"
    price = from_ticks(intent.stop_price, runtime.instrument.tick_size)
    stop = trading.stop_move(
        tenant=runtime.tenant, stop=stop, new_stop_price=price, reason=intent.reason
    )
    return DecisionStatus.DONE, f"stop {stop.pk} at {stop.stop_price}"


# --- the copier desk -------------------------------------------------------------------------------


def _copy(decision: StrategyDecision, intent: Intent, now: datetime) -> list[str]:
    """Carry out a desk decision on each follower of its account (the copier desk), each order
    through the follower's own risk gate. A follower whose copied entry its own limits refuse is
    cut out for the rest of the session; exits still reach it, entries no longer do."""
    outcomes = []
    for follower in copier_followers(lead=decision.runtime.account):
        try:
            if isinstance(intent, PlaceBracket):
                outcome = _copy_entry(decision, intent, follower, now)
            else:
                outcome = _act(decision, intent, follower, COPY_PREFIX, now)[1]
        except _REFUSED as exc:
            outcome = f"failed: {exc}"  # a follower's trouble never stops the lead or the others
        outcomes.append(f"{follower.name}: {outcome}")
    return outcomes


def _copy_entry(
    decision: StrategyDecision, intent: PlaceBracket, follower: TradingAccount, now: datetime
) -> str:
    lead_order = _tagged(decision.runtime.account, f"{TAG_PREFIX}{intent.tag}")
    if lead_order is None or lead_order.status == OrderStatus.REJECTED:
        return "not copied: the lead's order was refused"
    session_date = trading_date(now)
    if follower.copier_cut_out_on == session_date:
        return f"cut out for the session ({follower.copier_cut_out_reason})"
    order = _place(decision.runtime, follower, COPY_PREFIX, intent, _last_price(decision), now)
    if order.status != OrderStatus.REJECTED:
        return f"order {order.pk} {order.status}"
    copier_follower_cut_out(
        tenant=decision.runtime.tenant,
        follower=follower,
        session_date=session_date,
        reason=order.rejection_reason,
    )
    return f"order {order.pk} rejected: {order.rejection_reason}; cut out for the session"


def _place(
    runtime: StrategyRuntime,
    account: TradingAccount,
    prefix: str,
    intent: PlaceBracket,
    last_price: Decimal | None,
    now: datetime,
) -> Order:
    instrument = runtime.instrument
    price = (
        None if intent.entry_price is None else from_ticks(intent.entry_price, instrument.tick_size)
    )
    proposal = trading.OrderProposal(
        instrument=instrument,
        side=int(intent.side),
        size=intent.qty,
        order_type=int(intent.kind),
        limit_price=price if intent.kind == OrderKind.LIMIT else None,
        stop_price=price if intent.kind == OrderKind.STOP else None,
        stop_loss_ticks=intent.stop_loss_ticks,
        take_profit_ticks=intent.take_profit_ticks,
        role=OrderRole.ENTRY,
        last_price=last_price,
        oco_group=f"{prefix}{intent.oco_group}" if intent.oco_group else "",
    )
    config = None  # a follower's copy belongs to no strategy of its own
    if account.pk == runtime.account_id:
        config_id = config_id_of(intent.tag)
        config = StrategyConfig.objects.for_tenant(runtime.tenant_id).filter(pk=config_id).first()
    return trading.order_submit(
        tenant=runtime.tenant,
        account=account,
        proposal=proposal,
        strategy_config=config,
        now=now,
        custom_tag=f"{prefix}{intent.tag}",
    )


def _tagged(account: TradingAccount, custom_tag: str) -> Order | None:
    return (
        Order.objects.for_tenant(account.tenant_id)
        .filter(account_id=account.pk, custom_tag=custom_tag)
        .first()
    )


def _working_stop(entry: Order) -> Order | None:
    return (
        Order.objects.for_tenant(entry.tenant_id)
        .filter(parent=entry, role=OrderRole.STOP_LOSS, order_type=OrderType.STOP)
        .filter(status__in=OPEN_STATUSES)
        .first()
    )
