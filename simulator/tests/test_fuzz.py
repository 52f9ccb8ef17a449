"""Whatever a client sends, the server answers with a documented status and stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.testing import SimulatorHandle, running_simulator
from simulator.tests.conftest import login

PATHS = [
    "/Auth/loginKey",
    "/Auth/validate",
    "/Account/search",
    "/Contract/search",
    "/Contract/searchById",
    "/Contract/available",
    "/History/retrieveBars",
    "/Order/place",
    "/Order/cancel",
    "/Order/modify",
    "/Order/search",
    "/Order/searchOpen",
    "/Order/searchById",
    "/Order/v2/query",
    "/Position/searchOpen",
    "/Position/closeContract",
    "/Position/partialCloseContract",
    "/Trade/search",
]
FIELDS = [
    "accountId",
    "contractId",
    "type",
    "side",
    "size",
    "limitPrice",
    "stopPrice",
    "trailPrice",
    "customTag",
    "stopLossBracket",
    "takeProfitBracket",
    "orderId",
    "startTimestamp",
    "endTimestamp",
    "startTime",
    "endTime",
    "unit",
    "unitNumber",
    "limit",
    "filter",
    "statuses",
    "pageSize",
    "searchText",
    "userName",
    "apiKey",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["CON.F.US.EP.H25", "2025-03-03T14:00:00Z", "", "NaN"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from([*FIELDS, "ticks", "type"]), inner, max_size=3),
    ),
    max_leaves=6,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


@pytest.fixture(scope="module")
def fuzz_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "s.db"
    with running_simulator(path, general_rate=(100_000, 60), bars_rate=(100_000, 30)) as sim:
        yield sim


@pytest.fixture(scope="module")
def fuzz_api(fuzz_sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with login(fuzz_sim) as api:  # one client: building an httpx client costs ~20 ms
        yield api


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), body=bodies, account=st.booleans())
def test_random_bodies_never_crash_the_server(
    fuzz_sim: SimulatorHandle, fuzz_api: httpx.Client, path: str, body: dict, account: bool
) -> None:
    if account:
        body = {**body, "accountId": fuzz_sim.account_id}
    api = fuzz_api
    response = api.post(
        path, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
    payload = response.json()
    if response.status_code == 200 and path != "/Auth/validate":
        assert payload["success"] == (payload["errorCode"] == 0)
    fuzz_sim.step(1)  # and the clock keeps working with whatever was accepted
    assert api.post("/Account/search", json={}).status_code == 200


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_random_bytes_get_400_or_an_envelope(
    fuzz_sim: SimulatorHandle, fuzz_api: httpx.Client, raw: bytes
) -> None:
    response = fuzz_api.post(
        "/Order/place", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 400)
    assert fuzz_api.get("/Status/ping").text == "pong"
