from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets import calendar as cal
from markets.sessions import CHICAGO, NEW_YORK, trading_date
from markets.tests.marketdata import data_file


def ct(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=CHICAGO).astimezone(UTC)


def test_a_regular_wednesday_runs_1700_to_1600_chicago():
    day = date(2023, 6, 14)
    assert cal.session_bounds(day) == (ct(date(2023, 6, 13), 17), ct(day, 16))
    assert cal.is_trading_day(day)
    assert not cal.is_early_close(day)


def test_monday_opens_on_sunday_evening():
    assert cal.session_bounds(date(2023, 6, 12))[0] == ct(date(2023, 6, 11), 17)


def test_weekends_do_not_trade():
    assert not cal.is_trading_day(date(2023, 6, 17))
    assert not cal.is_trading_day(date(2023, 6, 18))


@pytest.mark.parametrize("day", [date(2019, 4, 19), date(2022, 4, 15)])
def test_good_friday_without_a_jobs_report_is_closed(day):
    assert not cal.is_trading_day(day)
    with pytest.raises(cal.NotATradingDay, match=f"{day} \\(Friday\\) has no CME equity session"):
        cal.session_bounds(day)


def test_good_friday_with_a_jobs_report_trades_until_0815_chicago():
    day = date(2021, 4, 2)
    assert cal.session_bounds(day) == (ct(date(2021, 4, 1), 17), ct(day, 8, 15))
    assert cal.is_early_close(day)


def test_thanksgiving_closes_at_noon_and_the_day_after_at_1215():
    assert cal.session_bounds(date(2023, 11, 23))[1] == ct(date(2023, 11, 23), 12)
    assert cal.session_bounds(date(2023, 11, 24))[1] == ct(date(2023, 11, 24), 12, 15)
    assert cal.is_early_close(date(2023, 11, 23))
    assert cal.is_early_close(date(2023, 11, 24))


def test_christmas_is_closed_and_christmas_eve_closes_at_1215():
    assert not cal.is_trading_day(date(2023, 12, 25))
    assert cal.session_bounds(date(2019, 12, 24))[1] == ct(date(2019, 12, 24), 12, 15)


def test_july_4th_closes_at_noon_and_july_3rd_at_1215():
    assert cal.session_bounds(date(2022, 7, 4))[1] == ct(date(2022, 7, 4), 12)
    assert cal.session_bounds(date(2019, 7, 3))[1] == ct(date(2019, 7, 3), 12, 15)
    # 2020-07-03 was the observed holiday (July 4 a Saturday): a holiday close at noon.
    assert cal.session_bounds(date(2020, 7, 3))[1] == ct(date(2020, 7, 3), 12)


def test_dst_week_sessions_keep_chicago_hours():
    # DST began Sunday 2023-03-12: Friday's session is CST, Monday's CDT.
    assert cal.session_bounds(date(2023, 3, 10)) == (
        datetime(2023, 3, 9, 23, 0, tzinfo=UTC),
        datetime(2023, 3, 10, 22, 0, tzinfo=UTC),
    )
    assert cal.session_bounds(date(2023, 3, 13)) == (
        datetime(2023, 3, 12, 22, 0, tzinfo=UTC),
        datetime(2023, 3, 13, 21, 0, tzinfo=UTC),
    )


def test_the_1515_halt_is_reported_until_june_2021():
    before = cal.session(date(2021, 6, 18))
    after = cal.session(date(2021, 6, 28))
    assert before is not None
    assert after is not None
    assert (before.break_start_at, before.break_end_at) == (
        ct(date(2021, 6, 18), 15, 15),
        ct(date(2021, 6, 18), 15, 30),
    )
    assert after.break_start_at is None
    assert not before.contains(ct(date(2021, 6, 18), 15, 20))
    assert after.contains(ct(date(2021, 6, 28), 15, 20))


