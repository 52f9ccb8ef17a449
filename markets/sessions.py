"""The session clock: the ONE place for exchange-time rules (CME Globex, TopStep's trading window).

Every function takes or returns timezone-aware datetimes; wall-clock times are built in the
exchange's own zone and only then compared or converted, so the rules hold across DST changes.

- A CME Globex equity session runs 18:00 ET on the evening before its trading date to 17:00 ET on
  the date itself (17:00 -> 16:00 CT). Its label, the trading date, is `(ts_et + 6 h).date()`: the
  18:00 ET open lands on midnight of the next day. Sunday 18:00 ET opens Monday's session.
- TopStep: flat before 15:10 CT; trading resumes and the day resets at 17:00 CT (§8 of
  docs/projectx-gateway.md). Computed in America/Chicago because CT is the rule's zone.
- Holidays and early closes are not here: see markets/calendar.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "CHICAGO",
    "FLAT_BY_CT",
    "GLOBEX_CLOSE_ET",
    "GLOBEX_OPEN_ET",
    "NEW_YORK",
    "RTH_CLOSE_ET",
    "RTH_OPEN_ET",
    "NaiveDatetime",
    "NonexistentTime",
    "at_ct",
    "at_et",
    "flat_by",
    "globex_session",
    "range_window",
    "rth_close",
    "rth_open",
    "trading_date",
]

NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")

GLOBEX_OPEN_ET = time(18, 0)  # on the calendar day before the trading date
GLOBEX_CLOSE_ET = time(17, 0)
RTH_OPEN_ET = time(9, 30)
RTH_CLOSE_ET = time(16, 0)
FLAT_BY_CT = time(15, 10)  # TopStep: flat before 3:10:00 PM CT
_SESSION_SHIFT = timedelta(hours=6)  # 18:00 ET + 6 h = 00:00 of the trading date


class NaiveDatetime(ValueError):
    """A datetime without tzinfo reached the session clock; its meaning would be a guess."""


class NonexistentTime(ValueError):
    """A wall-clock time that a DST spring-forward skips (e.g. 02:30 on the second Sunday of March)."""


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime):
        raise TypeError(f"expected a datetime, got {type(at).__name__}: {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise NaiveDatetime(f"{at.isoformat()} has no time zone; pass an aware datetime")


def trading_date(at: datetime) -> date:
    """The Globex session (trading date) that the instant `at` belongs to.

    18:00 ET onwards belongs to the next calendar day's session. Weekend instants get a label
    too (Saturday's), although no session trades then: ask markets.calendar whether it is open.
    """
    _require_aware(at)
    return (at.astimezone(NEW_YORK) + _SESSION_SHIFT).date()


def _at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `wall` in `zone`; refuses times a DST change skips.

    For a repeated (fall-back) hour the first occurrence is taken (fold=0). Exchange rules in this
    module never fall in either hour (DST changes happen while Globex is shut for the weekend).
    """
    if wall.tzinfo is not None:
        raise ValueError(f"wall-clock time {wall} must be naive; the zone is {zone.key}")
    local = datetime.combine(day, wall, tzinfo=zone)
    round_trip = local.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise NonexistentTime(f"{day} {wall} does not exist in {zone.key} (DST spring-forward)")
    return local


def at_et(day: date, wall: time) -> datetime:
    """`day` at New York wall-clock time `wall`, aware."""
    return _at(day, wall, NEW_YORK)


def at_ct(day: date, wall: time) -> datetime:
    """`day` at Chicago wall-clock time `wall`, aware."""
    return _at(day, wall, CHICAGO)


def globex_session(day: date) -> tuple[datetime, datetime]:
    """The regular Globex bounds of trading date `day`: 18:00 ET the day before -> 17:00 ET.

    For a Monday the open is Sunday 18:00 ET. Holidays and early closes: markets.calendar.
    """
    return at_et(day - timedelta(days=1), GLOBEX_OPEN_ET), at_et(day, GLOBEX_CLOSE_ET)


def range_window(
    day: date, start: time = GLOBEX_OPEN_ET, end: time = RTH_OPEN_ET
) -> tuple[datetime, datetime]:
    """A window of trading date `day` in ET, [start, end): by default the overnight range.

    A start at or after the 18:00 ET session open falls on the evening before `day` (the session
    began then); any other start is on `day` itself. The end must come after the start.
    """
    start_day = day - timedelta(days=1) if start >= GLOBEX_OPEN_ET else day
    start_at, end_at = at_et(start_day, start), at_et(day, end)
    if end_at <= start_at:
        raise ValueError(f"window end {end} is not after its start {start} for session {day}")
    return start_at, end_at


def rth_open(day: date) -> datetime:
    """Regular trading hours (cash equity) open: 09:30 ET on `day`."""
    return at_et(day, RTH_OPEN_ET)


def rth_close(day: date) -> datetime:
    """Regular trading hours close: 16:00 ET on `day` (early closes: markets.calendar)."""
    return at_et(day, RTH_CLOSE_ET)


def flat_by(day: date, wall_ct: time = FLAT_BY_CT) -> datetime:
    """TopStep's flat-by instant for trading date `day`: 15:10 CT unless configured otherwise."""
    return at_ct(day, wall_ct)
