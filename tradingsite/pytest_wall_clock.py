"""`pytest --wall-clock=ISO`: run the whole session as if the machine's clock read that instant.

The suite must pass at any hour (a Sunday evening open, 23:00 New York, a DST change, an early close).
`bin/test-clock-instants` re-runs the tests marked `clock_sensitive` at such instants; a test that reads
the wall clock where it meant a pinned one then fails there instead of on somebody's late evening.
The clock keeps ticking from the instant (time-machine, tick=True), so timeouts and sleeps still work.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

NEW_YORK = ZoneInfo("America/New_York")
_TRAVELLER = pytest.StashKey[time_machine.travel]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wall-clock",
        metavar="ISO",
        help="run the session at this instant, with its UTC offset (e.g. 2026-11-24T23:00-05:00)",
    )


def wall_clock_instant(raw: str) -> datetime:
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise pytest.UsageError(f"--wall-clock: {raw!r} is not an ISO 8601 date-time") from exc
    if instant.tzinfo is None:
        raise pytest.UsageError(f"--wall-clock: {raw!r} needs a UTC offset (e.g. -05:00 or Z)")
    return instant


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clock_sensitive: depends on the time of day or the calendar; bin/test-clock-instants "
        "re-runs it at several instants",
    )
    raw = config.getoption("wall_clock")
    if not raw:
        return
    traveller = time_machine.travel(wall_clock_instant(raw), tick=True)
    traveller.start()
    config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    raw = config.getoption("wall_clock")
    if not raw:
        return None
    at = wall_clock_instant(raw)
    return f"wall clock: {at.isoformat()} ({at.astimezone(NEW_YORK):%a %Y-%m-%d %H:%M %Z} New York)"
