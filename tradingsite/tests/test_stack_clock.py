"""stack_clock/sitecustomize.py gives every process of a stack the same faked wall clock, whenever each
starts and however long it takes before it first asks the time."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from tradingsite.tests.stack import ROOT

CLOCK_DIR = ROOT / "tradingsite" / "tests" / "stack_clock"
START = datetime(2026, 3, 10, 13, 27, 30, tzinfo=UTC)

# Busy for a while without reading the clock (as a slow start-up would), then report the offset of the
# faked clock from the real one, read through time-machine's escape hatch.
PROBE = """
import sys, time, time_machine
end = time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < end:
    pass
print(time.time() - time_machine.escape_hatch.time.time())
"""


def probe(anchor: float, busy_seconds: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(CLOCK_DIR),
        "STACK_CLOCK_START": START.isoformat(),
        "STACK_CLOCK_ANCHOR": repr(anchor),
    }
    return subprocess.Popen(
        [sys.executable, "-c", PROBE, str(busy_seconds)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_processes_started_at_different_times_share_one_clock():
    anchor = time.time() - 5.0  # the stack's clock read START five seconds ago
    early = probe(anchor, busy_seconds=1.5)
    time.sleep(0.7)
    late = probe(anchor, busy_seconds=0.0)
    offsets = [float(p.communicate(timeout=30)[0]) for p in (early, late)]

    expected = START.timestamp() - anchor
    for offset in offsets:
        assert abs(offset - expected) < 0.1, (offsets, expected)


def test_without_the_variables_the_clock_is_the_real_one():
    env = {**os.environ, "PYTHONPATH": str(CLOCK_DIR)}
    env.pop("STACK_CLOCK_START", None)
    done = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(float(done.stdout) - time.time()) < 5
