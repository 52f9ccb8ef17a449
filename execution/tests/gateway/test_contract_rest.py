"""Contract tests: the client's whole REST surface against the real simulator (simulator/testing.py),
each endpoint's success and its errors."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from execution.gateway.config import Credentials
from execution.gateway.errors import (
    AuthenticationFailed,
    BrokerRejected,
    InvalidRequest,
)
from execution.gateway.types import (
    BarUnit,
    Bracket,
    ModifyOrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrderRequest,
    PositionType,
)
from simulator.testing import DEFAULT_START

EPOCH = DEFAULT_START - timedelta(days=1)


def limit_buy(sim, price: Decimal, **kw) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        account_id=sim.account_id,
        contract_id=sim.contract_id(),
        type=OrderType.LIMIT,
        side=OrderSide.BID,
        size=kw.pop("size", 1),
        limit_price=price,
        **kw,
    )


def market(sim, side: OrderSide, size: int = 1, **kw) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        account_id=sim.account_id,
        contract_id=sim.contract_id(),
        type=OrderType.MARKET,
        side=side,
        size=size,
        **kw,
    )


def last_price(client, sim) -> Decimal:
    bars = client.retrieve_bars(
        sim.contract_id(),
        start=DEFAULT_START - timedelta(minutes=5),
        end=DEFAULT_START,
        unit=BarUnit.MINUTE,
    )
    return bars[-1].close_price


# ----------------------------------------------------------------------------- health, auth


def test_ping_answers_pong(client):
    assert client.ping() is True


def test_login_and_account_search_return_the_demo_account(client, sim):
    accounts = client.search_accounts()

    assert [a.id for a in accounts] == [sim.account_id]
    assert accounts[0].balance_usd == Decimal(50000)
    assert accounts[0].can_trade is True
    assert client.token_expires_at > datetime.now(UTC) + timedelta(hours=23)


def test_wrong_api_key_is_authentication_failed_with_the_code(make_client, sim):
    client = make_client(credentials=Credentials(sim.username, "wrong-key"))

    with pytest.raises(AuthenticationFailed) as failed:
        client.search_accounts()

    assert failed.value.error_code == 3  # InvalidCredentials
    assert "wrong-key" not in str(failed.value)


def test_logout_ends_the_session_and_the_next_call_logs_in_again(client, metrics):
    client.search_accounts()
    first = client.token()

    client.logout()
    client.search_accounts()

    assert client.token() != first
    assert metrics.snapshot()["Auth/loginKey"].ok == 2
    assert metrics.snapshot()["Auth/logout"].ok == 1


# --------------------------------------------------------------------------------- contracts


def test_contract_search_by_id_and_available(client, sim):
    front = sim.contract_id()

    found = client.search_contracts("EP")
    by_id = client.contract_by_id(front)
    available = client.available_contracts()

    assert front in [c.id for c in found]
    assert by_id.id == front
    assert by_id.tick_size == Decimal("0.25")
    assert by_id.tick_value_usd == Decimal("12.50")
    assert by_id.symbol_id == "F.US.EP"
    nq = next(c for c in available if c.symbol_id == "F.US.ENQ")
    assert nq.tick_value_usd == Decimal(5)


def test_unknown_contract_is_contract_not_found(client):
    with pytest.raises(BrokerRejected) as rejected:
        client.contract_by_id("CON.F.US.NOPE.Z25")

    assert rejected.value.error_code == 1
    assert rejected.value.error_name == "ContractNotFound"


# ------------------------------------------------------------------------------------ bars


def test_bars_come_back_ascending_and_paging_matches_one_call(client, sim, metrics):
    start, end = DEFAULT_START - timedelta(hours=2), DEFAULT_START

    whole = client.retrieve_bars(sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE)
    calls_before = metrics.snapshot()["History/retrieveBars"].calls
    paged = client.retrieve_bars(
        sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE, page_size=7
    )

    assert len(whole) == 120
    assert [b.opened_at for b in whole] == sorted({b.opened_at for b in whole})
    assert whole[0].opened_at >= start
    assert whole[-1].opened_at <= end
    assert paged == whole
    assert (
        metrics.snapshot()["History/retrieveBars"].calls - calls_before == 18
    )  # ceil(120 / 7) pages
    assert all(b.low_price <= b.open_price <= b.high_price for b in whole)


def test_five_minute_bars_and_bar_errors(client, sim):
    start, end = DEFAULT_START - timedelta(hours=1), DEFAULT_START

    five = client.retrieve_bars(
        sim.contract_id(), start=start, end=end, unit=BarUnit.MINUTE, unit_number=5
    )

    assert len(five) == 12
    assert all(b.opened_at.minute % 5 == 0 for b in five)
    with pytest.raises(BrokerRejected) as unit_invalid:
        client.retrieve_bars(sim.contract_id(), start=start, end=end, unit=BarUnit.UNSPECIFIED)
    assert unit_invalid.value.error_name == "UnitInvalid"
    with pytest.raises(BrokerRejected) as not_found:
        client.retrieve_bars("CON.F.US.NOPE.Z25", start=start, end=end, unit=BarUnit.MINUTE)
    assert not_found.value.error_name == "ContractNotFound"
    with pytest.raises(InvalidRequest, match="after end"):
        client.retrieve_bars(sim.contract_id(), start=end, end=start, unit=BarUnit.MINUTE)


# ---------------------------------------------------------------------------------- orders


def test_limit_order_place_search_modify_cancel_round_trip(client, sim):
    price = last_price(client, sim) - Decimal(50)
    placed = client.place_order(limit_buy(sim, price, custom_tag="round-trip-1"))

    open_orders = client.search_open_orders(sim.account_id)
    client.modify_order(
        ModifyOrderRequest(sim.account_id, placed.order_id, limit_price=price - Decimal("0.25"))
    )
    modified = client.order_by_id(sim.account_id, placed.order_id)
    client.cancel_order(sim.account_id, placed.order_id)
    cancelled = client.order_by_id(sim.account_id, placed.order_id)
    history = client.search_orders(sim.account_id, start=EPOCH)

    assert placed.custom_tag == "round-trip-1"
    assert placed.recovered is False
    assert [o.id for o in open_orders] == [placed.order_id]
    assert open_orders[0].status is OrderStatus.OPEN
    assert open_orders[0].limit_price == price
    assert modified.limit_price == price - Decimal("0.25")
    assert cancelled.status is OrderStatus.CANCELLED
    assert client.search_open_orders(sim.account_id) == []
    assert [(o.id, o.custom_tag) for o in history] == [(placed.order_id, "round-trip-1")]


def test_place_generates_a_custom_tag_when_none_is_given(client, sim):
    placed = client.place_order(limit_buy(sim, last_price(client, sim) - Decimal(40)))

    assert placed.custom_tag.startswith("px-")
    assert client.order_by_id(sim.account_id, placed.order_id).custom_tag == placed.custom_tag


def test_place_rejections_carry_the_code_name(client, sim):
    price = last_price(client, sim) - Decimal(50)
    client.place_order(limit_buy(sim, price, custom_tag="dup"))

    with pytest.raises(BrokerRejected) as duplicate:
        client.place_order(limit_buy(sim, price, custom_tag="dup"))
    with pytest.raises(BrokerRejected) as off_tick:
        client.place_order(limit_buy(sim, price + Decimal("0.1")))
    with pytest.raises(BrokerRejected) as no_account:
        client.place_order(
            PlaceOrderRequest(999, sim.contract_id(), OrderType.MARKET, OrderSide.BID, 1)
        )
    with pytest.raises(BrokerRejected) as no_contract:
        client.place_order(
            PlaceOrderRequest(
                sim.account_id, "CON.F.US.NOPE.Z25", OrderType.MARKET, OrderSide.BID, 1
            )
        )

    assert duplicate.value.error_name == "OrderRejected"
    assert off_tick.value.error_name == "OrderRejected"
    assert no_account.value.error_name == "AccountNotFound"
    assert no_contract.value.error_name == "ContractNotFound"
    assert len(client.search_orders(sim.account_id, start=EPOCH)) == 1


def test_order_lookups_and_mutations_of_unknown_orders_are_rejected(client, sim):
    with pytest.raises(BrokerRejected) as by_id:
        client.order_by_id(sim.account_id, 123456789)
    with pytest.raises(BrokerRejected) as cancel:
        client.cancel_order(sim.account_id, 123456789)
    with pytest.raises(BrokerRejected) as modify:
        client.modify_order(ModifyOrderRequest(sim.account_id, 123456789, size=2))
    with pytest.raises(BrokerRejected) as search:
        client.search_orders(999, start=EPOCH)
    with pytest.raises(BrokerRejected) as search_open:
        client.search_open_orders(999)

    assert by_id.value.error_name == "OrderNotFound"
    assert cancel.value.error_name == "OrderNotFound"
    assert modify.value.error_name == "OrderNotFound"
    assert search.value.error_name == "AccountNotFound"
    assert search_open.value.error_name == "AccountNotFound"


def test_a_body_the_gateway_cannot_bind_is_http_400_rejected(client, sim):
    with pytest.raises(BrokerRejected) as rejected:
        client.order_by_id(sim.account_id, "not-a-number")  # type: ignore[arg-type]

    assert rejected.value.error_code == -400
    assert rejected.value.error_name == "Http400"


# ------------------------------------------------------------------ brackets, positions, trades


def test_bracket_entry_fills_and_children_work_with_signed_ticks(client, sim):
    placed = client.place_order(
        market(
            sim,
            OrderSide.BID,
            stop_loss=Bracket(8, OrderType.STOP),
            take_profit=Bracket(12, OrderType.LIMIT),
        )
    )
    sim.step(1)

    entry = client.order_by_id(sim.account_id, placed.order_id)
    children = client.search_open_orders(sim.account_id)
    positions = client.search_open_positions(sim.account_id)

    assert entry.is_filled
    stop = next(o for o in children if o.type is OrderType.STOP)
    target = next(o for o in children if o.type is OrderType.LIMIT)
    assert stop.stop_price == entry.filled_price - 8 * Decimal("0.25")
    assert target.limit_price == entry.filled_price + 12 * Decimal("0.25")
    assert stop.side is OrderSide.ASK
    assert [(p.type, p.size, p.average_price) for p in positions] == [
        (PositionType.LONG, 1, entry.filled_price)
    ]


def test_close_position_flattens_and_trades_record_both_halves(client, sim):
    client.place_order(market(sim, OrderSide.ASK, size=2))
    sim.step(1)

    client.close_position(sim.account_id, sim.contract_id())
    sim.step(1)
    trades = client.search_trades(sim.account_id, start=EPOCH)

    assert client.search_open_positions(sim.account_id) == []
    assert len(trades) == 2
    opening, closing = sorted(trades, key=lambda t: t.id)
    assert opening.profit_and_loss_usd is None
    assert closing.profit_and_loss_usd is not None
    assert closing.side is OrderSide.BID
    assert opening.fees_usd == Decimal("2.80")  # 1.40 per contract per side
    assert not opening.voided


def test_partial_close_reduces_the_position_and_bad_sizes_are_rejected(client, sim):
    client.place_order(market(sim, OrderSide.BID, size=3))
    sim.step(1)

    client.partial_close_position(sim.account_id, sim.contract_id(), 1)
    sim.step(1)
    with pytest.raises(BrokerRejected) as too_big:
        client.partial_close_position(sim.account_id, sim.contract_id(), 5)

    assert [p.size for p in client.search_open_positions(sim.account_id)] == [2]
    assert too_big.value.error_name == "InvalidCloseSize"
    with pytest.raises(InvalidRequest, match="size must be a positive int"):
        client.partial_close_position(sim.account_id, sim.contract_id(), 0)


def test_position_errors_name_the_code(client, sim):
    with pytest.raises(BrokerRejected) as none_open:
        client.close_position(sim.account_id, sim.contract_id())
    with pytest.raises(BrokerRejected) as wrong_account:
        client.search_open_positions(999)
    with pytest.raises(BrokerRejected) as trades:
        client.search_trades(999, start=EPOCH)

    assert none_open.value.error_name == "PositionNotFound"
    assert wrong_account.value.error_name == "AccountNotFound"
    assert trades.value.error_name == "AccountNotFound"


def test_order_query_filters_by_status_and_pages(client, sim):
    price = last_price(client, sim) - Decimal(50)
    first = client.place_order(limit_buy(sim, price, custom_tag="q1"))
    second = client.place_order(limit_buy(sim, price, custom_tag="q2"))
    client.cancel_order(sim.account_id, first.order_id)

    cancelled, cancelled_total = client.query_orders(
        sim.account_id, statuses=[OrderStatus.CANCELLED]
    )
    page, total = client.query_orders(sim.account_id, page_size=1, newest_first=True)

    assert [o.id for o in cancelled] == [first.order_id]
    assert cancelled_total == 1
    assert [o.id for o in page] == [second.order_id]
    assert total == 2
