"""The live strategy runtime: each minute, every desk (an account's enabled strategies on one
contract, ``strategies/live/desk.py``) is stepped on the bars, fills and order results the platform
has recorded, and what it decides is carried out through the order service (execution/trading.py),
so every order of a strategy passes the same risk gate as any other.

Nothing decided is lost, nothing is done twice:

1. A step reads the bars first (the market-data cache may call the broker), then, holding the
   runtime's row lock, advances the desk and stores, in one transaction, its new state and each
   decision: notes as NOTED journal rows, intents as PENDING rows (the outbox).
2. PENDING decisions are then carried out in order, outside any transaction (broker calls), and
   marked DONE or FAILED with the outcome. A worker killed in between leaves them PENDING; the next
   step carries them out. Carrying out is idempotent: a placement's customTag is derived from the
   strategy's tag (``s:<tag>``), a cancel or stop move acts on what is still working, a flatten
   closes what is still open.
3. A placement still pending after ``PLACE_DEADLINE`` is given up (a breakout decided minutes ago is
   no longer the same trade); cancels, stop moves and flattens reduce risk and are always done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import TradingAccount
from execution import broker, trading
from execution.gateway.errors import GatewayError
from execution.gateway.types import BarUnit
from execution.marketdata import BarCache
from execution.models import (
    OPEN_STATUSES,
    Fill,
    Instrument,
    Order,
    OrderRole,
    OrderStatus,
    OrderType,
)
from markets import calendar
from markets.fills import OrderKind, Side
from markets.sessions import globex_session, trading_date
from markets.ticks import from_ticks, to_ticks
from strategies.engine.base import SESSION_BARS
from strategies.engine.intents import CancelOrder, Flatten, Intent, ModifyStop, PlaceBracket
from strategies.engine.registry import build_strategy
from strategies.live.desk import Bar, Desk, FillFact, OrderEnd, config_id_of
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime

logger = logging.getLogger(__name__)

TAG_PREFIX = "s:"  # customTag of a strategy's entry: "s:c12/2025-03-03#1:buy"
PLACE_DEADLINE = timedelta(minutes=2)
UNATTRIBUTED_GRACE = timedelta(minutes=2)  # a fill whose order row has not been recorded yet
SESSION_MINUTES = 1380
_INTENTS = {cls.__name__: cls for cls in (PlaceBracket, ModifyStop, CancelOrder, Flatten)}
_ACTIONS = {
    PlaceBracket: "place",
    ModifyStop: "move stop",
    CancelOrder: "cancel",
    Flatten: "flatten",
}
_CHILD_ROLES = {OrderRole.STOP_LOSS: "stop_loss", OrderRole.TAKE_PROFIT: "take_profit"}
_ENDED = (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


# --- one step --------------------------------------------------------------------------------------


def desk_step(
    *, account: TradingAccount, instrument: Instrument, now: datetime | None = None
) -> StrategyRuntime:
    """Advance the desk of `account` on `instrument` to `now` and carry out what it decides."""
    now = now or timezone.now()
    runtime, _ = StrategyRuntime.all_tenants.get_or_create(
        account=account, instrument=instrument, defaults={"tenant_id": account.tenant_id}
    )
    decisions_carry_out(runtime=runtime, now=now)  # left by a step that did not finish
    configs = _enabled_configs(account, instrument)
    signature = _signature(configs)
    desk = _load(runtime, signature)
    fresh = desk is None
    if fresh:
        desk = _new_desk(configs, signature, now) if configs else None
    if desk is None:
        return runtime
    start = _warmup_start(desk, now) if fresh else datetime.fromtimestamp(desk.bars_through, UTC)
    try:
        bars = _bars(account, instrument, start, _minute(now), now)
        with transaction.atomic():
            locked = StrategyRuntime.all_tenants.select_for_update().get(pk=runtime.pk)
            if not fresh:
                desk = _load(locked, signature)  # a concurrent step may have moved it on
                if desk is None:
                    return locked  # the configurations changed meanwhile: the next step rebuilds
            _advance(locked, desk, instrument, bars, now)
    except Exception as exc:  # shown on the Strategies page and in the admin; the task retries
        StrategyRuntime.all_tenants.filter(pk=runtime.pk).update(last_error=str(exc)[:2000])
        raise
    decisions_carry_out(runtime=locked, now=now)
    return locked


def _enabled_configs(account: TradingAccount, instrument: Instrument) -> list[StrategyConfig]:
    return list(
        StrategyConfig.objects.for_tenant(account.tenant_id)
        .filter(account=account, instrument=instrument, is_enabled=True)
        .order_by("pk")
    )


def _signature(configs: list[StrategyConfig]) -> str:
    picture = [(c.pk, c.kind, c.params) for c in configs]
    return hashlib.sha256(json.dumps(picture, sort_keys=True, default=str).encode()).hexdigest()


def _load(runtime: StrategyRuntime, signature: str) -> Desk | None:
    if runtime.state is None or runtime.signature != signature:
        return None
    try:
        desk = pickle.loads(bytes(runtime.state))  # noqa: S301 - our own workers wrote it
    except Exception:  # a deploy changed the classes: rebuild from history
        logger.warning("runtime %s: saved state unreadable, rebuilding", runtime.pk, exc_info=True)
        return None
    return desk if isinstance(desk, Desk) else None


def _new_desk(configs: list[StrategyConfig], signature: str, now: datetime) -> Desk:
    strategies = {c.pk: build_strategy(c.kind, c.params) for c in configs}
    desk = Desk(strategies, signature=signature, live_from=_epoch(_minute(now)))
    account, instrument = configs[0].account, configs[0].instrument
    desk.known_tags = frozenset(
        tag.removeprefix(TAG_PREFIX)
        for tag in Order.objects.for_tenant(account.tenant_id)
        .filter(account=account, instrument=instrument, custom_tag__startswith=TAG_PREFIX)
        .values_list("custom_tag", flat=True)
    )
    return desk


def _warmup_start(desk: Desk, now: datetime) -> datetime:
    """Far enough back for every indicator of the desk to be ready (and today's bars)."""
    specs = desk.runner.strategy.indicators()
    sessions = max((s.period + 1 for s in specs if s.bar_minutes == SESSION_BARS), default=0)
    minutes = max(
        ((s.period + 1) * s.bar_minutes for s in specs if s.bar_minutes != SESSION_BARS), default=0
    )
    day = trading_date(now)
    for _ in range(max(sessions, -(-minutes // SESSION_MINUTES))):
        day = calendar.previous_trading_day(day)
    return globex_session(day)[0]


def _bars(
    account: TradingAccount, instrument: Instrument, start: datetime, end: datetime, now: datetime
) -> list[Bar]:
    if start >= end:
        return []
    client = broker.gateway_client_for(connection=account.connection)
    cache = BarCache(
        fetch=lambda cid, **kw: client.retrieve_bars(cid, **kw),
        scope=f"conn-{account.connection_id}",
        clock=lambda: now,
    )
    series = cache.read(
        contract_id=instrument.contract_id, unit=BarUnit.MINUTE, unit_number=1, start=start, end=end
    )
    tick = instrument.tick_size
    columns = [series.ticks(name, tick) for name in ("open", "high", "low", "close")]
    return [
        Bar(int(ts), int(o), int(h), int(lo), int(c), int(v))
        for ts, o, h, lo, c, v in zip(series.opened_at, *columns, series.volume, strict=True)
    ]


def _advance(
    runtime: StrategyRuntime, desk: Desk, instrument: Instrument, bars: list[Bar], now: datetime
) -> None:
    account = runtime.account
    since = globex_session(trading_date(now))[0] - timedelta(days=1)
    fills, ends = _facts(account, instrument, since, now)
    intents = desk.step(bars, fills, ends, _epoch(now), session_close_at=_session_close(now))
    last_price = from_ticks(bars[-1].close, instrument.tick_size) if bars else None
    rows = [_note_row(runtime, ts, name, text) for ts, name, text in desk.take_notes()]
    rows += [_intent_row(runtime, intent, now, last_price) for intent in intents]
    StrategyDecision.all_tenants.bulk_create(rows)
    runtime.state = pickle.dumps(desk)
    runtime.signature = desk.signature
    runtime.bars_through = (
        datetime.fromtimestamp(desk.bars_through, UTC) if desk.bars_through else None
    )
    runtime.stepped_at = now
    runtime.last_error = ""
    runtime.save()


def _session_close(now: datetime) -> int | None:
    found = calendar.session(trading_date(now))
    return _epoch(found.close_at) if found is not None else None


def _facts(
    account: TradingAccount, instrument: Instrument, since: datetime, now: datetime
) -> tuple[list[FillFact], list[OrderEnd]]:
    """The account's fills on the contract, attributed to the desk's brackets by customTag, and
    the desk's entries that ended without a fill."""
    tenant, tick = account.tenant_id, instrument.tick_size
    fills: list[FillFact] = []
    rows = (
        Fill.objects.for_tenant(tenant)
        .filter(account=account, instrument=instrument, executed_at__gte=since)
        .select_related("order__parent")
        .order_by("executed_at", "pk")
    )
    for fill in rows:
        if fill.order is None and fill.executed_at > now - UNATTRIBUTED_GRACE:
            break  # its order is being recorded: keep the fills in order, take it next step
        tag, role = _attribution(fill.order)
        fills.append(
            FillFact(
                fill.pk,
                _epoch(fill.executed_at),
                tag,
                role,
                Side(fill.side),
                fill.size,
                to_ticks(fill.price, tick),
            )
        )
    ended = (
        Order.objects.for_tenant(tenant)
        .filter(
            account=account,
            instrument=instrument,
            custom_tag__startswith=TAG_PREFIX,
            created_at__gte=since,
            status__in=_ENDED,
            filled_size=0,
        )
        .order_by("closed_at", "pk")
    )
    ends = [
        OrderEnd(
            o.custom_tag.removeprefix(TAG_PREFIX),
            _epoch(o.closed_at or o.updated_at),
            o.status,
            o.rejection_reason or o.get_status_display().lower(),
        )
        for o in ended
    ]
    return fills, ends


def _attribution(order: Order | None) -> tuple[str | None, str]:
    if order is None:
        return None, "flatten"
    if order.custom_tag.startswith(TAG_PREFIX) and order.role == OrderRole.ENTRY:
        return order.custom_tag.removeprefix(TAG_PREFIX), "entry"
    parent = order.parent
    if parent is not None and parent.custom_tag.startswith(TAG_PREFIX):
        return parent.custom_tag.removeprefix(TAG_PREFIX), _CHILD_ROLES.get(order.role, "flatten")
    return None, "flatten"


# --- the journal and the outbox ------------------------------------------------------------------


def _config_of(runtime: StrategyRuntime, name_or_tag: str) -> int | None:
    pk = config_id_of(name_or_tag)
    return (
        pk
        if pk is not None
        and StrategyConfig.all_tenants.filter(pk=pk, tenant_id=runtime.tenant_id).exists()
        else None
    )


def _note_row(runtime: StrategyRuntime, ts: int, name: str, text: str) -> StrategyDecision:
    owner, sep, rest = text.partition(": ")  # the manager's notes start with "c12: "
    config_id = _config_of(runtime, name) or (_config_of(runtime, owner) if sep else None)
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
    runtime: StrategyRuntime, intent: Intent, now: datetime, last_price: Decimal | None
) -> StrategyDecision:
    tag = getattr(intent, "tag", "")
    payload = {"type": type(intent).__name__, **asdict(intent)}
    if last_price is not None:
        payload["last_price"] = str(last_price)
    return StrategyDecision(
        tenant_id=runtime.tenant_id,
        runtime=runtime,
        strategy_config_id=_config_of(runtime, tag) if tag else None,
        decided_at=now,
        action=_ACTIONS[type(intent)],
        tag=tag,
        reason=intent.reason,
        intent=payload,
        status=DecisionStatus.PENDING,
    )


_ACTIONS = {
    PlaceBracket: "place",
    ModifyStop: "move stop",
    CancelOrder: "cancel",
    Flatten: "flatten",
}


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
        except (trading.InvalidOrder, trading.InvalidStopMove, ValueError) as exc:
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
    if isinstance(intent, PlaceBracket):
        if now - decision.decided_at > PLACE_DEADLINE:
            return DecisionStatus.FAILED, "given up: not placed within 2 minutes of the decision"
        last = decision.intent.get("last_price")
        order = _place(runtime, intent, Decimal(last) if last else None, now)
        why = f": {order.rejection_reason}" if order.rejection_reason else ""
        return DecisionStatus.DONE, f"order {order.pk} {order.status}{why}"
    if isinstance(intent, Flatten):
        broker.contract_flatten(
            account=runtime.account,
            contract_id=runtime.instrument.contract_id,
            reason=intent.reason,
        )
        return DecisionStatus.DONE, "cancelled what was working and closed the position"
    entry = _tagged(runtime, intent.tag)
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


def _place(
    runtime: StrategyRuntime, intent: PlaceBracket, last_price: Decimal | None, now: datetime
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
        oco_group=f"{TAG_PREFIX}{intent.oco_group}" if intent.oco_group else "",
    )
    config_id = config_id_of(intent.tag)
    config = StrategyConfig.objects.for_tenant(runtime.tenant_id).filter(pk=config_id).first()
    return trading.order_submit(
        tenant=runtime.tenant,
        account=runtime.account,
        proposal=proposal,
        strategy_config=config,
        now=now,
        custom_tag=f"{TAG_PREFIX}{intent.tag}",
    )


def _tagged(runtime: StrategyRuntime, tag: str) -> Order | None:
    return (
        Order.objects.for_tenant(runtime.tenant_id)
        .filter(account_id=runtime.account_id, custom_tag=f"{TAG_PREFIX}{tag}")
        .first()
    )


def _working_stop(entry: Order) -> Order | None:
    return (
        Order.objects.for_tenant(entry.tenant_id)
        .filter(parent=entry, role=OrderRole.STOP_LOSS, order_type=OrderType.STOP)
        .filter(status__in=OPEN_STATUSES)
        .first()
    )
