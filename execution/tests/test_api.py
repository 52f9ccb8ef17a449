"""Orders, fills, positions and account days over the API: filters, trading dates, pagination, queries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from accounts.tests.factories import TradingAccountFactory
from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world
from execution.models import AccountDay, Fill, OrderSide, OrderStatus, Position
from execution.tests.factories import OrderFactory

FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest
pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]
NEW_YORK = ZoneInfo("America/New_York")


def _fill(
    world: World, *, trade_id: int, at: datetime, pnl: str = "0", account: Any = None
) -> Fill:
    return Fill.all_tenants.create(
        tenant=world.tenant_a,
        account=account or world.account_a,
        instrument=world.order_a.instrument,
        broker_trade_id=trade_id,
        side=OrderSide.SELL,
        size=1,
        price=Decimal("5001.00"),
        fees_usd=Decimal("1.40"),
        realized_pnl_usd=Decimal(pnl),
        executed_at=at,
    )


def test_order_list_filters_by_status_and_account(world: World, api: Any) -> None:
    other = TradingAccountFactory(tenant=world.tenant_a)
    filled = OrderFactory(tenant=world.tenant_a, account=world.account_a, status=OrderStatus.FILLED)
    working = OrderFactory(tenant=world.tenant_a, account=other, status=OrderStatus.WORKING)
    client = api(world.vera)

    by_status = client.get(f"{API}/orders/", {"status": ["filled", "working"]}).json()
    by_account = client.get(f"{API}/orders/", {"account": str(other.public_id)}).json()

    assert {row["id"] for row in by_status["results"]} == {
        str(filled.public_id),
        str(working.public_id),
    }
    assert [row["id"] for row in by_account["results"]] == [str(working.public_id)]


def test_order_detail_shows_decimals_as_strings_and_related_ids(world: World, api: Any) -> None:
    response = api(world.vera).get(f"{API}/orders/{world.order_a.public_id}/")

    body = response.json()
    assert response.status_code == 200
    assert body["limit_price"] == "5000.250000000"
    assert body["account"] == str(world.account_a.public_id)
    assert body["instrument"] == {"symbol": "ES", "contract_id": "CON.F.US.EP.Z26"}
    assert (body["side"], body["side_display"], body["strategy"]) == (0, "Buy", None)


def test_orders_are_read_only(world: World, api: Any) -> None:
    client = api(world.alice)

    assert client.post(f"{API}/orders/", {}, format="json").status_code == 405
    assert client.delete(f"{API}/orders/{world.order_a.public_id}/").status_code == 405


def test_fill_dates_are_trading_dates_that_start_at_18_et(world: World, api: Any) -> None:
    """A fill at 18:30 ET on the 24th belongs to trading date the 25th; one at 17:30 to the 24th."""
    Fill.all_tenants.filter(tenant=world.tenant_a).delete()
    late = _fill(world, trade_id=10, at=datetime(2026, 11, 24, 18, 30, tzinfo=NEW_YORK))
    _fill(world, trade_id=11, at=datetime(2026, 11, 24, 17, 30, tzinfo=NEW_YORK))

    response = api(world.vera).get(
        f"{API}/fills/", {"date_from": "2026-11-25", "date_to": "2026-11-25"}
    )

    assert response.status_code == 200
    assert [row["broker_trade_id"] for row in response.json()["results"]] == [late.broker_trade_id]


def test_positions_filter_open_only(world: World, api: Any) -> None:
    other = TradingAccountFactory(tenant=world.tenant_a)
    Position.all_tenants.create(
        tenant=world.tenant_a, account=other, instrument=world.order_a.instrument, net_size=0
    )
    client = api(world.vera)

    everything = client.get(f"{API}/positions/").json()
    open_only = client.get(f"{API}/positions/", {"is_open": "true"}).json()
    flat_only = client.get(f"{API}/positions/", {"is_open": "false"}).json()

    assert everything["count"] == 2
    assert [row["net_size"] for row in open_only["results"]] == [1]
    assert [row["net_size"] for row in flat_only["results"]] == [0]


def test_account_days_filter_by_session_date(world: World, api: Any) -> None:
    AccountDay.all_tenants.create(
        tenant=world.tenant_a,
        account=world.account_a,
        session_date=date(2026, 11, 25),
        start_balance_usd=Decimal("50000.00"),
        balance_usd=Decimal("50250.00"),
        realized_pnl_usd=Decimal("260.00"),
        fees_usd=Decimal("10.00"),
        high_water_usd=Decimal("50250.00"),
        mll_floor_usd=Decimal("48000.00"),
    )

    response = api(world.vera).get(f"{API}/account-days/", {"date_from": "2026-11-25"})

    rows = response.json()["results"]
    assert [(row["session_date"], row["net_pnl_usd"]) for row in rows] == [("2026-11-25", "250.00")]


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"status": "lost"}, {"status"}),
        ({"account": "nope"}, {"account"}),
        ({"date_from": "2026-13-01"}, {"date_from"}),
        ({"date_from": "2026-11-02", "date_to": "2026-11-01"}, {"date_to"}),
        ({"date_to": "9999-12-31"}, {"date_to"}),
    ],
    ids=["status", "account", "date", "reversed", "far_future"],
)
def test_bad_order_filters_are_400_per_field(
    world: World, api: Any, params: dict, fields: set
) -> None:
    response = api(world.vera).get(f"{API}/orders/", params)

    assert response.status_code == 400
    assert set(response.json()) == fields


def test_pagination_with_page_size(world: World, api: Any) -> None:
    OrderFactory.create_batch(5, tenant=world.tenant_a, account=world.account_a)
    client = api(world.vera)

    first = client.get(f"{API}/orders/", {"page_size": 4}).json()
    second = client.get(f"{API}/orders/", {"page_size": 4, "page": 2}).json()

    assert (first["count"], len(first["results"]), len(second["results"])) == (6, 4, 2)
    assert second["next"] is None
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


@pytest.mark.parametrize("resource", ["orders", "fills", "positions", "account-days"])
def test_hot_list_query_counts_do_not_grow_with_rows(
    world: World, api: Any, django_assert_max_num_queries: Any, resource: str
) -> None:
    accounts = [world.account_a, *TradingAccountFactory.create_batch(3, tenant=world.tenant_a)]
    for n, account in enumerate(accounts):
        OrderFactory.create_batch(5, tenant=world.tenant_a, account=account)
        _fill(
            world, trade_id=100 + n, at=datetime(2026, 11, 24, 11, tzinfo=NEW_YORK), account=account
        )
        if account != world.account_a:
            Position.all_tenants.create(
                tenant=world.tenant_a, account=account, instrument=world.order_a.instrument
            )
    client = api(world.vera)

    # token+user, membership, count, page with every related row joined: 4 whatever the size
    with django_assert_max_num_queries(4):
        response = client.get(f"{API}/{resource}/", {"account": str(accounts[1].public_id)})
    with django_assert_max_num_queries(4):
        everything = client.get(f"{API}/{resource}/")

    assert response.status_code == everything.status_code == 200
    assert everything.json()["count"] >= 1
