"""Parsers on gateway-shaped JSON (reference doc §3, §6.3) and request validation."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.gateway.errors import InvalidRequest, MalformedResponse
from execution.gateway.types import (
    Account,
    Bar,
    Bracket,
    Contract,
    DepthEntry,
    DomType,
    HalfTrade,
    MarketTrade,
    ModifyOrderRequest,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrderRequest,
    Position,
    PositionType,
    Quote,
    TradeLogType,
    decode_json,
    encode_json,
    format_timestamp,
    parse_list,
    parse_timestamp,
)

ORDER_JSON = """{
  "id": 26060, "accountId": 545, "contractId": "CON.F.US.EP.M25", "symbolId": "F.US.EP",
  "creationTimestamp": "2025-04-14T17:49:10.142532+00:00",
  "updateTimestamp": "2025-04-14T17:49:10.142532+00:00",
  "status": 2, "type": 2, "side": 0, "size": 1,
  "limitPrice": null, "stopPrice": null, "filledSize": 1, "filledPrice": 5431.250000000,
  "customTag": "px-abc", "someFutureField": [1, 2]
}"""


def test_order_parses_doc_shape_with_filled_size_alias_and_exact_price():
    order = Order.from_json(decode_json(ORDER_JSON))

    assert order.id == 26060
    assert order.status is OrderStatus.FILLED
    assert order.type is OrderType.MARKET
    assert order.side is OrderSide.BID
    assert order.fill_volume == 1
    assert order.filled_price == Decimal("5431.25")
    assert str(order.filled_price) == "5431.250000000"
    assert order.created_at == datetime(2025, 4, 14, 17, 49, 10, 142532, tzinfo=UTC)
    assert order.limit_price is None
    assert order.custom_tag == "px-abc"
    assert order.is_filled
    assert order.is_terminal
    assert not order.is_working


def test_order_missing_required_field_names_it():
    payload = decode_json(ORDER_JSON)
    del payload["status"]

    with pytest.raises(MalformedResponse, match="Order: missing required field 'status'"):
        Order.from_json(payload)


def test_order_unknown_status_is_malformed_not_guessed():
    payload = {**decode_json(ORDER_JSON), "status": 42}

    with pytest.raises(MalformedResponse, match="'status' = 42 is not a known OrderStatus"):
        Order.from_json(payload)


def test_order_suspended_bracket_child_is_working():
    payload = {**decode_json(ORDER_JSON), "status": 8, "fillVolume": 0, "filledPrice": None}

    order = Order.from_json(payload)

    assert order.status is OrderStatus.SUSPENDED
    assert order.is_working
    assert not order.is_filled


def test_account_contract_bar_position_trade_parse():
    account = Account.from_json(
        decode_json(
            '{"id": 1, "name": "PRAC-V2-1", "balance": 50000.000000000, "canTrade": true,'
            ' "isVisible": true, "simulated": true}'
        )
    )
    contract = Contract.from_json(
        decode_json(
            '{"id": "CON.F.US.ENQ.H25", "name": "NQH5", "description": "E-mini NASDAQ-100",'
            ' "tickSize": 0.250000000, "tickValue": 5.000000000, "activeContract": true,'
            ' "symbolId": "F.US.ENQ"}'
        )
    )
    bar = Bar.from_json(
        decode_json(
            '{"t": "2024-12-20T14:00:00+00:00", "o": 2208.100000000, "h": 2217.0,'
            ' "l": 2206.7, "c": 2210.1, "v": 87}'
        )
    )
    position = Position.from_json(
        decode_json(
            '{"id": 6124, "accountId": 536, "contractId": "CON.F.US.GMET.J25",'
            ' "creationTimestamp": "2025-04-21T19:52:32.175721+00:00", "type": 2, "size": 3,'
            ' "averagePrice": 1575.750000000}'
        )
    )
    trade = HalfTrade.from_json(
        decode_json(
            '{"id": 8604, "accountId": 203, "contractId": "CON.F.US.EP.H25",'
            ' "creationTimestamp": "2025-01-21T16:13:52.523293+00:00", "price": 6065.250000000,'
            ' "profitAndLoss": null, "fees": 1.4000, "side": 1, "size": 1, "voided": false,'
            ' "orderId": 14328}'
        )
    )

    assert account.balance_usd == Decimal(50000)
    assert contract.tick_size == Decimal("0.25")
    assert contract.tick_value_usd == Decimal(5)
    assert contract.symbol_id == "F.US.ENQ"
    assert bar.open_price == Decimal("2208.1")
    assert bar.volume == 87
    assert position.type is PositionType.SHORT
    assert position.signed_size == -3
    assert trade.profit_and_loss_usd is None
    assert trade.fees_usd == Decimal("1.40")
    assert trade.side is OrderSide.ASK


def test_integer_price_becomes_decimal_and_fractional_int_field_is_refused():
    bar = Bar.from_json({"t": "2024-12-20T14:00:00Z", "o": 5000, "h": 5001, "l": 4999, "c": 5000})

    assert bar.open_price == Decimal(5000)
    assert isinstance(bar.open_price, Decimal)
    assert bar.volume == 0
    with pytest.raises(MalformedResponse, match=r"'size' = Decimal\('1.5'\) is not an integer"):
        Order.from_json({**decode_json(ORDER_JSON), "size": Decimal("1.5")})


def test_position_size_zero_from_hub_means_closed_and_needs_no_price():
    position = Position.from_json(
        {
            "id": 1,
            "accountId": 2,
            "contractId": "CON.F.US.EP.Z25",
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "type": 1,
            "size": 0,
        }
    )

    assert position.is_closed
    assert position.average_price == Decimal(0)


def test_null_and_missing_lists_are_empty_but_other_types_are_refused():
    assert parse_list({"orders": None}, "orders", Order.from_json, "Order/search") == []
    assert parse_list({}, "orders", Order.from_json, "Order/search") == []
    with pytest.raises(MalformedResponse, match="field 'orders' is not a list"):
        parse_list({"orders": {}}, "orders", Order.from_json, "Order/search")


def test_market_payloads_parse_with_optional_prices_and_reset_depth():
    quote = Quote.from_json(
        "CON.F.US.EP.Z25",
        decode_json(
            '{"symbol": "F.US.EP", "symbolName": "/ES", "lastPrice": 6000.25, "bestBid": 6000.0,'
            ' "bestAsk": 6000.25, "volume": 12345, "timestamp": "2025-11-03T15:00:00.1234567Z"}'
        ),
    )
    partial = Quote.from_json("CON.F.US.EP.Z25", {"bestBid": Decimal("6000.5")})
    trade = MarketTrade.from_json(
        "CON.F.US.EP.Z25",
        decode_json(
            '{"symbolId": "F.US.EP", "price": 6000.25, "timestamp": "2025-11-03T15:00:00Z",'
            ' "type": 1, "volume": 3}'
        ),
    )
    reset = DepthEntry.from_json("CON.F.US.EP.Z25", {"type": 6, "timestamp": None})

    assert quote.symbol_id == "F.US.EP"
    assert quote.best_ask == Decimal("6000.25")
    assert quote.at == datetime(2025, 11, 3, 15, 0, 0, 123456, tzinfo=UTC)
    assert partial.last_price is None
    assert partial.best_bid == Decimal("6000.5")
    assert trade.side is TradeLogType.SELL
    assert reset.type is DomType.RESET
    assert reset.price is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-12-01T00:00:00Z", datetime(2024, 12, 1, tzinfo=UTC)),
        ("2025-04-21T19:45:52.105808+00:00", datetime(2025, 4, 21, 19, 45, 52, 105808, tzinfo=UTC)),
        (
            "2025-04-21T19:45:52.1058083+00:00",
            datetime(2025, 4, 21, 19, 45, 52, 105808, tzinfo=UTC),
        ),
        ("2026-10-26T00:00:00-05:00", datetime(2026, 10, 26, 5, tzinfo=UTC)),
        ("2025-04-21T19:45:52", datetime(2025, 4, 21, 19, 45, 52, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_every_iso_form_and_returns_aware_utc(text, expected):
    parsed = parse_timestamp(text)

    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_bad_timestamp_names_the_field():
    with pytest.raises(MalformedResponse, match="'creationTimestamp' = 'yesterday'"):
        Order.from_json({**decode_json(ORDER_JSON), "creationTimestamp": "yesterday"})


def test_format_timestamp_refuses_naive_and_writes_utc_z():
    assert format_timestamp(
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-6)))
    ) == ("2026-01-02T09:04:05Z")
    with pytest.raises(InvalidRequest, match="naive datetime"):
        format_timestamp(datetime(2026, 1, 2))


def test_decode_json_refuses_garbage():
    with pytest.raises(MalformedResponse, match="response is not JSON"):
        decode_json(b"<html>")


def test_encode_json_writes_decimals_exactly_and_refuses_floats():
    body = {"limitPrice": Decimal("75.37"), "nested": [Decimal("0.000000001")], "tag": "x"}

    assert encode_json(body) == b'{"limitPrice":75.37,"nested":[0.000000001],"tag":"x"}'
    assert json.loads(encode_json(body), parse_float=Decimal)["limitPrice"] == Decimal("75.37")
    with pytest.raises(InvalidRequest, match="floats are not allowed"):
        encode_json({"limitPrice": 75.37})


def test_encode_json_leaves_user_strings_that_mimic_the_marker_alone():
    tag = "\x00dec:0123456789abcdef:1.5"

    assert json.loads(encode_json({"customTag": tag}))["customTag"] == tag


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=9))
def test_encode_json_round_trips_any_nine_decimal_price(price):
    assert json.loads(encode_json({"p": price}), parse_float=Decimal)["p"] == price


def _place(side, **kw):
    return PlaceOrderRequest(
        account_id=1, contract_id="CON.F.US.EP.Z25", type=OrderType.MARKET, side=side, size=1, **kw
    )


def test_bracket_ticks_are_signed_by_side_as_the_live_gateway_requires():
    sl, tp = Bracket(10, OrderType.STOP), Bracket(20, OrderType.LIMIT)

    long_body = _place(OrderSide.BID, stop_loss=sl, take_profit=tp).to_json()
    short_body = _place(OrderSide.ASK, stop_loss=sl, take_profit=tp).to_json()
    unsigned = _place(OrderSide.BID, stop_loss=sl, take_profit=tp).to_json(
        signed_bracket_ticks=False
    )

    assert long_body["stopLossBracket"] == {"ticks": -10, "type": 4}
    assert long_body["takeProfitBracket"] == {"ticks": 20, "type": 1}
    assert short_body["stopLossBracket"] == {"ticks": 10, "type": 4}
    assert short_body["takeProfitBracket"] == {"ticks": -20, "type": 1}
    assert unsigned["stopLossBracket"]["ticks"] == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": OrderType.LIMIT}, "a LIMIT order needs limit_price"),
        ({"type": OrderType.STOP}, "a STOP order needs stop_price"),
        ({"type": OrderType.TRAILING_STOP}, "a TRAILING_STOP order needs trail_price"),
        ({"limit_price": Decimal(5000)}, "a MARKET order takes no limit_price"),
        ({"type": OrderType.STOP_LIMIT}, "cannot be placed"),
        ({"size": 0}, "size must be a positive int"),
        ({"size": -1}, "size must be a positive int"),
        ({"type": OrderType.LIMIT, "limit_price": 5000.25}, "limit_price must be a Decimal"),
        ({"type": OrderType.LIMIT, "limit_price": Decimal(-1)}, "positive finite price"),
        ({"custom_tag": ""}, "custom_tag must be 1..100"),
    ],
)
def test_place_request_validation_case(kwargs, message):
    base = {
        "account_id": 1,
        "contract_id": "CON.F.US.EP.Z25",
        "type": OrderType.MARKET,
        "side": OrderSide.BID,
        "size": 1,
    }

    with pytest.raises(InvalidRequest, match=message):
        PlaceOrderRequest(**{**base, **kwargs})


@pytest.mark.parametrize("ticks", [0, -5, 1001, True])
def test_bracket_distance_must_be_one_to_a_thousand_ticks(ticks):
    with pytest.raises(InvalidRequest, match="bracket"):
        Bracket(ticks, OrderType.STOP)


def test_place_request_body_is_the_gateway_shape():
    request = PlaceOrderRequest(
        account_id=7,
        contract_id="CON.F.US.EP.Z25",
        type=OrderType.LIMIT,
        side=OrderSide.ASK,
        size=2,
        limit_price=Decimal("6000.25"),
        custom_tag="t1",
    )

    assert encode_json(request.to_json()) == (
        b'{"accountId":7,"contractId":"CON.F.US.EP.Z25","type":1,"side":1,"size":2,'
        b'"limitPrice":6000.25,"customTag":"t1"}'
    )


def test_modify_request_needs_a_change_and_knows_when_it_is_applied():
    with pytest.raises(InvalidRequest, match="a modify must change"):
        ModifyOrderRequest(account_id=1, order_id=2)
    request = ModifyOrderRequest(account_id=1, order_id=2, limit_price=Decimal("6000.5"))
    order = Order.from_json(
        {**decode_json(ORDER_JSON), "status": 1, "limitPrice": Decimal("6000.5")}
    )

    assert request.to_json() == {"accountId": 1, "orderId": 2, "limitPrice": Decimal("6000.5")}
    assert request.is_applied_to(order)
    assert not ModifyOrderRequest(account_id=1, order_id=2, size=3).is_applied_to(order)


@given(
    side=st.sampled_from(list(OrderSide)),
    sl=st.integers(min_value=1, max_value=1000),
    tp=st.integers(min_value=1, max_value=1000),
    size=st.integers(min_value=1, max_value=50),
    price_ticks=st.integers(min_value=1, max_value=4_000_000),
)
def test_place_body_round_trips_exactly_and_brackets_point_away_from_the_entry(
    side, sl, tp, size, price_ticks
):
    price = price_ticks * Decimal("0.25")
    request = PlaceOrderRequest(
        account_id=1,
        contract_id="CON.F.US.EP.Z25",
        type=OrderType.LIMIT,
        side=side,
        size=size,
        limit_price=price,
        stop_loss=Bracket(sl, OrderType.STOP),
        take_profit=Bracket(tp, OrderType.LIMIT),
    )

    body = json.loads(encode_json(request.to_json()), parse_float=Decimal)

    direction = 1 if side is OrderSide.BID else -1  # a long profits when price rises
    assert body["limitPrice"] == price
    assert body["size"] == size
    assert body["stopLossBracket"]["ticks"] == -direction * sl
    assert body["takeProfitBracket"]["ticks"] == direction * tp
