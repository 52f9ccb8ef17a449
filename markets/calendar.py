"""The CME equity-index futures calendar: which trading dates have a session, and its bounds.

A wrapper around pandas_market_calendars' `CME_Equity` calendar so the rest of the code asks
plain questions (`is_trading_day`, `session_bounds`, `is_early_close`, `trading_days`) and never
touches pandas. Schedules are built per calendar year on first use and cached (building one
takes milliseconds; asking is a dict lookup).

A session is labelled by its trading date (markets.sessions.trading_date): it opens at 17:00 CT
on the evening before (Sunday for Monday) and closes at 16:00 CT, or earlier on early-close days.

Correction to the library, checked against the real ES bars of 2019-2023 (see the tests): on the
half-days before/after a holiday (the day before Independence Day, the day after Thanksgiving,
Christmas Eve) CME equity futures close at 12:15 CT; the library says 12:00 CT. Holiday sessions
themselves (MLK, Presidents', Memorial, Juneteenth, July 4, Labor, Thanksgiving) do close at 12:00
CT. Until 2021-06-25 sessions had a 15:15-15:30 CT halt, reported as `break_start_at/end_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from markets.sessions import CHICAGO, trading_date

__all__ = [
    "CalendarSession",
    "NotATradingDay",
    "is_early_close",
    "is_open",
    "is_trading_day",
    "next_trading_day",
    "previous_trading_day",
    "session",
    "session_bounds",
    "trading_days",
]

CALENDAR_NAME = "CME_Equity"
REGULAR_CLOSE_CT = time(16, 0)
_LIBRARY_HALF_DAY_CLOSE_CT = time(12, 0)
HALF_DAY_CLOSE_CT = time(12, 15)
_MAX_SPAN_DAYS = 366 * 50


class NotATradingDay(ValueError):
    """The date has no CME equity session (weekend or holiday)."""


@dataclass(frozen=True, slots=True)
class CalendarSession:
    """One trading date's session; datetimes are aware, in UTC."""

    trading_date: date
    open_at: datetime
    close_at: datetime
    break_start_at: datetime | None = None
    break_end_at: datetime | None = None

    @property
    def is_early_close(self) -> bool:
        return self.close_at.astimezone(CHICAGO).time() < REGULAR_CLOSE_CT

    def contains(self, at: datetime) -> bool:
        """Whether `at` falls inside the session [open, close), outside any halt."""
        if not self.open_at <= at < self.close_at:
            return False
        return not (
            self.break_start_at is not None
            and self.break_end_at is not None
            and self.break_start_at <= at < self.break_end_at
        )


def _check_date(day: date) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date (a trading date), got {type(day).__name__}: {day!r}")


def _is_half_day(day: date) -> bool:
    """Day before Independence Day, day after Thanksgiving, Christmas Eve (Mon-Thu only: on a
    Friday, July 3 and December 24 are the observed holiday, which closes at 12:00 CT)."""
    if day.month == 11:
        return day.weekday() == 4 and 22 <= day.day - 1 <= 28  # Friday after the 4th Thursday
    if (day.month, day.day) in ((7, 3), (12, 24)):
        return day.weekday() < 4
    return False


def _to_utc(value: object) -> datetime | None:
    if value is None or value != value:  # NaT/NaN are the only values unequal to themselves
        return None
    return value.to_pydatetime().astimezone(UTC)  # type: ignore[attr-defined]


@lru_cache(maxsize=128)
def _year(year: int) -> dict[date, CalendarSession]:
    import pandas_market_calendars as mcal  # slow import, paid once on first use

    frame = mcal.get_calendar(CALENDAR_NAME).schedule(f"{year}-01-01", f"{year}-12-31")
    sessions: dict[date, CalendarSession] = {}
    for label, row in frame.iterrows():
        day = label.date()
        open_at, close_at = _to_utc(row["market_open"]), _to_utc(row["market_close"])
        if open_at is None or close_at is None:
            raise RuntimeError(f"{CALENDAR_NAME} schedule has no open/close for {day}")
        if _is_half_day(day) and close_at.astimezone(CHICAGO).time() == _LIBRARY_HALF_DAY_CLOSE_CT:
            close_at = datetime.combine(day, HALF_DAY_CLOSE_CT, tzinfo=CHICAGO).astimezone(UTC)
        start, end = _to_utc(row.get("break_start")), _to_utc(row.get("break_end"))
        has_break = start is not None and end is not None and start < end
        sessions[day] = CalendarSession(
            day, open_at, close_at, start if has_break else None, end if has_break else None
        )
    return sessions


def session(day: date) -> CalendarSession | None:
    """The session of trading date `day`, or None on weekends and holidays."""
    _check_date(day)
    return _year(day.year).get(day)


def is_trading_day(day: date) -> bool:
    return session(day) is not None


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """(open, close) of trading date `day`, aware UTC; raises NotATradingDay."""
    found = session(day)
    if found is None:
        raise NotATradingDay(f"{day} ({day:%A}) has no CME equity session")
    return found.open_at, found.close_at


def is_early_close(day: date) -> bool:
    """True when `day` trades but closes before 16:00 CT; False for full and closed days."""
    found = session(day)
    return found is not None and found.is_early_close


def trading_days(start: date, end: date) -> list[date]:
    """Trading dates from `start` to `end`, both included, in order."""
    _check_date(start)
    _check_date(end)
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if (end - start).days > _MAX_SPAN_DAYS:
        raise ValueError(f"span {start} -> {end} is over 50 years; ask for less")
    days: list[date] = []
    for year in range(start.year, end.year + 1):
        days.extend(d for d in _year(year) if start <= d <= end)
    return days


def next_trading_day(day: date) -> date:
    """The first trading date after `day`."""
    _check_date(day)
    for offset in range(1, 15):
        candidate = day + timedelta(days=offset)
        if is_trading_day(candidate):
            return candidate
    raise NotATradingDay(f"no trading day within two weeks after {day}")


def previous_trading_day(day: date) -> date:
    """The last trading date before `day`."""
    _check_date(day)
    for offset in range(1, 15):
        candidate = day - timedelta(days=offset)
        if is_trading_day(candidate):
            return candidate
    raise NotATradingDay(f"no trading day within two weeks before {day}")


def is_open(at: datetime) -> bool:
    """Whether the market trades at instant `at` (aware): inside a session, outside a halt."""
    found = session(trading_date(at))
    return found is not None and found.contains(at)
