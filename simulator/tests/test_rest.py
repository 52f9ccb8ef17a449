"""Every REST endpoint over real HTTP: success shapes and each documented error code."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from simulator import tokens
from simulator.testing import SimulatorHandle
from simulator.tests.conftest import login


def _json(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def test_login_key_returns_a_jwt_with_24h_expiry(sim: SimulatorHandle) -> None:
    body = _json(
        httpx.post(
            f"{sim.base_url}/Auth/loginKey", json={"userName": "demo", "apiKey": "demo-api-key"}
        )
    )
    assert body["success"] is True
    assert body["errorCode"] == 0
    assert body["errorMessage"] is None
    claims = tokens.decode(sim.server.engine.secret, body["token"], now=0)
    assert claims.expires_at - claims.issued_at == 24 * 3600
    assert body["token"].count(".") == 2


@pytest.mark.parametrize(
    ("user", "key", "code"), [("nobody", "x", 1), ("demo", "wrong", 3), ("demo", None, 3)]
)
def test_login_key_failures_use_the_login_error_codes(
    sim: SimulatorHandle, user: str, key: str | None, code: int
) -> None:
    body = _json(
        httpx.post(f"{sim.base_url}/auth/loginkey", json={"userName": user, "apiKey": key})
    )
    assert (body["success"], body["errorCode"], body["token"]) == (False, code, None)
    assert body["errorMessage"]


def test_login_app_is_app_not_found(sim: SimulatorHandle) -> None:
    body = _json(
        httpx.post(
            f"{sim.base_url}/Auth/loginApp",
            json={
                "userName": "demo",
                "password": "x",
                "deviceId": "d",
                "appId": "a",
                "verifyKey": "v",
            },
        )
    )
    assert (body["success"], body["errorCode"]) == (False, 4)


def test_validate_returns_a_new_token_and_logout_revokes(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    body = _json(api.post("/Auth/validate"))
    assert body["success"] is True
    assert body["newToken"].count(".") == 2
    assert _json(api.post("/Auth/logout"))["success"] is True
    assert api.post("/Account/search", json={"onlyActiveAccounts": True}).status_code == 401
    assert _json(api.post("/Auth/validate"))["errorCode"] == 2  # SessionNotFound


def test_validate_of_an_expired_token_is_error_code_3(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    sim.set_faults(expire_tokens=True)
    body = _json(api.post("/Auth/validate"))
    assert (body["success"], body["errorCode"], body["newToken"]) == (False, 3, None)


@pytest.mark.parametrize("header", [None, "Bearer garbage", "Bearer a.b.c", "Basic xyz"])
def test_missing_or_invalid_token_is_401(sim: SimulatorHandle, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.post(f"{sim.base_url}/Account/search", json={}, headers=headers)
    assert response.status_code == 401


def test_ping_is_pong(sim: SimulatorHandle) -> None:
    response = httpx.get(f"{sim.base_url}/Status/ping")
    assert (response.status_code, response.text) == (200, "pong")


def test_account_search_lists_the_demo_account(sim: SimulatorHandle, api: httpx.Client) -> None:
    body = _json(api.post("/Account/search", json={"onlyActiveAccounts": True}))
    assert body["accounts"] == [
        {
            "id": sim.account_id,
            "name": f"PRAC-V2-demo-{sim.account_id}",
            "balance": Decimal("50000.000000000"),
            "canTrade": True,
            "isVisible": True,
            "simulated": True,
        }
    ]
    assert '"balance":50000.000000000' in api.post("/account/SEARCH", json={}).text


def test_contract_search_and_available_use_front_month_ids(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    found = _json(api.post("/Contract/search", json={"searchText": "NQ", "live": False}))
    ids = [c["id"] for c in found["contracts"]]
    assert ids == ["CON.F.US.ENQ.H25", "CON.F.US.MNQ.H25"]  # the clock starts 2025-03-03
    enq = found["contracts"][0]
    assert enq == {
        "id": "CON.F.US.ENQ.H25",
        "name": "ENQH25",
        "description": "E-Mini NASDAQ 100",
        "tickSize": Decimal("0.250000000"),
        "tickValue": Decimal("5.000000000"),
        "activeContract": True,
        "symbolId": "F.US.ENQ",
    }
    available = _json(api.post("/Contract/available", json={"live": False}))["contracts"]
    assert {c["symbolId"] for c in available} == {
        "F.US.EP",
        "F.US.MES",
        "F.US.ENQ",
        "F.US.MNQ",
        "F.US.RTY",
        "F.US.YM",
        "F.US.CLE",
        "F.US.GCE",
    }
    cl = next(c for c in available if c["symbolId"] == "F.US.CLE")
    assert (cl["id"], cl["tickSize"], cl["tickValue"]) == (
        "CON.F.US.CLE.J25",
        Decimal("0.010000000"),
        Decimal("10.000000000"),
    )


def test_contract_search_by_id_returns_one_object_or_code_1(api: httpx.Client) -> None:
    body = _json(api.post("/Contract/searchById", json={"contractId": "CON.F.US.EP.H25"}))
    assert body["contract"]["id"] == "CON.F.US.EP.H25"
    assert body["contract"]["tickValue"] == Decimal("12.5")
    missing = _json(api.post("/Contract/searchById", json={"contractId": "CON.F.US.XX.H25"}))
    assert (missing["success"], missing["errorCode"], missing["contract"]) == (False, 1, None)


def _bars_request(**overrides: object) -> dict:
    body = {
        "contractId": "CON.F.US.EP.H25",
        "live": False,
        "startTime": "2025-03-03T13:00:00Z",
        "endTime": "2025-03-03T15:00:00Z",
        "unit": 2,
        "unitNumber": 1,
        "limit": 1000,
        "includePartialBar": False,
    }
    return {**body, **overrides}


def test_retrieve_bars_newest_first_up_to_the_clock(api: httpx.Client) -> None:
    bars = _json(api.post("/History/retrieveBars", json=_bars_request()))["bars"]
    assert len(bars) == 90  # 13:00 .. 14:29; the clock is at 14:30
    assert bars[0]["t"] == "2025-03-03T14:29:00+00:00" or bars[0]["t"].startswith(
        "2025-03-03T14:29:00"
    )
    times = [b["t"] for b in bars]
    assert times == sorted(times, reverse=True)
    assert set(bars[0]) == {"t", "o", "h", "l", "c", "v"}


def test_retrieve_bars_aggregates_minutes_into_hours(api: httpx.Client) -> None:
    minutes = _json(api.post("/History/retrieveBars", json=_bars_request()))["bars"]
    hours = _json(api.post("/History/retrieveBars", json=_bars_request(unit=3)))["bars"]
    thirteen = [b for b in minutes if b["t"].startswith("2025-03-03T13")]
    assert hours[-1]["t"].startswith("2025-03-03T13:00:00")
    assert hours[-1]["o"] == thirteen[-1]["o"]
    assert hours[-1]["c"] == thirteen[0]["c"]
    assert hours[-1]["h"] == max(b["h"] for b in thirteen)
    assert hours[-1]["v"] == sum(b["v"] for b in thirteen)
    assert len(hours) == 1  # 14:00 hour still forming: excluded without includePartialBar
    partial = _json(
        api.post("/History/retrieveBars", json=_bars_request(unit=3, includePartialBar=True))
    )["bars"]
    assert len(partial) == 2


def test_retrieve_bars_limit_keeps_the_most_recent_and_accepts_any_case_and_offsets(
    api: httpx.Client,
) -> None:
    body = {
        "CONTRACTID": "CON.F.US.EP.H25",
        "starttimestamp": "x",
        "StartTime": "2025-03-03T08:00:00-05:00",
        "endTime": "2025-03-03T14:30:00.1234567Z",
        "unit": 2,
        "unitNumber": 5,
        "limit": 3,
    }
    bars = _json(api.post("/History/retrieveBars", json=body))["bars"]
    assert [b["t"][:19] for b in bars] == [
        "2025-03-03T14:25:00",
        "2025-03-03T14:20:00",
        "2025-03-03T14:15:00",
    ]


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"contractId": "CON.F.US.NOPE.H25"}, 1),
        ({"unit": 9}, 2),
        ({"unit": 0}, 2),
        ({"unitNumber": 0}, 3),
        ({"limit": 20_001}, 4),
        ({"limit": 0}, 4),
    ],
)
def test_retrieve_bars_error_codes(api: httpx.Client, override: dict, code: int) -> None:
    body = _json(api.post("/History/retrieveBars", json=_bars_request(**override)))
    assert (body["success"], body["errorCode"]) == (False, code)


def _place(api: httpx.Client, sim: SimulatorHandle, **fields: object) -> dict:
    body = {
        "accountId": sim.account_id,
        "contractId": sim.contract_id("EP"),
        "type": 2,
        "side": 0,
        "size": 1,
        **fields,
    }
    return _json(api.post("/Order/place", json=body))


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"accountId": 1}, 1, "Account not found"),
        ({"contractId": "CON.F.US.ZZZ.H25"}, 8, "Contract not found"),
        ({"size": 0}, 2, "Invalid order size"),
        ({"type": 3}, 2, "Invalid order type"),
        ({"side": 2}, 2, "Invalid order side"),
        ({"type": 1}, 2, "requires limitPrice"),
        ({"type": 1, "limitPrice": 5000.1}, 2, "tick size"),
        ({"type": 4}, 2, "requires stopPrice"),
        ({"stopLossBracket": {"ticks": 10, "type": 4}}, 2, "less than zero when longing"),
        (
            {"side": 1, "takeProfitBracket": {"ticks": 10, "type": 1}},
            2,
            "less than zero when shorting",
        ),
        ({"stopLossBracket": {"ticks": -1001, "type": 4}}, 2, "at most 1000"),
        ({"takeProfitBracket": {"ticks": 8, "type": 4}}, 2, "Invalid takeProfitBracket type"),
    ],
)
def test_order_place_rejections(
    sim: SimulatorHandle, api: httpx.Client, fields: dict, code: int, words: str
) -> None:
    body = _place(api, sim, **fields)
    assert (body["success"], body["errorCode"], body["orderId"]) == (False, code, None)
    assert words in body["errorMessage"]


def test_duplicate_custom_tag_is_rejected_with_code_2(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    first = _place(api, sim, type=1, limitPrice=4000, customTag="entry-1")
    second = _place(api, sim, type=1, limitPrice=4000, customTag="entry-1")
    assert first["success"] is True
    assert (second["success"], second["errorCode"]) == (False, 2)
    assert "customTag" in second["errorMessage"]
    assert "unique" in second["errorMessage"]


def test_order_lifecycle_search_modify_cancel(sim: SimulatorHandle, api: httpx.Client) -> None:
    acc = sim.account_id
    order_id = _place(api, sim, type=1, limitPrice=4000.25, customTag="t1")["orderId"]
    found = _json(api.post("/Order/searchById", json={"accountId": acc, "orderId": order_id}))
    assert found["order"]["limitPrice"] == Decimal("4000.250000000")
    assert (found["order"]["status"], found["order"]["customTag"]) == (1, "t1")
    assert found["order"]["creationTimestamp"] == "2025-03-03T14:30:00.000000+00:00"
    assert _json(
        api.post(
            "/Order/modify",
            json={"accountId": acc, "orderId": order_id, "limitPrice": 4001, "size": 2},
        )
    )["success"]
    opened = _json(api.post("/Order/searchOpen", json={"accountId": acc}))["orders"]
    assert [(o["id"], o["size"], o["limitPrice"]) for o in opened] == [
        (order_id, 2, Decimal("4001.000000000"))
    ]
    assert _json(api.post("/Order/cancel", json={"accountId": acc, "orderId": order_id}))["success"]
    again = _json(api.post("/Order/cancel", json={"accountId": acc, "orderId": order_id}))
    assert (again["success"], again["errorCode"]) == (False, 3)
    assert _json(api.post("/Order/searchOpen", json={"accountId": acc}))["orders"] == []
    history = _json(
        api.post("/Order/search", json={"accountId": acc, "startTimestamp": "2025-03-03T00:00:00Z"})
    )
    assert [o["status"] for o in history["orders"]] == [3]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/Order/cancel", {"orderId": 1}, 2),
        ("/Order/modify", {"orderId": 1}, 2),
        ("/Order/searchById", {"orderId": 1}, 1),
    ],
)
def test_unknown_order_ids(
    sim: SimulatorHandle, api: httpx.Client, path: str, body: dict, code: int
) -> None:
    reply = _json(api.post(path, json={"accountId": sim.account_id, **body}))
    assert (reply["success"], reply["errorCode"]) == (False, code)


@pytest.mark.parametrize(
    "path",
    [
        "/Order/search",
        "/Order/searchOpen",
        "/Position/searchOpen",
        "/Trade/search",
        "/Order/cancel",
        "/Order/modify",
        "/Position/closeContract",
        "/Position/partialCloseContract",
    ],
)
def test_someone_elses_account_is_account_not_found(api: httpx.Client, path: str) -> None:
    body = {
        "accountId": 999,
        "orderId": 1,
        "contractId": "CON.F.US.EP.H25",
        "size": 1,
        "startTimestamp": "2025-01-01T00:00:00Z",
    }
    reply = _json(api.post(path, json=body))
    assert (reply["success"], reply["errorCode"]) == (False, 1)


def test_order_v2_query_filters_sorts_and_counts(sim: SimulatorHandle, api: httpx.Client) -> None:
    ids = [_place(api, sim, type=1, limitPrice=4000 + i)["orderId"] for i in range(3)]
    api.post("/Order/cancel", json={"accountId": sim.account_id, "orderId": ids[1]})
    body = _json(
        api.post(
            "/Order/v2/query",
            json={
                "filter": {"accountId": sim.account_id, "statuses": [1]},
                "sortBy": 1,
                "sortDirection": 1,
                "pageSize": 1,
                "includeTotalCount": True,
            },
        )
    )
    assert [o["id"] for o in body["orders"]] == [ids[2]]
    assert body["totalCount"] == 2


def test_positions_close_and_partial_close(sim: SimulatorHandle, api: httpx.Client) -> None:
    acc, cid = sim.account_id, sim.contract_id("EP")
    none = _json(api.post("/Position/closeContract", json={"accountId": acc, "contractId": cid}))
    assert (none["success"], none["errorCode"]) == (False, 2)
    _place(api, sim, size=3)
    sim.step(1)
    position = _json(api.post("/Position/searchOpen", json={"accountId": acc}))["positions"][0]
    assert (position["type"], position["size"], position["contractId"]) == (1, 3, cid)
    bad = _json(
        api.post(
            "/Position/partialCloseContract", json={"accountId": acc, "contractId": cid, "size": 3}
        )
    )
    assert (bad["success"], bad["errorCode"]) == (False, 5)
    assert _json(
        api.post(
            "/Position/partialCloseContract", json={"accountId": acc, "contractId": cid, "size": 1}
        )
    )["success"]
    sim.step(1)
    assert (
        _json(api.post("/Position/searchOpen", json={"accountId": acc}))["positions"][0]["size"]
        == 2
    )
    unknown = _json(
        api.post(
            "/Position/closeContract", json={"accountId": acc, "contractId": "CON.F.US.ZZ.H25"}
        )
    )
    assert (unknown["success"], unknown["errorCode"]) == (False, 3)
    assert _json(api.post("/Position/closeContract", json={"accountId": acc, "contractId": cid}))[
        "success"
    ]
    sim.step(1)
    assert _json(api.post("/Position/searchOpen", json={"accountId": acc}))["positions"] == []
    trades = _json(
        api.post("/Trade/search", json={"accountId": acc, "startTimestamp": "2025-03-03T00:00:00Z"})
    )
    assert [(t["size"], t["side"], t["profitAndLoss"] is None) for t in trades["trades"]] == [
        (3, 0, True),
        (1, 1, False),
        (2, 1, False),
    ]


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b"", b"\xff\xfe", b"null"])
def test_malformed_bodies_get_400_problem_details(api: httpx.Client, body: bytes) -> None:
    response = api.post("/Order/place", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    problem = response.json()
    assert problem["status"] == 400
    assert problem["title"] == "One or more validation errors occurred."
    assert isinstance(problem["errors"], dict)


@pytest.mark.parametrize(
    "fields",
    [
        {"accountId": "abc"},
        {"accountId": True},
        {"size": 1.5},
        {"limitPrice": "x", "type": 1},
        {"stopLossBracket": 5},
        {"customTag": {"a": 1}},
    ],
)
def test_wrongly_typed_fields_get_400_naming_the_field(
    sim: SimulatorHandle, api: httpx.Client, fields: dict
) -> None:
    body = {
        "accountId": sim.account_id,
        "contractId": "CON.F.US.EP.H25",
        "type": 2,
        "side": 0,
        "size": 1,
        **fields,
    }
    response = api.post("/Order/place", json=body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [next(iter(fields))]


def test_unknown_path_is_404_and_get_is_405(api: httpx.Client) -> None:
    assert api.post("/Nope/nothing", json={}).status_code == 404
    assert api.get("/Account/search").status_code == 405


def test_a_second_user_sees_only_their_accounts(sim: SimulatorHandle, api: httpx.Client) -> None:
    other = sim.control("POST", "/users", {"name": "alice", "apiKey": "k"})
    assert other["id"] != sim.account_id
    sim.username, sim.api_key = "alice", "k"
    with login(sim) as alice:
        accounts = _json(alice.post("/Account/search", json={"onlyActiveAccounts": True}))
    assert [a["id"] for a in accounts["accounts"]] == [other["id"]]
    reply = _json(api.post("/Order/searchOpen", json={"accountId": other["id"]}))
    assert reply["errorCode"] == 1


def test_an_account_without_funds_cannot_place_orders(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    broke = sim.control("POST", "/accounts", {"user": "demo", "balance": 0})
    assert broke["balance"] == 0
    body = _place(api, sim, accountId=broke["id"])
    assert (body["success"], body["errorCode"]) == (False, 3)
    listed = _json(api.post("/Account/search", json={"onlyActiveAccounts": True}))["accounts"]
    assert [a["id"] for a in listed] == [sim.account_id, broke["id"]]
