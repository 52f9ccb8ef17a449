import gzip
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from markets.bars import (
    Bar,
    BarArrays,
    BarDataError,
    load_bars_csv,
    session_dates,
    session_slices,
)
from markets.fills import InvalidBar
from markets.sessions import trading_date
from markets.tests.marketdata import data_file

HEADER = "ts_utc,open,high,low,close,volume\n"
GOOD_ROWS = [
    "2023-03-09T23:00:00Z,4000.25,4001.00,3999.75,4000.50,120\n",  # Thu 18:00 EST -> Fri session
    "2023-03-09T23:01:00Z,4000.50,4000.75,4000.00,4000.25,80\n",
    "2023-03-10T21:59:00Z,4010.00,4010.25,4009.50,4010.00,300\n",  # Fri 16:59 EST
    "2023-03-12T22:00:00Z,4020.00,4021.00,4019.00,4020.75,500\n",  # Sun 18:00 EDT -> Mon
]


def write(tmp_path, rows, *, header=HEADER, gz=True):
    path = tmp_path / ("bars.csv.gz" if gz else "bars.csv")
    text = header + "".join(rows)
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_loads_prices_as_ticks_and_time_as_epoch_seconds(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    assert len(bars) == 4
    assert bars.ts[0] == int(datetime(2023, 3, 9, 23, 0, tzinfo=UTC).timestamp())
    assert bars.open.tolist() == [16001, 16002, 16040, 16080]
    assert bars.high.tolist() == [16004, 16003, 16041, 16084]
    assert bars.low.tolist() == [15999, 16000, 16038, 16076]
    assert bars.close.tolist() == [16002, 16001, 16040, 16083]
    assert bars.volume.tolist() == [120, 80, 300, 500]
    assert all(col.dtype == np.int64 for col in (bars.ts, bars.open, bars.volume))


def test_loads_plain_csv_too(tmp_path):
    assert len(load_bars_csv(write(tmp_path, GOOD_ROWS, gz=False))) == 4


def test_other_tick_sizes(tmp_path):
    rows = ["2023-03-09T23:00:00Z,70.13,70.15,70.10,70.14,5\n"]
    bars = load_bars_csv(write(tmp_path, rows), tick_size=Decimal("0.01"))
    assert bars.open.tolist() == [7013]
    assert bars.tick_size == Decimal("0.01")


def test_arrays_are_read_only(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0] = 1


def test_bad_header_is_refused(tmp_path):
    path = write(tmp_path, GOOD_ROWS, header="time,open,high,low,close,volume\n")
    with pytest.raises(BarDataError, match=r"line 1: header is 'time,open,high,low,close,volume'"):
        load_bars_csv(path)


def test_non_monotonic_time_names_the_row(tmp_path):
    rows = [GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1]]
    with pytest.raises(BarDataError, match=r"line 4: ts_utc is not after the previous row's"):
        load_bars_csv(write(tmp_path, rows))


def test_duplicate_time_is_refused(tmp_path):
    with pytest.raises(BarDataError, match="line 3: ts_utc is not after"):
        load_bars_csv(write(tmp_path, [GOOD_ROWS[0], GOOD_ROWS[0]]))


def test_off_tick_price_names_the_row_and_value(tmp_path):
    rows = [GOOD_ROWS[0], "2023-03-09T23:01:00Z,4000.50,4000.75,4000.10,4000.25,80\n"]
    with pytest.raises(
        BarDataError, match=r"line 3: low is not a multiple of the tick size 0.25 \(.*4000.1"
    ):
        load_bars_csv(write(tmp_path, rows))


def test_missing_price_names_the_row(tmp_path):
    rows = [GOOD_ROWS[0], "2023-03-09T23:01:00Z,4000.50,,4000.00,4000.25,80\n"]
    with pytest.raises(BarDataError, match="line 3: high is missing or not a number"):
        load_bars_csv(write(tmp_path, rows))


def test_high_below_close_names_the_row(tmp_path):
    rows = [GOOD_ROWS[0], "2023-03-09T23:01:00Z,4000.50,4000.75,4000.00,4001.25,80\n"]
    with pytest.raises(BarDataError, match="line 3: low/high do not bracket open and close"):
        load_bars_csv(write(tmp_path, rows))


def test_fractional_volume_is_refused(tmp_path):
    rows = ["2023-03-09T23:00:00Z,4000.25,4001.00,3999.75,4000.50,1.5\n"]
    with pytest.raises(BarDataError, match="line 2: volume must be a whole number >= 0"):
        load_bars_csv(write(tmp_path, rows))


