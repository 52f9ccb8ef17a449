"""The CSV path reads in blocks (#17, memory): the result must not depend on where blocks end.

Each file is read twice: by `load_bars_csv` in blocks far smaller than the file, and by a plain
reference reader here (the csv module and Decimal: no pyarrow, no blocks). Same arrays, same
trades; a bad row in a late block is still named by its line in the file.
"""

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markets import bars
from markets.bars import BarDataError, load_bars_csv
from markets.tests.marketdata import data_file
from strategies.backtest import run_backtest

HEADER = "ts_utc,open,high,low,close,volume\n"
COLUMNS = ("ts", "open", "high", "low", "close", "volume")
REAL_ROWS = 150_000  # about 105 sessions (the daily ATR warms up first), over 2x the first capacity


def reference_columns(text: str, tick: Decimal = Decimal("0.25")) -> dict[str, np.ndarray]:
    """Ticks and epoch seconds of every row, one row at a time in exact arithmetic."""
    rows = list(csv.reader(io.StringIO(text)))[1:]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    ts = [int(datetime.strptime(r[0], stamp).replace(tzinfo=UTC).timestamp()) for r in rows]
    prices = [[int(Decimal(v) / tick) for v in r[1:5]] for r in rows]
    columns = {"ts": ts, "volume": [int(r[5]) for r in rows]}
    for i, name in enumerate(("open", "high", "low", "close")):
        columns[name] = [p[i] for p in prices]
    return {name: np.asarray(values, dtype=np.int64) for name, values in columns.items()}


def write_gz(path, text: str):
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory) -> str:
    """The first REAL_ROWS rows of the ES file (read in place, written only to a temp dir)."""
    with gzip.open(data_file("es_1min_2019-2023.csv.gz"), "rt") as handle:
        return "".join(handle.readline() for _ in range(REAL_ROWS + 1))


def test_real_slice_in_small_blocks_gives_the_reference_bars_and_trades(
    real_slice, tmp_path, monkeypatch
):
    monkeypatch.setattr(bars, "_BLOCK_BYTES", 128 << 10)  # about 2,800 rows a block, 54 blocks
    streamed = load_bars_csv(write_gz(tmp_path / "es.csv.gz", real_slice))
    expected = reference_columns(real_slice)

    assert len(streamed) == REAL_ROWS
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(streamed, name), expected[name], err_msg=name)
    from_stream = run_backtest("overnight_range_breakout", {}, streamed, "ES")
    from_reference = run_backtest(
        "overnight_range_breakout", {}, bars.BarArrays(*(expected[n] for n in COLUMNS)), "ES"
    )
    assert len(from_stream.trades) >= 20  # the slice trades: the comparison says something
    assert from_stream.trades == from_reference.trades
    assert from_stream.net_pnl_usd == from_reference.net_pnl_usd


def test_a_bad_row_in_a_late_block_is_named_by_its_line_in_the_file(
    real_slice, tmp_path, monkeypatch
):
    monkeypatch.setattr(bars, "_BLOCK_BYTES", 128 << 10)
    lines = real_slice.splitlines(keepends=True)
    for i in (120_000, 140_000):  # the second bad row only adds to the count
        fields = lines[i].split(",")
        lines[i] = ",".join([fields[0], fields[1], "4000.10", *fields[3:]])  # off-tick high
    with pytest.raises(BarDataError, match=r"line 120001: high is not a multiple .*; 1 more row"):
        load_bars_csv(write_gz(tmp_path / "bad.csv.gz", "".join(lines)))


def test_time_going_back_across_a_block_boundary_is_refused(tmp_path, monkeypatch):
    start = datetime(2023, 3, 9, 23, 0, tzinfo=UTC)
    stamps = [start + timedelta(minutes=i) for i in range(200)]
    stamps[150] = stamps[10]  # far behind its predecessor, in a later block
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},4000.00,4000.25,3999.75,4000.00,5\n" for t in stamps]
    monkeypatch.setattr(bars, "_BLOCK_BYTES", 512)  # about 10 rows a block
    with pytest.raises(BarDataError, match="line 152: ts_utc is not after the previous row's"):
        load_bars_csv(write_gz(tmp_path / "back.csv.gz", HEADER + "".join(rows)))


def test_a_truncated_gzip_file_is_a_bar_data_error(real_slice, tmp_path):
    whole = write_gz(tmp_path / "whole.csv.gz", real_slice).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BarDataError, match=r"cut\.csv\.gz: "):
        load_bars_csv(cut)


bar_rows = st.lists(
    st.tuples(
        st.integers(1, 600),  # minutes since the previous bar
        st.integers(12_000, 20_000),  # open, in ticks
        st.integers(0, 40),  # high above max(open, close)
        st.integers(0, 40),  # low below min(open, close)
        st.integers(-30, 30),  # close - open
        st.integers(0, 10_000),  # volume
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(rows=bar_rows, block=st.integers(8, 4_000), plain=st.booleans())
def test_any_block_size_gives_the_reference_bars(tmp_path_factory, rows, block, plain):
    at = datetime(2023, 1, 1, 23, 0, tzinfo=UTC)
    lines = [HEADER]
    for minutes, open_, up, down, change, volume in rows:
        at += timedelta(minutes=minutes)
        close = open_ + change
        o, h, lo, c = (
            Decimal(v) / 4 for v in (open_, max(open_, close) + up, min(open_, close) - down, close)
        )
        lines.append(f"{at:%Y-%m-%dT%H:%M:%SZ},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{volume}\n")
    text = "".join(lines)
    folder = tmp_path_factory.mktemp("bars")
    path = folder / "bars.csv"
    if plain:
        path.write_text(text)
    else:
        path = write_gz(folder / "bars.csv.gz", text)

    original = bars._BLOCK_BYTES
    bars._BLOCK_BYTES = block  # hypothesis and monkeypatch do not mix: restored below
    try:
        loaded = load_bars_csv(path)
    finally:
        bars._BLOCK_BYTES = original
    expected = reference_columns(text)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(loaded, name), expected[name], err_msg=name)
