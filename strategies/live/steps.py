"""The live strategy runtime's step: each minute, every desk (an account's enabled strategies on
one contract, ``strategies/live/desk.py``) is advanced on the bars, fills and order results the
platform has recorded; what it decides goes to the journal and outbox (``strategies/live/outbox.py``).

A step reads the bars first (the market-data cache may call the broker), then, holding the runtime's
row lock, advances the desk and stores, in one transaction, its new state and each decision. A step
that fails keeps nothing and records why on its runtime; the next one starts from the saved state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import TradingAccount
from execution import broker
from execution.gateway.types import BarUnit
from execution.marketdata import BarCache
from execution.models import Fill, Instrument, Order, OrderRole, OrderStatus
from execution.price_feeds import feed_staleness
from execution.sources import market_source_for
from markets import calendar
from markets.fills import Side
from markets.sessions import globex_session, trading_date
from markets.ticks import from_ticks, to_ticks
from strategies.engine.feeds import warmup_sessions
from strategies.engine.registry import build_strategy
from strategies.live.desk import Bar, Desk, FillFact, OrderEnd
from strategies.live.outbox import (
    TAG_PREFIX,
    decision_rows,
    decisions_carry_out,
    desk_note_record,
)
from strategies.live.roll import desk_roll, session_contract
from strategies.live.state import UnreadableState, desk_dump, desk_load
from strategies.models import StrategyConfig, StrategyDecision, StrategyRuntime

logger = logging.getLogger(__name__)

UNATTRIBUTED_GRACE = timedelta(minutes=2)  # a fill whose order row has not been recorded yet
_CHILD_ROLES = {OrderRole.STOP_LOSS: "stop_loss", OrderRole.TAKE_PROFIT: "take_profit"}
_ENDED = (OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


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
    rolls_to = session_contract(instrument.contract_id, now) if configs else None
    if rolls_to:
        rolled, text = desk_roll(
            account=account, instrument=instrument, contract_id=rolls_to, now=now
        )
        if rolled is not None:
            return rolled  # its first step (next minute) warms it up on the new month
        _note_once(runtime, text, now)  # it stays on the month it holds, and steps there
    signature = _signature(configs)
    desk, unreadable = _load(runtime, signature)
    fresh = desk is None
    if fresh:
        desk = _new_desk(configs, signature, now) if configs else None
    if desk is None:
        return runtime
    stale = _stale_feed(account, instrument)
    if stale:
        return _refuse(runtime, stale, now)
    if unreadable:
        desk.note(
            _epoch(_minute(now)), f"saved state unreadable ({unreadable}): rebuilt by warm-up"
        )
    start = _warmup_start(desk, now) if fresh else datetime.fromtimestamp(desk.bars_through, UTC)
    try:
        bars = _bars(account, instrument, start, _minute(now), now)
        with transaction.atomic():
            locked = StrategyRuntime.all_tenants.select_for_update().get(pk=runtime.pk)
            if not fresh:
                desk, _ = _load(locked, signature)  # a concurrent step may have moved it on
                if desk is None:
                    return locked  # the configurations changed meanwhile: the next step rebuilds
            _advance(locked, desk, instrument, bars, now)
    except Exception as exc:  # shown on the Strategies page and in the admin; the task retries
        StrategyRuntime.all_tenants.filter(pk=runtime.pk).update(last_error=str(exc)[:2000])
        raise
    decisions_carry_out(runtime=locked, now=now)
    return locked


def _stale_feed(account: TradingAccount, instrument: Instrument) -> str:
    """Why the desk must wait, or "" while its contract's market feed is fresh."""
    source = market_source_for(connection=account.connection).key
    state = feed_staleness(source=source, contract_id=instrument.contract_id)
    if state is None:
        return ""
    # Only the episode's start in the text: it is how the journal says it once per episode.
    return (
        f"not stepped: the market feed of {instrument.contract_id} is stale since "
        f"{state['since']} (newest hub event); waiting until it is fresh"
    )


