"""Third-party ProjectX clients work against the simulator unchanged.

project-x-py 4.4.1 needs Python >= 3.12 and ~330 MB of dependencies, so it runs in its own venv
named by `PROJECTX_PY_PYTHON` (see conformance_projectx_py.py) and is skipped when that is not
set. The signalrcore client (conformance_signalrcore.py; signalrcore is pinned in
requirements-dev.txt) runs with this venv's Python, always.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.testing import running_simulator

PYTHON = os.environ.get("PROJECTX_PY_PYTHON", "")
SCRIPT = Path(__file__).with_name("conformance_projectx_py.py")
SIGNALRCORE_SCRIPT = Path(__file__).with_name("conformance_signalrcore.py")


@pytest.mark.skipif(
    not PYTHON or not Path(PYTHON).is_file(),
    reason="set PROJECTX_PY_PYTHON to a Python 3.12 with project-x-py==4.4.1",
)
def test_project_x_py_logs_in_reads_trades_and_streams_unchanged(tmp_path: Path) -> None:
    # Its history calls ask relative to the wall clock: a clock started now, running x20 so
    # the quotes it waits for print within a second (its market order fills at once anyway).
    with running_simulator(tmp_path / "s.db", speed=20.0, start=None) as sim:
        result = subprocess.run(
            [PYTHON, str(SCRIPT), sim.root_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    steps = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert steps == [
        "authenticate",
        "list_accounts",
        "get_instrument",
        "get_bars",
        "search_open_positions",
        "search_trades",
        "realtime",
        "place_market_order",
        "filled,",
        "events",
    ]


def test_a_signalrcore_client_trades_and_streams_against_the_real_time_demo(
    tmp_path: Path,
) -> None:
    # As the demo runs: a clock started now, in real time. The client asks for history relative
    # to the wall clock and expects market orders to fill at once (it gives up after 1 s).
    with running_simulator(tmp_path / "s.db", speed=1.0, start=None) as sim:
        result = subprocess.run(
            [sys.executable, str(SIGNALRCORE_SCRIPT), sim.root_url],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert [line.split()[1] for line in lines] == [
        "login",
        "accounts",
        "contracts",
        "bars",
        "hubs",
        "place",
        "modify",
        "cancel",
        "market-fill",
        "flatten",
        "market-hub",
    ]
