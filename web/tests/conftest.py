"""A desk with today's trading on it: a strategy, an open position, a working order, fills, the day's
ledger row, the overnight range and a few minute bars. Tenant A is alice's (owner); bob owns B."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory
from execution.models import (
    AccountDay,
    CachedBar,
    Fill,
    Instrument,
    Order,
    OrderRole,
    OrderSide,
    OrderStatus,
    OvernightRange,
    Position,
)
from execution.sources import market_source_for
from execution.tests.factories import InstrumentFactory, OrderFactory
from markets.sessions import globex_session
from strategies.models import StrategyConfig
from strategies.tests.factories import StrategyConfigFactory
from web.selectors import today_session


@pytest.fixture
def viewer(tenant_a):
    user = UserFactory(username="vera")
    MembershipFactory(user=user, tenant=tenant_a, role=Role.VIEWER)
    return user


@pytest.fixture
def trader(tenant_a):
    user = UserFactory(username="tom")
    MembershipFactory(user=user, tenant=tenant_a, role=Role.TRADER)
    return user


@dataclass
class Desk:
    instrument: Instrument
    strategy: StrategyConfig
    order: Order
    position: Position
    day: AccountDay
    entry: Fill
    exit: Fill
    session_start: datetime


def _desk(account, *, contract_id: str = "CON.F.US.EP.Z26") -> Desk:
    tenant = account.tenant
    instrument = InstrumentFactory(contract_id=contract_id)
    session = today_session()
    start, _ = globex_session(session)
    strategy = StrategyConfigFactory(
        tenant=tenant, account=account, instrument=instrument, name=f"ORB {account.name}"
    )
    entry_order = OrderFactory(
        tenant=tenant,
        account=account,
        instrument=instrument,
        role=OrderRole.ENTRY,
        status=OrderStatus.FILLED,
        filled_size=1,
        strategy_config=strategy,
    )
    exit_order = OrderFactory(
        tenant=tenant,
        account=account,
        instrument=instrument,
        role=OrderRole.TAKE_PROFIT,
        side=OrderSide.SELL,
        status=OrderStatus.FILLED,
        filled_size=1,
        strategy_config=strategy,
    )
    working = OrderFactory(
        tenant=tenant,
        account=account,
        instrument=instrument,
        role=OrderRole.STOP_LOSS,
        side=OrderSide.SELL,
        status=OrderStatus.WORKING,
        limit_price=None,
        stop_price=Decimal("4990.50"),
        order_type=4,
    )
    at = start + timedelta(hours=16)  # 10:00 ET
    entry = Fill.all_tenants.create(
        tenant=tenant,
        account=account,
        order=entry_order,
        instrument=instrument,
        broker_trade_id=1,
        side=OrderSide.BUY,
        size=1,
        price=Decimal("5000.25"),
        fees_usd=Decimal("1.40"),
        executed_at=at,
        strategy_config=strategy,
    )
    exit_fill = Fill.all_tenants.create(
        tenant=tenant,
        account=account,
        order=exit_order,
        instrument=instrument,
        broker_trade_id=2,
        side=OrderSide.SELL,
        size=1,
        price=Decimal("5010.25"),
        fees_usd=Decimal("1.40"),
        realized_pnl_usd=Decimal("500.00"),
        executed_at=at + timedelta(minutes=5),
        strategy_config=strategy,
    )
    position = Position.all_tenants.create(
        tenant=tenant,
        account=account,
        instrument=instrument,
        net_size=-2,
        average_price=Decimal("5008.000000000"),
        unrealized_pnl_usd=Decimal("-75.00"),
    )
    day = AccountDay.all_tenants.create(
        tenant=tenant,
        account=account,
        session_date=session,
        start_balance_usd=Decimal("50000.00"),
        balance_usd=Decimal("50497.20"),
        realized_pnl_usd=Decimal("500.00"),
        unrealized_pnl_usd=Decimal("-75.00"),
        fees_usd=Decimal("2.80"),
        high_water_usd=Decimal("50497.20"),
        mll_floor_usd=Decimal("48000.00"),
        daily_loss_floor_usd=Decimal("49000.00"),
    )
    OvernightRange.objects.update_or_create(
        instrument=instrument,
        session_date=session,
        defaults={
            "window_start_at": start,
            "window_end_at": start + timedelta(hours=15, minutes=30),
            "high_price": Decimal("5004.75"),
            "low_price": Decimal("4995.50"),
            "bar_count": 930,
            "is_complete": True,
        },
    )
    for minute in range(10):
        CachedBar.objects.get_or_create(
            source=market_source_for(connection=account.connection).key,
            contract_id=instrument.contract_id,
            unit=2,
            unit_number=1,
            started_at=at + timedelta(minutes=minute),
            defaults={
                "open_price": Decimal("5000.00") + minute,
                "high_price": Decimal("5001.00") + minute,
                "low_price": Decimal("4999.75") + minute,
                "close_price": Decimal("5000.50") + minute,
                "volume": 100,
            },
        )
    return Desk(instrument, strategy, working, position, day, entry, exit_fill, start)


@pytest.fixture
def desk_a(account_a) -> Desk:
    return _desk(account_a)


@pytest.fixture
def desk_b(account_b) -> Desk:
    return _desk(account_b, contract_id="CON.F.US.ENQ.Z26")
