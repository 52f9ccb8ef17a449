"""The per-account P&L summary: days from AccountDay and fills, totals, and the totals' arithmetic."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world
from execution.models import AccountDay, Fill, OrderSide
from execution.selectors import DayPnl, pnl_totals

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest
NEW_YORK = ZoneInfo("America/New_York")


def _day(world: World, session_date: date, realized: str, fees: str) -> None:
    AccountDay.all_tenants.update_or_create(
        account=world.account_a,
        session_date=session_date,
        defaults={
            "tenant": world.tenant_a,
            "start_balance_usd": Decimal("50000.00"),
            "balance_usd": Decimal("50000.00") + Decimal(realized) - Decimal(fees),
            "realized_pnl_usd": Decimal(realized),
            "fees_usd": Decimal(fees),
            "high_water_usd": Decimal("50000.00"),
            "mll_floor_usd": Decimal("48000.00"),
        },
    )


def _fill(world: World, trade_id: int, at: datetime, pnl: str) -> None:
    Fill.all_tenants.create(
        tenant=world.tenant_a,
        account=world.account_a,
        instrument=world.order_a.instrument,
        broker_trade_id=trade_id,
        side=OrderSide.SELL,
        size=1,
        price=Decimal("5001.00"),
        fees_usd=Decimal("1.40"),
        realized_pnl_usd=Decimal(pnl),
        executed_at=at,
    )


@pytest.mark.django_db
def test_summary_reports_pnl_per_trading_date_and_totals(world: World, api: Any) -> None:
    Fill.all_tenants.filter(tenant=world.tenant_a).delete()
    _day(world, date(2026, 11, 23), "300.00", "10.00")  # +290
    _day(world, date(2026, 11, 24), "-100.00", "5.00")  # -105
    _fill(world, 1, datetime(2026, 11, 23, 10, 0, tzinfo=NEW_YORK), "300.00")
    _fill(world, 2, datetime(2026, 11, 23, 18, 5, tzinfo=NEW_YORK), "-100.00")  # -> the 24th
    _fill(world, 3, datetime(2026, 11, 24, 19, 0, tzinfo=NEW_YORK), "50.00")  # -> the 25th, no row

    response = api(world.vera).get(
        f"{API}/analytics/accounts/{world.account_a.public_id}/summary/",
        {"date_from": "2026-11-20", "date_to": "2026-11-25"},
    )

    body = response.json()
    assert response.status_code == 200
    assert [
        (d["session_date"], d["net_pnl_usd"], d["fill_count"], d["fills_realized_pnl_usd"])
        for d in body["days"]
    ] == [
        ("2026-11-23", "290.00", 1, "300.00"),
        ("2026-11-24", "-105.00", 1, "-100.00"),
        ("2026-11-25", "48.60", 1, "50.00"),  # no AccountDay yet: fills' P&L less their fees
    ]
    assert body["days"][2]["balance_usd"] is None
    assert body["totals"] == {
        "net_pnl_usd": "233.60",
        "fill_count": 3,
        "trading_days": 3,
        "winning_days": 2,
        "losing_days": 1,
        "best_day_usd": "290.00",
        "worst_day_usd": "-105.00",
        "best_day_share": "1.2414",
    }


@pytest.mark.django_db
def test_summary_defaults_to_the_last_30_trading_dates(world: World, api: Any) -> None:
    response = api(world.vera).get(f"{API}/analytics/accounts/{world.account_a.public_id}/summary/")

    body = response.json()
    span = date.fromisoformat(body["date_to"]) - date.fromisoformat(body["date_from"])
    assert response.status_code == 200
    assert span == timedelta(days=29)


@pytest.mark.django_db
def test_summary_refuses_more_than_a_year(world: World, api: Any) -> None:
    response = api(world.vera).get(
        f"{API}/analytics/accounts/{world.account_a.public_id}/summary/",
        {"date_from": "2024-01-01", "date_to": "2026-01-01"},
    )

    assert response.status_code == 400
    assert response.json() == {"date_from": ["at most 366 days per request"]}


MONEY = st.decimals(min_value=-5000, max_value=5000, places=2, allow_nan=False)


@given(st.lists(MONEY, max_size=40))
def test_totals_add_up_and_the_best_day_share_is_consistent(nets: list[Decimal]) -> None:
    days = [
        DayPnl(date(2026, 1, 1) + timedelta(days=n), None, 1, net, Decimal("0.00"))
        for n, net in enumerate(nets)
    ]

    totals = pnl_totals(days)

    assert totals.net_pnl_usd == sum(nets, Decimal("0.00"))
    assert totals.trading_days == totals.fill_count == len(nets)
    assert totals.winning_days + totals.losing_days == sum(1 for net in nets if net != 0)
    if nets:
        assert totals.worst_day_usd <= totals.best_day_usd
    if totals.best_day_share is None:
        assert not nets or totals.net_pnl_usd <= 0 or totals.best_day_usd <= 0
    else:
        exact = totals.best_day_usd / totals.net_pnl_usd
        assert abs(totals.best_day_share - exact) <= Decimal("0.00005")
