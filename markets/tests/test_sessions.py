from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from markets.sessions import (
    CHICAGO,
    NEW_YORK,
    NaiveDatetime,
    NonexistentTime,
    at_et,
    flat_by,
    globex_session,
    range_window,
    rth_close,
    rth_open,
    trading_date,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_trading_date_of_the_evening_open_is_the_next_day():
    # 2023-06-14 18:00 EDT = 22:00 UTC
    assert trading_date(utc(2023, 6, 14, 22, 0)) == date(2023, 6, 15)


def test_trading_date_just_before_the_open_is_the_same_day():
    assert trading_date(utc(2023, 6, 14, 21, 59)) == date(2023, 6, 14)


def test_trading_date_in_winter_uses_est():
    # 2023-01-10 18:00 EST = 23:00 UTC; 22:59 UTC is 17:59 EST, still the 10th.
    assert trading_date(utc(2023, 1, 10, 23, 0)) == date(2023, 1, 11)
    assert trading_date(utc(2023, 1, 10, 22, 59)) == date(2023, 1, 10)


def test_sunday_evening_opens_mondays_session():
    assert trading_date(utc(2023, 3, 12, 22, 0)) == date(2023, 3, 13)  # Sun 18:00 EDT (DST day)


def test_trading_date_accepts_other_aware_zones():
    assert trading_date(datetime(2023, 6, 14, 17, 0, tzinfo=CHICAGO)) == date(2023, 6, 15)


def test_trading_date_rejects_naive_datetimes():
    with pytest.raises(NaiveDatetime, match="2023-06-14T18:00:00 has no time zone"):
        trading_date(datetime(2023, 6, 14, 18, 0))


def test_trading_date_rejects_a_date():
    with pytest.raises(TypeError, match="expected a datetime"):
        trading_date(date(2023, 6, 14))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_trading_date_matches_the_data_readme_rule(naive_utc):
    at = naive_utc.replace(tzinfo=UTC)
    assert trading_date(at) == (at.astimezone(NEW_YORK) + timedelta(hours=6)).date()


def test_rth_open_is_1330_utc_in_summer_and_1430_utc_in_winter():
    assert rth_open(date(2023, 7, 3)).astimezone(UTC) == utc(2023, 7, 3, 13, 30)
    assert rth_open(date(2023, 1, 3)).astimezone(UTC) == utc(2023, 1, 3, 14, 30)
    assert rth_close(date(2023, 1, 3)).astimezone(UTC) == utc(2023, 1, 3, 21, 0)


def test_range_window_spans_the_dst_spring_forward_weekend():
    # Monday 2023-03-13: window opens Sunday 18:00 EDT (DST began that morning).
    start, end = range_window(date(2023, 3, 13))
    assert start.astimezone(UTC) == utc(2023, 3, 12, 22, 0)
    assert end.astimezone(UTC) == utc(2023, 3, 13, 13, 30)


def test_range_window_on_the_friday_before_spring_forward_is_in_est():
    start, end = range_window(date(2023, 3, 10))
    assert start.astimezone(UTC) == utc(2023, 3, 9, 23, 0)
    assert end.astimezone(UTC) == utc(2023, 3, 10, 14, 30)


def test_range_window_across_the_november_fall_back():
    # Monday 2023-11-06: DST ended Sunday 02:00, so Sunday 18:00 is EST.
    start, end = range_window(date(2023, 11, 6))
    assert start.astimezone(UTC) == utc(2023, 11, 5, 23, 0)
    assert end.astimezone(UTC) == utc(2023, 11, 6, 14, 30)
    start, _ = range_window(date(2023, 11, 3))
    assert start.astimezone(UTC) == utc(2023, 11, 2, 22, 0)


def test_range_window_with_a_morning_start_stays_on_the_day():
    start, end = range_window(date(2023, 6, 14), start=time(9, 30), end=time(10, 0))
    assert (start, end) == (
        at_et(date(2023, 6, 14), time(9, 30)),
        at_et(date(2023, 6, 14), time(10)),
    )


def test_range_window_rejects_an_end_before_its_start():
    with pytest.raises(ValueError, match="window end 09:00:00 is not after its start 09:30:00"):
        range_window(date(2023, 6, 14), start=time(9, 30), end=time(9, 0))


def test_globex_session_is_23_hours_even_across_dst():
    for day in (date(2023, 3, 13), date(2023, 11, 6), date(2023, 6, 14)):
        start, end = globex_session(day)
        assert end - start == timedelta(hours=23)


def test_flat_by_is_1510_chicago_in_both_seasons():
    assert flat_by(date(2023, 3, 10)).astimezone(UTC) == utc(2023, 3, 10, 21, 10)  # CST
    assert flat_by(date(2023, 3, 13)).astimezone(UTC) == utc(2023, 3, 13, 20, 10)  # CDT
    assert flat_by(date(2023, 11, 3)).astimezone(UTC) == utc(2023, 11, 3, 20, 10)  # CDT
    assert flat_by(date(2023, 11, 6)).astimezone(UTC) == utc(2023, 11, 6, 21, 10)  # CST


def test_flat_by_is_1610_new_york_all_year():
    for day in (date(2023, 1, 5), date(2023, 7, 5)):
        assert flat_by(day).astimezone(NEW_YORK).time() == time(16, 10)


def test_flat_by_accepts_a_configured_time():
    assert flat_by(date(2023, 7, 5), time(15, 0)).astimezone(UTC) == utc(2023, 7, 5, 20, 0)


def test_at_et_rejects_a_time_skipped_by_spring_forward():
    with pytest.raises(NonexistentTime, match="2023-03-12 02:30:00 does not exist"):
        at_et(date(2023, 3, 12), time(2, 30))


def test_at_et_takes_the_first_of_a_repeated_hour():
    assert at_et(date(2023, 11, 5), time(1, 30)).astimezone(UTC) == utc(2023, 11, 5, 5, 30)


def test_at_et_rejects_an_aware_wall_time():
    with pytest.raises(ValueError, match="must be naive"):
        at_et(date(2023, 6, 1), time(9, 30, tzinfo=UTC))


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@given(days)
def test_overnight_window_is_always_15_and_a_half_hours(day):
    start, end = range_window(day)
    assert end - start == timedelta(hours=15, minutes=30)
    assert trading_date(start) == day
    assert trading_date(end) == day


@given(days)
def test_flat_by_is_always_1610_in_new_york_and_inside_the_session(day):
    at = flat_by(day)
    assert at.astimezone(NEW_YORK).time() == time(16, 10)
    assert trading_date(at) == day


@given(days)
def test_globex_session_bounds_carry_their_own_trading_date(day):
    start, end = globex_session(day)
    assert trading_date(start) == day
    assert trading_date(end - timedelta(microseconds=1)) == day
    assert trading_date(end) == day  # 17:00 ET still belongs to `day` (the next opens at 18:00)