def test_is_open_at_instants():
    assert cal.is_open(datetime(2023, 6, 14, 14, 0, tzinfo=NEW_YORK))
    assert not cal.is_open(datetime(2023, 6, 14, 17, 30, tzinfo=NEW_YORK))  # daily maintenance
    assert cal.is_open(datetime(2023, 6, 14, 18, 0, tzinfo=NEW_YORK))
    assert not cal.is_open(datetime(2023, 6, 17, 12, 0, tzinfo=NEW_YORK))  # Saturday


def test_trading_days_lists_both_ends_and_skips_holidays():
    days = cal.trading_days(date(2023, 12, 22), date(2024, 1, 2))
    assert days == [
        date(2023, 12, 22),
        date(2023, 12, 26),
        date(2023, 12, 27),
        date(2023, 12, 28),
        date(2023, 12, 29),
        date(2024, 1, 2),
    ]


def test_trading_days_rejects_a_reversed_range():
    with pytest.raises(ValueError, match="end 2023-01-01 is before start 2023-02-01"):
        cal.trading_days(date(2023, 2, 1), date(2023, 1, 1))


def test_next_and_previous_trading_day_skip_weekends_and_holidays():
    assert cal.next_trading_day(date(2023, 12, 22)) == date(2023, 12, 26)
    assert cal.previous_trading_day(date(2023, 12, 26)) == date(2023, 12, 22)


def test_a_datetime_is_not_a_trading_date():
    with pytest.raises(TypeError, match="expected a date"):
        cal.is_trading_day(datetime(2023, 6, 14, tzinfo=UTC))


def _sessions_in(name: str) -> pd.DataFrame:
    ts = pd.to_datetime(pd.read_csv(data_file(name), usecols=["ts_utc"])["ts_utc"], utc=True)
    label = (ts.dt.tz_convert("America/New_York") + pd.Timedelta(hours=6)).dt.date
    return pd.DataFrame({"ts": ts, "day": label}).groupby("day")["ts"].agg(["min", "max"])


def test_every_es_session_of_2019_2023_matches_the_calendar():
    seen = _sessions_in("es_1min_2019-2023.csv.gz")
    expected = cal.trading_days(date(2019, 1, 2), date(2023, 3, 24))
    assert list(seen.index) == expected
    for day, first, last in seen.itertuples():
        opens, closes = cal.session_bounds(day)
        assert first.to_pydatetime() == opens, day
        assert last.to_pydatetime() + pd.Timedelta(minutes=1) == closes, day


@pytest.mark.parametrize(
    "name", ["nq_1min_sample_2023-11.csv.gz", "mes_1min_sample_2023-12.csv.gz"]
)
def test_sample_sessions_fall_inside_the_calendar(name):
    seen = _sessions_in(name)
    for day, first, last in seen.itertuples():
        opens, closes = cal.session_bounds(day)
        assert opens <= first.to_pydatetime()
        assert last.to_pydatetime() < closes


def test_thanksgiving_2023_in_the_nq_sample_ends_at_the_early_closes():
    seen = _sessions_in("nq_1min_sample_2023-11.csv.gz")
    assert seen.loc[date(2023, 11, 23), "max"].tz_convert(NEW_YORK).time() == time(12, 59)
    assert seen.loc[date(2023, 11, 24), "max"].tz_convert(NEW_YORK).time() == time(13, 14)


# The current hours regime (18:00 ET opens, 17:00 ET closes) holds from late 2015; the library
# models older years with other hours that the 18:00 ET session label does not describe.
cal_days = st.dates(min_value=date(2016, 1, 1), max_value=date(2030, 12, 31))


@settings(deadline=None)  # the first question about a year builds that year's schedule
@given(cal_days)
def test_calendar_answers_agree_with_each_other(day):
    found = cal.session(day)
    assert cal.is_trading_day(day) is (found is not None)
    assert (cal.trading_days(day, day) == [day]) is (found is not None)
    if day.weekday() == 5:
        assert found is None
    if found is None:
        assert not cal.is_early_close(day)
        return
    assert found.open_at < found.close_at
    assert trading_date(found.open_at) == day
    assert trading_date(found.close_at - timedelta(minutes=1)) == day
    assert found.contains(found.open_at)
    assert not found.contains(found.close_at)
    assert cal.is_open(found.open_at)
