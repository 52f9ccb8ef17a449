"""End to end on the simulator across the March 2026 roll: ES H26 is the front month until the
session of Thursday 2026-03-12 (markets/contracts.py), which opens at 18:00 ET on the 11th
(22:00 UTC). A desk rolls to M26 at that boundary, steps on M26's own bars, and the overnight range
of the 12th is recorded on M26; a desk still holding H26 stays on it (and says why) until flat."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import AuditEntry
from execution import broker, day
from execution.gateway.types import OrderSide, OrderType, PlaceOrderRequest
from execution.ingest import instrument_for_contract
from execution.models import CachedBar, OvernightRange
from execution.tests.simulated import platform_on, simulator_account, tasks_inline
from simulator.testing import running_simulator
from strategies.live.steps import desk_step
from strategies.models import StrategyConfig, StrategyDecision
from strategies.selectors import fleet_desks

pytestmark = pytest.mark.django_db(transaction=True)

H26, M26 = "CON.F.US.EP.H26", "CON.F.US.EP.M26"
BEFORE = datetime(2026, 3, 11, 21, 50, tzinfo=UTC)  # 16:50 CT: the session of the 11th
BOUNDARY = datetime(2026, 3, 11, 22, 0, tzinfo=UTC)  # 17:00 CT: the session of the 12th opens
RANGE_END = datetime(2026, 3, 12, 13, 31, tzinfo=UTC)  # 09:31 ET, after the range window


@pytest.fixture
def desk(tmp_path, settings, tenant_a):
    with (
        running_simulator(tmp_path / "sim.sqlite3", start=BEFORE, history_minutes=3 * 1440) as sim,
        platform_on(sim, settings),
        tasks_inline(),
    ):
        account = simulator_account(sim, tenant_a)
        instrument = instrument_for_contract(sim.contract_id())
        config = StrategyConfig.objects.for_tenant(tenant_a).create(
            tenant=tenant_a,
            name="ORB",
            kind="overnight_range_breakout",
            account=account,
            instrument=instrument,
            params={},
            is_enabled=True,
        )
        yield sim, account, config


def journal(account, text: str) -> list[str]:
    rows = StrategyDecision.objects.for_tenant(account.tenant).filter(reason__contains=text)
    return list(rows.values_list("reason", flat=True))


def test_a_desk_rolls_to_the_sessions_contract_and_builds_its_range_there(desk):
    sim, account, config = desk
    assert sim.contract_id() == H26
    first = desk_step(account=account, instrument=config.instrument, now=BEFORE)
    assert first.stepped_at == BEFORE  # stepped on H26 in the session of the 11th

    sim.step_until(BOUNDARY + timedelta(minutes=1))
    assert sim.contract_id() == M26  # the simulator's Contract/search follows the same rule
    rolled = desk_step(account=account, instrument=first.instrument, now=BOUNDARY)

    config.refresh_from_db()
    assert config.instrument.contract_id == M26
    assert rolled.instrument.contract_id == M26
    assert rolled.stepped_at is None  # the new desk starts at the next step, on M26's history
    assert journal(account, f"rolled from {H26} to {M26}")
    audit = AuditEntry.objects.for_tenant(account.tenant).get(action="strategy.roll")
    assert audit.before["instrument"] == first.instrument_id
    assert audit.after["instrument"] == rolled.instrument_id
    desks = {instrument_id for _, _, instrument_id in fleet_desks()}
    assert desks == {rolled.instrument_id}  # the H26 desk is stepped no more

    now = BOUNDARY + timedelta(minutes=1)
    stepped = desk_step(account=account, instrument=rolled.instrument, now=now)
    assert stepped.stepped_at == now
    assert stepped.bars_through == now
    assert CachedBar.objects.filter(contract_id=M26, started_at__gte=BOUNDARY).exists()

    sim.step_until(RANGE_END)
    (recorded,) = day.overnight_ranges_record(now=RANGE_END)
    assert recorded.instrument.contract_id == M26
    assert recorded.session_date.isoformat() == "2026-03-12"
    assert not OvernightRange.objects.filter(instrument__contract_id=H26).exists()


def test_a_desk_holding_the_old_month_stays_on_it_until_flat(desk):
    sim, account, config = desk
    client = broker.gateway_client_for(connection=account.connection)
    client.place_order(
        PlaceOrderRequest(account.projectx_account_id, H26, OrderType.MARKET, OrderSide.BID, 1)
    )
    sim.step(1)
    sim.step_until(BOUNDARY + timedelta(minutes=1))
    broker.account_resync(account=account)  # the platform learns of the position

    for minute in (0, 1):  # two steps, one note
        kept = desk_step(
            account=account, instrument=config.instrument, now=BOUNDARY.replace(minute=minute)
        )
        assert kept.instrument.contract_id == H26
    config.refresh_from_db()
    assert config.instrument.contract_id == H26
    assert journal(account, "not rolled") == [
        f"not rolled from {H26} to {M26}: a position of 1 on {H26}; rolls once gone"
    ]

    client.close_position(account.projectx_account_id, H26)
    sim.step(1)
    broker.account_resync(account=account)
    rolled = desk_step(
        account=account, instrument=config.instrument, now=BOUNDARY.replace(minute=3)
    )
    config.refresh_from_db()
    assert config.instrument.contract_id == M26
    assert rolled.instrument.contract_id == M26
