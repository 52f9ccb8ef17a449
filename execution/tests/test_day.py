"""The trading day: the end-of-day flatten at each account's time (DST, holidays, early closes), the
day roll with its summary, and the overnight range; each step once per account and session date."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry
from execution import broker
from execution import day as trading_day
from execution.gateway.types import BarUnit
from execution.models import AccountDay, DailyStep, DayStep, OvernightRange
from execution.tests.factories import InstrumentFactory
from markets import calendar
from markets.sessions import at_et
from simulator.testing import running_simulator
from strategies.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


def et(day: date, hour: int, minute: int = 0) -> datetime:
    return at_et(day, time(hour, minute))


@pytest.mark.parametrize(
    "day",
    [date(2026, 3, 9), date(2026, 11, 2), date(2026, 11, 24)],
    ids=["after_spring_forward", "after_fall_back", "ordinary_tuesday"],
)
def test_flatten_happens_at_the_accounts_time_once(
    account_a, day, django_capture_on_commit_callbacks
):
    assert trading_day.day_flatten_due(now=et(day, 15, 54)) == []
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert trading_day.day_flatten_due(now=et(day, 15, 55)) == [account_a]
        assert trading_day.day_flatten_due(now=et(day, 15, 58)) == []  # once per day
    assert len(queued) == 1
    assert DailyStep.objects.for_tenant(account_a.tenant).get().step == DayStep.EOD_FLATTEN
    reason = (
        AuditEntry.objects.for_tenant(account_a.tenant)
        .get(action="account.flatten_requested")
        .after
    )
    assert reason == {"reason": "end of day: flat by 15:55 ET"}


def test_each_account_keeps_its_own_flat_by_time(account_a, account_b):
    account_b.risk_profile.flat_by_et = time(15, 30)
    account_b.risk_profile.save()
    assert trading_day.day_flatten_due(now=et(date(2026, 11, 24), 15, 31)) == [account_b]


def test_a_holiday_has_nothing_to_flatten(account_a):
    assert trading_day.day_flatten_due(now=et(date(2026, 12, 25), 16, 5)) == []


def test_an_early_close_moves_the_flatten_before_it(account_a):
    day = date(2026, 11, 27)  # the day after Thanksgiving closes early
    close = calendar.session(day).close_at
    assert close < et(day, 15, 55)
    assert trading_day.day_flatten_due(now=close - timedelta(minutes=6)) == []
    assert trading_day.day_flatten_due(now=close - timedelta(minutes=5)) == [account_a]


def closed_day(account, session_date: date, **usd: str) -> AccountDay:
    """An end-of-day-trailing account's row for `session_date`; amounts in dollars, as text."""
    account.risk_profile.mll_mode = "end_of_day"
    account.risk_profile.save()
    return AccountDay.all_tenants.create(
        tenant=account.tenant,
        account=account,
        session_date=session_date,
        **{f"{name}_usd": Decimal(value) for name, value in usd.items()},
    )


def test_day_roll_trails_the_floor_and_opens_the_next_session_once(account_a):
    monday = date(2026, 11, 23)
    closed_day(
        account_a,
        monday,
        start_balance="50000.00",
        balance="50600.00",
        realized_pnl="602.80",
        fees="2.80",
        high_water="50000.00",
        mll_floor="48000.00",
    )
    assert trading_day.day_close_due(now=et(monday, 16, 30)) == []  # still trading
    [tuesday] = trading_day.day_close_due(now=et(monday, 17, 5))
    assert tuesday.session_date == date(2026, 11, 24)
    assert tuesday.start_balance_usd == Decimal("50600.00")
    assert tuesday.high_water_usd == Decimal("50600.00")
    assert tuesday.mll_floor_usd == Decimal("48600.00")  # trails the end-of-day high
    assert tuesday.daily_loss_floor_usd == Decimal("49600.00")
    assert trading_day.day_close_due(now=et(monday, 17, 10)) == []
    rolls = AuditEntry.objects.for_tenant(account_a.tenant).filter(action="account.day_roll")
    assert rolls.count() == 1


def test_the_floor_stops_trailing_at_the_starting_balance(account_a):
    friday = date(2026, 11, 20)
    closed_day(
        account_a,
        friday,
        start_balance="51500.00",
        balance="52500.00",
        high_water="51500.00",
        mll_floor="49500.00",
    )
    [monday] = trading_day.day_close_due(now=et(friday, 17, 1))
    assert monday.session_date == date(2026, 11, 23)  # the weekend is skipped
    assert monday.mll_floor_usd == Decimal("50000.00")  # locked at the starting balance


def test_overnight_range_is_recorded_from_the_brokers_bars(tmp_path, account_a, settings):
    session = date(2025, 3, 4)  # a Tuesday; the simulator's clock stands at its open
    with running_simulator(
        tmp_path / "sim.sqlite3", start=et(session, 9, 31).astimezone(UTC)
    ) as sim:
        settings.PROJECTX_SIM_API_URL = sim.base_url
        broker._clients.clear()
        connection = account_a.connection
        connection.username, connection.api_key_encrypted = (
            sim.username,
            encrypt_secret(sim.api_key),
        )
        connection.save()
        StrategyConfigFactory(
            tenant=account_a.tenant,
            account=account_a,
            is_enabled=True,
            instrument=InstrumentFactory(contract_id=sim.contract_id()),
        )
        assert trading_day.overnight_ranges_record(now=et(session, 9, 29)) == []  # not yet
        [recorded] = trading_day.overnight_ranges_record(now=et(session, 9, 31))
        client = broker.gateway_client_for(connection=connection)
        bars = client.retrieve_bars(
            sim.contract_id(),
            start=et(session - timedelta(days=1), 18),
            end=et(session, 9, 30) - timedelta(seconds=1),
            unit=BarUnit.MINUTE,
        )
        broker._clients.clear()
    assert recorded.high_price == max(b.high_price for b in bars)
    assert recorded.low_price == min(b.low_price for b in bars)
    assert recorded.bar_count == len(bars)
    assert recorded.is_complete
    assert OvernightRange.objects.count() == 1
