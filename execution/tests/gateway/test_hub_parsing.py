"""Hub payload parsing and log redaction (no network)."""

import logging
from decimal import Decimal

import pytest

from execution.gateway.errors import MalformedResponse
from execution.gateway.hubs import (
    AccountEvent,
    DepthEvent,
    MarketTradeEvent,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    hub_url_with_token,
    parse_market_event,
    parse_user_event,
    redact,
)
from execution.gateway.types import DomType, OrderStatus

ORDER = {
    "id": 9,
    "accountId": 42,
    "contractId": "CON.F.US.EP.Z25",
    "creationTimestamp": "2025-11-03T15:00:00Z",
    "status": 1,
    "type": 2,
    "side": 0,
    "size": 1,
}


def test_user_event_is_unwrapped_from_action_data_or_taken_as_is():
    wrapped = parse_user_event("GatewayUserOrder", [{"action": 1, "data": ORDER}])
    bare = parse_user_event("GatewayUserOrder", [ORDER])
    listed = parse_user_event("GatewayUserOrder", [[ORDER, None, {"action": 0, "data": ORDER}]])

    assert isinstance(wrapped[0], OrderEvent)
    assert wrapped[0].action == 1
    assert wrapped[0].order.status is OrderStatus.OPEN
    assert bare[0].action is None
    assert [e.action for e in listed] == [None, 0]


def test_user_position_and_account_events_parse():
    position = parse_user_event(
        "GatewayUserPosition",
        [
            {
                "id": 1,
                "accountId": 42,
                "contractId": "CON.F.US.EP.Z25",
                "creationTimestamp": "2025-11-03T15:00:00Z",
                "type": 1,
                "size": 0,
                "averagePrice": 0,
            }
        ],
    )[0]
    account = parse_user_event(
        "GatewayUserAccount",
        [{"id": 42, "name": "PRAC", "balance": Decimal("49998.60"), "canTrade": True}],
    )[0]

    assert isinstance(position, PositionEvent)
    assert position.position.is_closed
    assert isinstance(account, AccountEvent)
    assert account.account.balance_usd == Decimal("49998.60")


def test_market_events_take_contract_id_first_and_skip_null_padding():
    quote = parse_market_event("GatewayQuote", ["CON.F.US.EP.Z25", {"bestBid": Decimal(6000)}])
    trades = parse_market_event(
        "GatewayTrade",
        [
            "CON.F.US.EP.Z25",
            [
                {"price": Decimal("6000.25"), "timestamp": "2025-11-03T15:00:00Z", "type": 0},
                None,
            ],
        ],
    )
    depth = parse_market_event(
        "GatewayDepth",
        ["CON.F.US.EP.Z25", [{"type": 6}, {"type": 2, "price": Decimal(6000), "volume": 5}]],
    )

    assert isinstance(quote[0], QuoteEvent)
    assert quote[0].quote.contract_id == "CON.F.US.EP.Z25"
    assert len(trades) == 1
    assert isinstance(trades[0], MarketTradeEvent)
    assert [e.entry.type for e in depth if isinstance(e, DepthEvent)] == [
        DomType.RESET,
        DomType.BID,
    ]


def test_market_event_without_contract_id_is_malformed():
    with pytest.raises(MalformedResponse, match="expected \\(contractId, payload\\)"):
        parse_market_event("GatewayQuote", [{"bestBid": 1}])


def test_token_is_put_in_the_query_and_redacted_from_pysignalr_logs(caplog):
    url = hub_url_with_token("http://127.0.0.1:8700/hubs/user", "eyJ.abc.def")

    with caplog.at_level(logging.INFO, logger="pysignalr.transport"):
        logging.getLogger("pysignalr.transport").info("Performing negotiation, URL: `%s`", url)

    assert url == "http://127.0.0.1:8700/hubs/user?access_token=eyJ.abc.def"
    assert "eyJ.abc.def" not in caplog.text
    assert "127.0.0.1:8700/hubs/user?access_token=" in caplog.text
    assert redact(url) == "http://127.0.0.1:8700/hubs/user?access_token=***"
    assert redact("Authorization: Bearer eyJ.abc.def") == "Authorization: Bearer ***"
