"""`manage.py runsimulator` as a person runs it: a subprocess that prints where it listens."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from simulator.records import CONTROL_AUTH_HEADER
from simulator.testing import market_data_dir

REPO = Path(__file__).resolve().parents[2]
CONTROL_SECRET = "command-test-control-secret"


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.test_settings",
        "SIMULATOR_CONTROL_SECRET": CONTROL_SECRET,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runsimulator",
            "--port",
            "0",
            "--store",
            str(tmp_path / "sim.sqlite3"),
            *args,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C"):
            break
    return proc, lines


MES_FILE = market_data_dir() / "mes_1min_sample_2023-12.csv.gz"


@pytest.mark.skipif(not MES_FILE.is_file(), reason="shared market data not available")
def test_runsimulator_prints_its_urls_replays_a_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, lines = _start(
        tmp_path, "--speed", "stepped", "--user", "alice:alice-key", "--data", str(MES_FILE)
    )
    try:
        banner = "\n".join(lines)
        root = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert root, banner
        url = root.group(1)
        assert f"PROJECTX_SIM_API_URL={url}/api" in banner
        assert f"{url}/hubs/user" in banner
        assert "demo/demo-api-key, alice/alice-key" in banner
        assert httpx.get(f"{url}/api/Status/ping").text == "pong"
        login = httpx.post(
            f"{url}/api/Auth/loginKey", json={"userName": "alice", "apiKey": "alice-key"}
        ).json()
        assert login["success"] is True
        assert "secret required" in banner
        assert CONTROL_SECRET not in banner  # never printed
        assert httpx.get(f"{url}/_sim/state").status_code == 403
        state = httpx.get(f"{url}/_sim/state", headers={CONTROL_AUTH_HEADER: CONTROL_SECRET}).json()
        assert 4000 < state["lastPrices"]["MES"] < 5000  # real Dec-2023 MES levels, shifted
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "simulator stopped" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent/es_1min.csv.gz"], "not found"),
        (["--data", "mystery.csv"], "cannot tell the product"),
        (["--user", "nokey"], "NAME:APIKEY"),
        (["--speed", "fast"], "--speed"),
        (["--bars-rate", "lots"], "invalid literal"),
        (["--history-sessions", "0"], "--history-sessions must be at least 1"),
        (["--market", "weekdays"], "invalid choice: 'weekdays'"),
        (["--bars-cap", "20001"], "--bars-cap must be 1..20000"),
        (["--token-ttl", "0"], "--token-ttl must be at least 1 second"),
        (["--bracket-mode", "oco"], "invalid choice: 'oco'"),
    ],
)
def test_runsimulator_reports_bad_options_clearly(
    tmp_path: Path, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("runsimulator", "--port", "0", "--store", str(tmp_path / "s.db"), *args)


def test_runsimulator_maps_the_gateway_switches_onto_its_config(tmp_path: Path) -> None:
    from simulator.management.commands.runsimulator import Command

    command = Command()
    parser = command.create_parser("manage.py", "runsimulator")
    args = ["--store", str(tmp_path / "s.db"), "--bars-cap", "500", "--token-ttl", "60"]
    opts = vars(parser.parse_args([*args, "--bracket-mode", "position-with-id"]))
    config = command._config(opts)
    assert (config.bars_cap, config.token_ttl_seconds) == (500, 60)
    assert (config.bracket_mode, config.bracket_refusal_places_entry) == ("position", True)
    config = command._config(vars(parser.parse_args(args)))
    assert (config.bracket_mode, config.bracket_refusal_places_entry) == ("auto_oco", False)