@pytest.mark.parametrize(
    "stamp",
    ["2023-03-09 23:00:00", "2023-03-09T23:00:00", "2023-03-09T23:00:00+00:00", "20230309T230000Z"],
)
def test_malformed_timestamp_names_the_row(tmp_path, stamp):
    rows = [GOOD_ROWS[0], f"{stamp},4000.50,4000.75,4000.00,4000.25,80\n"]
    with pytest.raises(BarDataError, match="line 3: ts_utc must look like 2023-03-24T20:59:00Z"):
        load_bars_csv(write(tmp_path, rows))


@pytest.mark.parametrize(
    "stamp", ["2023-02-30T23:01:00Z", "2023-03-09T24:00:00Z", "2023-03-09T23:60:00Z"]
)
def test_impossible_time_names_the_row(tmp_path, stamp):
    rows = [GOOD_ROWS[0], f"{stamp},4000.50,4000.75,4000.00,4000.25,80\n"]
    with pytest.raises(BarDataError, match="line 3: ts_utc is not a real time"):
        load_bars_csv(write(tmp_path, rows))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_bars_csv(tmp_path / "nope.csv.gz")


def test_session_dates_follow_the_18_00_et_rule_across_dst(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    assert session_dates(bars.ts).tolist() == [
        date(2023, 3, 10),
        date(2023, 3, 10),
        date(2023, 3, 10),
        date(2023, 3, 13),
    ]


def test_session_dates_agree_with_the_session_clock_on_real_bars():
    bars = load_bars_csv(data_file("mes_1min_sample_2023-12.csv.gz"))
    dates = session_dates(bars.ts)
    for i in range(0, len(bars), 97):
        at = datetime.fromtimestamp(int(bars.ts[i]), tz=UTC)
        assert dates[i].astype(object) == trading_date(at)


def test_sessions_split_the_bars_by_trading_date(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    parts = list(bars.sessions())
    assert [(day, len(part)) for day, part in parts] == [
        (date(2023, 3, 10), 3),
        (date(2023, 3, 13), 1),
    ]
    assert session_slices(np.array([], dtype="datetime64[D]")) == []


def test_between_selects_by_open_time(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    part = bars.between(int(bars.ts[1]), int(bars.ts[3]))
    assert part.ts.tolist() == bars.ts[1:3].tolist()


def test_bar_round_trips_one_row(tmp_path):
    bars = load_bars_csv(write(tmp_path, GOOD_ROWS))
    bar = bars.bar(0)
    assert bar == Bar(int(bars.ts[0]), 16001, 16004, 15999, 16002, 120)
    assert bar.start_at == datetime(2023, 3, 9, 23, 0, tzinfo=UTC)


def test_bar_refuses_inconsistent_prices():
    with pytest.raises(InvalidBar):
        Bar(0, 10, 9, 8, 10, 1)
    with pytest.raises(BarDataError, match="volume -1 is negative"):
        Bar(0, 10, 11, 9, 10, -1)


def test_bar_arrays_refuse_mismatched_columns():
    ts = np.arange(3, dtype=np.int64)
    with pytest.raises(BarDataError, match="column open has 2 rows, ts has 3"):
        BarArrays(ts, ts[:2].copy(), ts.copy(), ts.copy(), ts.copy(), ts.copy())
    with pytest.raises(BarDataError, match="column high must be int64"):
        BarArrays(ts, ts.copy(), ts.astype(float), ts.copy(), ts.copy(), ts.copy())


def test_real_nq_sample_loads_with_its_11_sessions():
    bars = load_bars_csv(data_file("nq_1min_sample_2023-11.csv.gz"))
    assert len(bars) == 14_714
    assert len(list(bars.sessions())) == 11
    assert bars.ts[0] == int(datetime(2023, 11, 19, 23, 0, tzinfo=UTC).timestamp())


def test_cached_loads_share_one_parse_until_the_file_changes(tmp_path):
    path = write(tmp_path, GOOD_ROWS)
    first = load_bars_csv(path, cache=True)
    assert load_bars_csv(path, cache=True) is first
    assert load_bars_csv(path) is not first
    write(tmp_path, GOOD_ROWS[:2])
    changed = load_bars_csv(path, cache=True)
    assert len(changed) == 2


def test_parquet_file_loads_like_the_csv(tmp_path):

    source = data_file("nq_1min_sample_2023-11.csv.gz")
    frame = pd.read_csv(source)
    frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True)  # a real timestamp column
    parquet = tmp_path / "nq.parquet"
    frame.to_parquet(parquet)
    from_csv, from_parquet = load_bars_csv(source), load_bars_csv(parquet)
    for name in ("ts", "open", "high", "low", "close", "volume"):
        assert (getattr(from_csv, name) == getattr(from_parquet, name)).all(), name


def test_parquet_with_a_missing_column_is_refused(tmp_path):

    path = tmp_path / "bad.parquet"
    pd.DataFrame({"ts_utc": ["2023-01-01T00:00:00Z"], "open": [1.0]}).to_parquet(path)
    with pytest.raises(BarDataError):
        load_bars_csv(path)