def _refuse(runtime: StrategyRuntime, reason: str, now: datetime) -> StrategyRuntime:
    """Record a refused step: in the journal once per episode, and on the runtime."""
    if runtime.last_error == reason:
        return runtime
    with transaction.atomic():
        desk_note_record(runtime=runtime, text=reason, now=now)
        StrategyRuntime.all_tenants.filter(pk=runtime.pk).update(last_error=reason)
    runtime.last_error = reason
    return runtime


def _note_once(runtime: StrategyRuntime, text: str, now: datetime) -> None:
    """A journal note of the desk, unless the session's journal already has it."""
    since = globex_session(trading_date(now))[0]
    journal = StrategyDecision.objects.for_tenant(runtime.tenant_id).filter(runtime=runtime)
    if not journal.filter(reason=text, decided_at__gte=since).exists():
        desk_note_record(runtime=runtime, text=text, now=now)


def _enabled_configs(account: TradingAccount, instrument: Instrument) -> list[StrategyConfig]:
    return list(
        StrategyConfig.objects.for_tenant(account.tenant_id)
        .filter(account=account, instrument=instrument, is_enabled=True)
        .select_related("instrument")
        .order_by("pk")
    )


def _signature(configs: list[StrategyConfig]) -> str:
    # The tick size is part of it: a desk saved before its journal printed prices is rebuilt.
    picture = [(c.pk, c.kind, c.params, str(c.instrument.tick_size)) for c in configs]
    return hashlib.sha256(json.dumps(picture, sort_keys=True, default=str).encode()).hexdigest()


def _load(runtime: StrategyRuntime, signature: str) -> tuple[Desk | None, str]:
    """The saved desk, or None and why it cannot be used ("" when there is none for `signature`)."""
    if runtime.state is None or runtime.signature != signature:
        return None, ""
    try:
        return desk_load(bytes(runtime.state)), ""
    except UnreadableState as exc:  # rebuilt from history: it costs a warm-up, nothing else
        logger.warning("runtime %s: saved state unreadable (%s), rebuilding", runtime.pk, exc)
        return None, str(exc)


def _new_desk(configs: list[StrategyConfig], signature: str, now: datetime) -> Desk:
    strategies = {c.pk: build_strategy(c.kind, c.params) for c in configs}
    account, instrument = configs[0].account, configs[0].instrument
    desk = Desk(
        strategies,
        signature=signature,
        live_from=_epoch(_minute(now)),
        tick_size=instrument.tick_size,
    )
    desk.known_tags = frozenset(
        tag.removeprefix(TAG_PREFIX)
        for tag in Order.objects.for_tenant(account.tenant_id)
        .filter(account=account, instrument=instrument, custom_tag__startswith=TAG_PREFIX)
        .values_list("custom_tag", flat=True)
    )
    return desk


def _warmup_start(desk: Desk, now: datetime) -> datetime:
    """The open of the session far enough back for every indicator of the desk to have its whole
    window (``indicators.window_length``; then its value is the backtester's), and today's bars."""
    day = trading_date(now)
    for _ in range(warmup_sessions(desk.runner.strategy.indicators())):
        day = calendar.previous_trading_day(day)
    return globex_session(day)[0]


def _bars(
    account: TradingAccount, instrument: Instrument, start: datetime, end: datetime, now: datetime
) -> list[Bar]:
    if start >= end:
        return []
    client = broker.gateway_client_for(connection=account.connection)
    cache = BarCache(  # the account's own source: a live desk never steps on simulated bars
        fetch=lambda cid, **kw: client.retrieve_bars(cid, **kw),
        source=market_source_for(connection=account.connection).key,
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
    rows = decision_rows(runtime, desk.take_notes(), intents, now, last_price)
    StrategyDecision.all_tenants.bulk_create(rows)
    runtime.state = desk_dump(desk)
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
