"""Each session trades its own contract month: the live desks' contract roll.

The gateway has no continuous contract, and `retrieveBars` does not span a roll (the roll rule and
its source: markets/contracts.py). At the first step of a trading date whose front month is later
than the month a desk trades (the session boundary: 18:00 ET), the desk's enabled configurations
move to the session's contract (an audit row each, a note in the journal of the new desk), and the
next step builds a new desk warmed up on that contract's own history: nothing of the old month's
desk state goes with it, and the overnight range (execution/day.py) is then recorded on the new
contract, since it is the one the enabled strategies trade.

A desk rolls only forward (a trader who picked a later month keeps it) and only when nothing of it is
left on the old month: a position or an open order there (the daily flatten should have closed them)
or a decision still to be carried out keeps the desk on the month it still watches, and the journal
says why; it rolls at the first step after they are gone. The new month is confirmed with the broker
first (Contract/searchById), so a broker that does not list it yet keeps the desk where it is.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.models import TradingAccount
from accounts.services import audit_record, snapshot
from execution import broker
from execution.gateway.errors import BrokerRejected
from execution.models import OPEN_STATUSES, Instrument, Order, Position
from markets.contracts import MONTH_CODES, front_month_id, split_contract_id
from markets.sessions import trading_date
from strategies.live.outbox import desk_note_record
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime


def session_contract(contract_id: str, now: datetime) -> str | None:
    """The month the session of `now` trades when it is later than `contract_id`, else None."""
    try:
        root, code, year = split_contract_id(contract_id)
    except ValueError:
        return None  # not a dated month: nothing to roll
    front = front_month_id(root, trading_date(now))
    _, front_code, front_year = split_contract_id(front)
    later = (front_year, MONTH_CODES.index(front_code)) > (year, MONTH_CODES.index(code))
    return front if later else None


def desk_roll(
    *, account: TradingAccount, instrument: Instrument, contract_id: str, now: datetime
) -> tuple[StrategyRuntime | None, str]:
    """Move the desk of `account` on `instrument` to `contract_id`. Returns the new desk's runtime
    and the journal text, or None and why it stays (see the module docstring)."""
    old = instrument.contract_id
    held = _left_on(account, instrument)
    if held:
        return None, f"not rolled from {old} to {contract_id}: {held} on {old}; rolls once gone"
    client = broker.gateway_client_for(connection=account.connection)
    try:
        contract = client.contract_by_id(contract_id)
    except BrokerRejected as exc:
        return None, f"not rolled from {old} to {contract_id}: the broker does not list it ({exc})"
    target = broker.instrument_upsert(contract=contract)
    session = trading_date(now)
    text = f"rolled from {old} to {contract_id}, the front month of the session of {session}"
    tenant = account.tenant_id
    with transaction.atomic():
        configs = (
            StrategyConfig.objects.for_tenant(tenant)
            .select_for_update()
            .filter(account=account, instrument=instrument, is_enabled=True)
        )
        for config in configs:
            before = snapshot(config)
            config.instrument = target
            config.save(update_fields=["instrument", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=None,
                action="strategy.roll",
                target=config,
                before=before,
                after=snapshot(config),
            )
        runtime, _ = StrategyRuntime.all_tenants.get_or_create(
            account=account, instrument=target, defaults={"tenant_id": tenant}
        )
        desk_note_record(runtime=runtime, text=text, now=now)
    return runtime, text


def _left_on(account: TradingAccount, instrument: Instrument) -> str:
    """What the desk still has on `instrument`, in words ("" when nothing)."""
    tenant = account.tenant_id
    position = (
        Position.objects.for_tenant(tenant)
        .filter(account=account, instrument=instrument)
        .exclude(net_size=0)
        .first()
    )
    if position is not None:
        return f"a position of {position.net_size}"
    orders = (
        Order.objects.for_tenant(tenant)
        .filter(account=account, instrument=instrument, status__in=OPEN_STATUSES)
        .count()
    )
    if orders:
        return f"{orders} open order(s)"
    pending = (
        StrategyDecision.objects.for_tenant(tenant)
        .filter(
            runtime__account=account,
            runtime__instrument=instrument,
            status=DecisionStatus.PENDING,
        )
        .count()
    )
    return f"{pending} decision(s) still to carry out" if pending else ""
