"""Fixtures shared by the API tests (imported by each test_api*.py; this module holds no tests).

`world` builds tenant A (alice owner, tina trader, vera viewer) with one of every object the API
exposes (and a second, live, account to move its strategy to), and tenant B (bob owner) with an
account of its own. `api` makes clients that sign in with a
real access token (apiauth), as scripts do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import (
    AuditEntry,
    BrokerConnection,
    GatewayEnvironment,
    Membership,
    RiskProfile,
    Role,
    Tenant,
    TradingAccount,
)
from accounts.services import audit_record
from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory
from apiauth.tests.support import bearer_for
from execution.models import AccountDay, Fill, Order, OrderSide, Position
from execution.tests.factories import InstrumentFactory, OrderFactory
from strategies.models import (
    BacktestRun,
    DecisionStatus,
    EvaluationRun,
    StrategyConfig,
    StrategyDecision,
    StrategyRuntime,
)
from strategies.tests.factories import StrategyConfigFactory

NEW_YORK = ZoneInfo("America/New_York")
API = "/api/v1"
TENANT_MODELS = (
    Membership,
    BrokerConnection,
    TradingAccount,
    RiskProfile,
    StrategyConfig,
    StrategyRuntime,
    StrategyDecision,
    Order,
    Fill,
    Position,
    AccountDay,
    AuditEntry,
)


@pytest.fixture(autouse=True)
def _fresh_throttles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttle counters live in the shared cache (Redis): each test counts under keys of its own,
    so none inherits another's requests, and nothing is flushed under a parallel worker."""
    monkeypatch.setattr(
        SimpleRateThrottle, "cache_format", f"throttle-{uuid.uuid4().hex}-%(scope)s-%(ident)s"
    )


def client_for(user: Any, tenant: Tenant | None = None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer_for(user))
    if tenant is not None:
        client.credentials(HTTP_AUTHORIZATION=bearer_for(user), HTTP_X_TENANT=str(tenant.public_id))
    return client


@pytest.fixture
def api() -> Any:
    return client_for


def rows_of(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """Every tenant-owned row of `tenant`, field by field: compared before and after a refused call."""
    return {
        model.__name__: [
            model_to_dict(row) for row in model.all_tenants.filter(tenant=tenant).order_by("pk")
        ]
        for model in TENANT_MODELS
    }


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    alice: Any
    tina: Any
    vera: Any
    bob: Any
    account_a: TradingAccount
    account_a_live: TradingAccount
    account_b: TradingAccount
    strategy_a: StrategyConfig
    decision_a: StrategyDecision
    order_a: Order
    order_b: Order
    backtest_a: BacktestRun
    evaluation_a: EvaluationRun


@pytest.fixture
def world(alice: Any, bob: Any, tenant_a: Tenant, tenant_b: Tenant, account_a, account_b) -> World:
    tina = UserFactory(username="tina")
    vera = UserFactory(username="vera")
    MembershipFactory(tenant=tenant_a, user=tina, role=Role.TRADER)
    MembershipFactory(tenant=tenant_a, user=vera, role=Role.VIEWER)
    instrument = InstrumentFactory()
    strategy_a = StrategyConfigFactory(tenant=tenant_a, account=account_a, instrument=instrument)
    account_a_live = TradingAccountFactory(
        tenant=tenant_a,
        name="Live account of A",
        connection__environment=GatewayEnvironment.LIVE,
    )
    runtime_a = StrategyRuntime.all_tenants.create(
        tenant=tenant_a, account=account_a, instrument=instrument
    )
    decision_a = StrategyDecision.all_tenants.create(
        tenant=tenant_a,
        runtime=runtime_a,
        strategy_config=strategy_a,
        decided_at=datetime(2026, 11, 24, 9, 31, tzinfo=NEW_YORK),
        action="blocked",
        reason=f"c{strategy_a.pk}: blocked by the regime filter of desk A",
        status=DecisionStatus.NOTED,
    )
    order_a = OrderFactory(tenant=tenant_a, account=account_a, instrument=instrument)
    order_b = OrderFactory(tenant=tenant_b, account=account_b, instrument=instrument)
    executed_at = datetime(2026, 11, 24, 10, 0, tzinfo=NEW_YORK)
    Fill.all_tenants.create(
        tenant=tenant_a,
        account=account_a,
        order=order_a,
        instrument=instrument,
        broker_trade_id=1,
        side=OrderSide.BUY,
        size=1,
        price=Decimal("5000.25"),
        fees_usd=Decimal("1.40"),
        executed_at=executed_at,
    )
    Position.all_tenants.create(
        tenant=tenant_a, account=account_a, instrument=instrument, net_size=1
    )
    AccountDay.all_tenants.create(
        tenant=tenant_a,
        account=account_a,
        session_date=date(2026, 11, 24),
        start_balance_usd=Decimal("50000.00"),
        balance_usd=Decimal("50000.00"),
        high_water_usd=Decimal("50000.00"),
        mll_floor_usd=Decimal("48000.00"),
    )
    audit_record(tenant=tenant_a, actor=alice, action="test.seed")
    backtest_a = BacktestRun.all_tenants.create(
        tenant=tenant_a,
        kind="overnight_range_breakout",
        contract="ES",
        bars_source="nq_1min_sample_2023-11.csv.gz",
        status="succeeded",
        metrics={"net_pnl_usd": "12.50"},
        result={"trades": []},
    )
    evaluation_a = EvaluationRun.all_tenants.create(
        tenant=tenant_a,
        kind="overnight_range_breakout",
        contract="ES",
        bars_source="es_1min_2019-2023.csv.gz",
        plan_code="combine-50k",
        status="succeeded",
        report={"history": {"attempts": 0}},
    )
    return World(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        alice=alice,
        tina=tina,
        vera=vera,
        bob=bob,
        account_a=account_a,
        account_a_live=account_a_live,
        account_b=account_b,
        strategy_a=strategy_a,
        decision_a=decision_a,
        order_a=order_a,
        order_b=order_b,
        backtest_a=backtest_a,
        evaluation_a=evaluation_a,
    )
