"""`pytest --wall-clock=ISO` really moves the session's clock (and refuses an instant without offset),
so bin/test-clock-instants can catch a test that reads the wall clock."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import time
from datetime import UTC, datetime

from django.utils import timezone


def test_every_clock_reads_the_instant():
    assert datetime.now(UTC).isoformat()[:16] == "2026-11-29T23:00"
    assert timezone.now().isoformat()[:16] == "2026-11-29T23:00"
    assert abs(time.time() - 1795993200) < 60
"""


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path),
         "-p", "tradingsite.pytest_wall_clock", "-p", "no:django", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-p", "no:randomly", *args, str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_session_runs_at_the_given_instant(tmp_path):
    result = run_pytest(tmp_path, "--wall-clock=2026-11-29T18:00-05:00")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "wall clock: 2026-11-29T18:00:00-05:00 (Sun 2026-11-29 18:00 EST New York)" in result.stdout
    )


def test_without_the_option_the_clock_is_the_machines(tmp_path):
    assert run_pytest(tmp_path).returncode == 1  # the probe fails: it is not that Sunday now


@pytest.mark.parametrize("raw", ["2026-11-29T18:00", "Sunday evening"])
def test_an_instant_without_offset_or_not_a_date_is_refused(tmp_path, raw):
    result = run_pytest(tmp_path, f"--wall-clock={raw}")
    assert result.returncode == 4  # pytest's usage error
    assert "--wall-clock" in result.stderr
