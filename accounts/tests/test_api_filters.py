"""The trading-date filter bounds used by every API list agree with markets.sessions.trading_date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from accounts.selectors import trading_date_bounds
from markets.sessions import trading_date

INSTANTS = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
DATES = st.dates(min_value=date(2019, 1, 1), max_value=date(2030, 12, 31))


@given(at=INSTANTS, first=DATES, days=st.integers(min_value=0, max_value=40))
def test_an_instant_is_inside_the_bounds_exactly_when_its_trading_date_is_in_range(
    at: datetime, first: date, days: int
) -> None:
    last = first + timedelta(days=days)
    start, end = trading_date_bounds(date_from=first, date_to=last)

    assert (start <= at < end) == (first <= trading_date(at) <= last)


def test_bounds_across_the_march_dst_change_start_and_end_at_18_new_york() -> None:
    # US clocks spring forward on Sunday 2026-03-08: the bounds stay at 18:00 New York time.
    start, end = trading_date_bounds(date_from=date(2026, 3, 9), date_to=date(2026, 3, 9))

    assert start == datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # 18:00 EDT
    assert end == datetime(2026, 3, 9, 22, 0, tzinfo=UTC)
    assert trading_date_bounds(date_from=None, date_to=None) == (None, None)


def test_bounds_across_the_november_dst_change() -> None:
    start, end = trading_date_bounds(date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))

    assert start == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Sunday 18:00 EST
    assert end == datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
