"""The market switches (POST /_sim/market, runsimulator --roll-date/--freeze-market/--partial-quotes):
the roll date moves the front month, an expired month loses its minute history, and bad input is
refused with a clear error and changes nothing. (The feed freeze and partial quotes are proven
through the platform's hub client: execution/tests/gateway/test_market_feed.py.)"""

import httpx
import pytest

from simulator.management.commands.runsimulator import Command
from simulator.testing import SimulatorHandle
from simulator.tests.test_rest import _bars_request, _json

H25, M25 = "CON.F.US.EP.H25", "CON.F.US.EP.M25"


def active_ep(api: httpx.Client) -> list[str]:
    contracts = _json(api.post("/Contract/search", json={"searchText": "EP", "live": False}))
    return [c["id"] for c in contracts["contracts"] if c["id"].startswith("CON.F.US.EP.")]


def minute_and_hour_bars(api: httpx.Client, contract_id: str) -> tuple[int, int]:
    minutes = _json(api.post("/History/retrieveBars", json=_bars_request(contractId=contract_id)))
    hours = _json(
        api.post("/History/retrieveBars", json=_bars_request(contractId=contract_id, unit=3))
    )
    return len(minutes["bars"]), len(hours["bars"])


def test_the_roll_date_switch_moves_the_front_month_and_expires_the_old_ones_minutes(
    sim: SimulatorHandle, api: httpx.Client
):
    # 2025-03-03: by the calendar rule H25 is the front month until its roll on 2025-03-13
    assert active_ep(api) == [H25]
    assert minute_and_hour_bars(api, H25)[0] > 0

    switches = sim.control("POST", "/market", {"roll_on": "2025-02-20"})
    assert switches["rollOn"] == "2025-02-20"
    assert active_ep(api) == [M25]  # rolled on 2025-02-20...
    minutes, hours = minute_and_hour_bars(api, H25)
    assert minutes == 0  # ...expired 8 days later: only coarse history is left
    assert hours == minute_and_hour_bars(api, M25)[1] > 0
    assert minute_and_hour_bars(api, M25)[0] > 0
    by_id = _json(api.post("/Contract/searchById", json={"contractId": H25}))["contract"]
    assert by_id["activeContract"] is False

    sim.control("POST", "/market", {"roll_on": "2025-03-20"})  # a late roll: H25 stays
    assert active_ep(api) == [H25]
    assert sim.control("POST", "/market", {"roll_on": None})["rollOn"] is None
    assert active_ep(api) == [H25]
    assert minute_and_hour_bars(api, H25)[0] > 0


def test_a_bad_switch_value_is_refused_and_changes_nothing(sim: SimulatorHandle):
    reply = httpx.post(
        f"{sim.root_url}/_sim/market", json={"roll_on": "March"}, headers=sim.control_headers
    )
    assert reply.status_code == 400
    assert "March" in reply.json()["error"]
    assert sim.control("GET", "/market")["rollOn"] is None


def test_runsimulator_options_build_the_switches():
    parser = Command().create_parser("manage.py", "runsimulator")
    opts = vars(
        parser.parse_args(
            [
                "--roll-date",
                "2026-03-12",
                "--freeze-market",
                "300:CON.F.US.EP.H26",
                "--partial-quotes",
            ]
        )
    )
    config = Command()._config(opts)
    assert config.roll_on.isoformat() == "2026-03-12"
    assert config.freeze_market_seconds == 300
    assert config.freeze_contracts == ["CON.F.US.EP.H26"]
    assert config.partial_quotes is True
    opts = vars(parser.parse_args(["--roll-date", "12/03/2026"]))
    with pytest.raises(ValueError, match="--roll-date"):
        Command()._config(opts)
