import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.engine import indicators as ind

DATA_DIR = Path(
    os.environ.get("MARKET_DATA_DIR") or Path(__file__).resolve().parents[2] / "../shared/data"
)
WARM = 300  # bars after which Wilder seeds no longer matter at 1e-9


def _load(name: str, rows: int | None = None) -> pd.DataFrame:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"market data not found at {path} (set MARKET_DATA_DIR)")
    return pd.read_csv(path, nrows=rows)


@pytest.fixture(scope="module")
def nq() -> pd.DataFrame:
    return _load("nq_1min_sample_2023-11.csv.gz")


@pytest.fixture(scope="module")
def es() -> pd.DataFrame:
    return _load("es_1min_2019-2023.csv.gz", rows=30_000)


@pytest.fixture(scope="module", params=["nq", "es"])
def bars(request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = request.getfixturevalue(request.param)
    return (
        frame["high"].to_numpy(np.float64),
        frame["low"].to_numpy(np.float64),
        frame["close"].to_numpy(np.float64),
    )


def _incremental(indicator, *columns) -> np.ndarray:
    out = []
    for row in zip(*columns, strict=True):
        value = indicator.update(*row)
        out.append(np.nan if value is None else value)
    return np.array(out)


def _same_nans_and_close(ours, reference, rtol=1e-9, atol=1e-9):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=atol, equal_nan=True)


# --- TA-Lib on real bars ---------------------------------------------------------------------


@pytest.mark.parametrize("period", [2, 14, 50])
def test_sma_matches_talib(bars, period):
    _, _, close = bars
    _same_nans_and_close(ind.sma(close, period), talib.SMA(close, period))


@pytest.mark.parametrize("period", [2, 20, 100])
def test_ema_matches_talib(bars, period):
    _, _, close = bars
    _same_nans_and_close(ind.ema(close, period), talib.EMA(close, period), rtol=1e-12, atol=0)


@pytest.mark.parametrize("period", [1, 5, 14])
def test_atr_matches_talib(bars, period):
    high, low, close = bars
    ours = ind.atr(high, low, close, period)
    _same_nans_and_close(ours, talib.ATR(high, low, close, period), rtol=1e-12, atol=0)


def test_true_range_matches_talib(bars):
    high, low, close = bars
    np.testing.assert_array_equal(ind.true_range(high, low, close), talib.TRANGE(high, low, close))


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_talib(bars, period):
    _, _, close = bars
    _same_nans_and_close(ind.rsi(close, period), talib.RSI(close, period), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("period", [2, 14, 30])
def test_dmi_matches_talib(bars, period):
    high, low, close = bars
    plus, minus, adx = ind.dmi(high, low, close, period)
    _same_nans_and_close(plus, talib.PLUS_DI(high, low, close, period), rtol=1e-10)
    _same_nans_and_close(minus, talib.MINUS_DI(high, low, close, period), rtol=1e-10)
    _same_nans_and_close(adx, talib.ADX(high, low, close, period), rtol=1e-10)


@pytest.mark.parametrize("period", [5, 60])
def test_rolling_extremes_match_talib(bars, period):
    high, low, _ = bars
    np.testing.assert_array_equal(ind.rolling_high(high, period), talib.MAX(high, period))
    np.testing.assert_array_equal(ind.rolling_low(low, period), talib.MIN(low, period))


@pytest.mark.parametrize("period", [5, 20])
def test_stddev_matches_talib_after_warm_up(bars, period):
    _, _, close = bars
    ours, theirs = ind.stddev(close, period), talib.STDDEV(close, period)
    # TA-Lib's running sum of squares loses digits at price level ~4,000; compare loosely.
    np.testing.assert_allclose(ours[WARM:], theirs[WARM:], atol=1e-4)


def test_bollinger_matches_talib(bars):
    _, _, close = bars
    mid, upper, lower = ind.bollinger(close, 20, 2.0)
    t_upper, t_mid, t_lower = talib.BBANDS(close, 20, 2.0, 2.0)
    np.testing.assert_allclose(mid[WARM:], t_mid[WARM:], atol=1e-6)
    np.testing.assert_allclose(upper[WARM:], t_upper[WARM:], atol=1e-3)
    np.testing.assert_allclose(lower[WARM:], t_lower[WARM:], atol=1e-3)


# --- incremental == array ------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 3, 14])
def test_incremental_forms_equal_array_forms_on_real_bars(nq, period):
    high = nq["high"].to_numpy(np.float64)[:4000]
    low = nq["low"].to_numpy(np.float64)[:4000]
    close = nq["close"].to_numpy(np.float64)[:4000]
    exact = [
        (ind.Ema(period), (close,), ind.ema(close, period)),
        (ind.Atr(period), (high, low, close), ind.atr(high, low, close, period)),
        (ind.Rsi(period), (close,), ind.rsi(close, period)),
        (ind.Adx(period), (high, low, close), ind.adx(high, low, close, period)),
        (ind.RollingHigh(period), (high,), ind.rolling_high(high, period)),
        (ind.RollingLow(period), (low,), ind.rolling_low(low, period)),
    ]
    for indicator, columns, expected in exact:
        np.testing.assert_array_equal(_incremental(indicator, *columns), expected)
    close_enough = [
        (ind.Sma(period), ind.sma(close, period)),
        (ind.StdDev(period), ind.stddev(close, period)),
    ]
    for indicator, expected in close_enough:
        _same_nans_and_close(_incremental(indicator, close), expected, rtol=1e-11, atol=1e-8)


def test_incremental_accepts_integer_ticks_and_matches_float_points(nq):
    ticks = (nq["close"].to_numpy(np.float64)[:500] * 4).astype(np.int64)
    rsi_ticks = _incremental(ind.Rsi(14), ticks.tolist())
    np.testing.assert_allclose(rsi_ticks, ind.rsi(ticks / 4, 14), rtol=1e-12, equal_nan=True)


def test_dmi_exposes_directional_indicators_from_bar_period():
    adx = ind.Adx(3)
    rows = [(10, 8, 9), (11, 9, 10), (12, 10, 11), (13, 11, 12), (12, 10, 11), (11, 9, 10)]
    results = [adx.update(*row) for row in rows]
    assert results[:5] == [None] * 5
    assert results[5] is not None
    assert adx.plus_di is not None
    assert adx.minus_di is not None
    assert adx.is_ready


def test_session_vwap_resets_per_session():
    high = [11, 12, 20, 22]
    low = [9, 10, 18, 20]
    close = [10, 11, 19, 21]
    volume = [1, 3, 2, 2]
    session = [1, 1, 2, 2]
    out = ind.session_vwap(high, low, close, volume, session)
    np.testing.assert_allclose(out, [10.0, (10 + 33) / 4, 19.0, 20.0])
    live = ind.SessionVwap()
    got = []
    for i in range(4):
        if i == 2:
            live.reset()
        got.append(live.update(high[i], low[i], close[i], volume[i]))
    np.testing.assert_allclose(got, out)


def test_session_vwap_is_nan_until_volume_trades():
    out = ind.session_vwap([2, 2], [1, 1], [1, 1], [0, 3], [1, 1])
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(4 / 3)


def test_atr_distance_measures_stretch_in_atrs():
    out = ind.atr_distance([110.0, 100.0, 90.0, 95.0], [100.0, 100.0, np.nan, 95.0], [5, 5, 5, 0])
    np.testing.assert_array_equal(out, [2.0, 0.0, np.nan, np.nan])
    assert ind.atr_distance_value(110.0, 100.0, 5.0) == 2.0
    assert ind.atr_distance_value(110.0, None, 5.0) is None
    assert ind.atr_distance_value(110.0, 100.0, 0.0) is None


# --- edge cases ------------------------------------------------------------------------------


def test_period_one_sma_and_ema_are_the_input():
    x = [3.0, 1.0, 4.0, 1.0, 5.0]
    np.testing.assert_array_equal(ind.sma(x, 1), x)
    np.testing.assert_array_equal(ind.ema(x, 1), x)
    np.testing.assert_array_equal(ind.rolling_high(x, 1), x)


def test_period_one_atr_is_the_true_range():
    high, low, close = [10, 12, 11], [9, 10, 7], [9.5, 11, 8]
    # bar 1: max(12 - 10, |12 - 9.5|, |10 - 9.5|) = 2.5; bar 2: max(4, 0, 4) = 4
    np.testing.assert_array_equal(ind.atr(high, low, close, 1), [np.nan, 2.5, 4.0])


def test_period_one_rsi_is_all_or_nothing():
    np.testing.assert_array_equal(ind.rsi([1, 2, 1, 1], 1), [np.nan, 100.0, 0.0, 50.0])


def test_constant_prices():
    flat = [100.0] * 40
    assert ind.sma(flat, 10)[-1] == 100.0
    assert ind.ema(flat, 10)[-1] == 100.0
    assert ind.atr(flat, flat, flat, 14)[-1] == 0.0
    assert ind.rsi(flat, 14)[-1] == 50.0  # neutral, where TA-Lib says 0
    assert ind.stddev(flat, 10)[-1] == 0.0
    plus, minus, adx = ind.dmi(flat, flat, flat, 5)
    assert (plus[-1], minus[-1], adx[-1]) == (0.0, 0.0, 0.0)
    assert np.isnan(ind.atr_distance(flat, ind.sma(flat, 10), ind.atr(flat, flat, flat, 14))[-1])


def test_warm_up_lengths():
    x = np.arange(1.0, 31.0)
    assert np.isnan(ind.sma(x, 5)[:4]).all()
    assert not np.isnan(ind.sma(x, 5)[4])
    assert np.isnan(ind.atr(x, x, x, 5)[:5]).all()
    assert not np.isnan(ind.atr(x, x, x, 5)[5])
    assert np.isnan(ind.rsi(x, 5)[:5]).all()
    assert np.isnan(ind.adx(x + 1, x - 1, x, 5)[:9]).all()
    assert not np.isnan(ind.adx(x + 1, x - 1, x, 5)[9])


def test_short_inputs_are_all_nan():
    assert np.isnan(ind.ema([1.0, 2.0], 3)).all()
    assert np.isnan(ind.atr([1.0, 2.0], [1.0, 2.0], [1.0, 2.0], 2)).all()
    assert len(ind.sma([], 3)) == 0


@pytest.mark.parametrize("period", [0, -1, 2.5, "14", None, True])
def test_invalid_period_raises_value_error(period):
    with pytest.raises(ValueError, match=r"period must be an integer >= 1, got"):
        ind.sma([1.0, 2.0], period)
    with pytest.raises(ValueError, match=r"period must be an integer >= 1, got"):
        ind.Atr(period)


def test_non_finite_input_is_refused_with_its_index():
    with pytest.raises(ValueError, match="values has a non-finite value at index 2: nan"):
        ind.ema([1.0, 2.0, float("nan")], 2)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="high/low/close lengths differ: 2, 1, 2"):
        ind.atr([1.0, 2.0], [1.0], [1.0, 2.0], 1)


def test_two_dimensional_input_is_refused():
    with pytest.raises(ValueError, match="must be one-dimensional"):
        ind.sma([[1.0, 2.0]], 1)


def test_incremental_value_and_is_ready():
    sma = ind.Sma(2)
    assert (sma.update(1), sma.is_ready, sma.value) == (None, False, None)
    assert (sma.update(3), sma.is_ready, sma.value) == (2.0, True, 2.0)


def test_bollinger_incremental_returns_bands():
    bands = ind.Bollinger(2, 1.0)
    assert bands.update(1.0) is None
    assert bands.update(3.0) == (2.0, 3.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.integers(-500, 500), min_size=1, max_size=120),
    period=st.integers(1, 30),
)
def test_incremental_equals_array_on_random_tick_series(closes, period):
    x = np.array(closes, dtype=np.float64)
    high, low = x + 2, x - 3
    np.testing.assert_array_equal(_incremental(ind.Rsi(period), x), ind.rsi(x, period))
    np.testing.assert_array_equal(
        _incremental(ind.Atr(period), high, low, x), ind.atr(high, low, x, period)
    )
    np.testing.assert_array_equal(
        _incremental(ind.Adx(period), high, low, x), ind.adx(high, low, x, period)
    )
    np.testing.assert_array_equal(_incremental(ind.Ema(period), x), ind.ema(x, period))
    _same_nans_and_close(_incremental(ind.Sma(period), x), ind.sma(x, period), atol=1e-9)
    _same_nans_and_close(_incremental(ind.StdDev(period), x), ind.stddev(x, period), atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(closes=st.lists(st.integers(-500, 500), min_size=2, max_size=80), period=st.integers(1, 20))
def test_rsi_and_adx_stay_within_0_and_100(closes, period):
    x = np.array(closes, dtype=np.float64)
    values = np.concatenate([ind.rsi(x, period), ind.adx(x + 1, x - 1, x, period)])
    values = values[~np.isnan(values)]
    assert ((values >= 0) & (values <= 100)).all()


@pytest.mark.parametrize(
    "indicator",
    [ind.Sma(3), ind.Ema(3), ind.Rsi(3), ind.RollingHigh(3), ind.RollingLow(3), ind.StdDev(3)],
)
def test_incremental_refuses_a_non_finite_value(indicator):
    indicator.update(1.0)
    with pytest.raises(ValueError, match="update got a non-finite value nan"):
        indicator.update(float("nan"))


@pytest.mark.parametrize("indicator", [ind.Atr(3), ind.Adx(3)])
def test_incremental_bar_indicators_refuse_a_non_finite_value(indicator):
    with pytest.raises(ValueError, match=r"update got a non-finite value in \(inf, 1.0, 1.0\)"):
        indicator.update(float("inf"), 1.0, 1.0)


def test_session_vwap_refuses_negative_or_missing_volume():
    vwap = ind.SessionVwap()
    with pytest.raises(ValueError, match=r"volume must be finite and >= 0, got -1\.0"):
        vwap.update(2, 1, 1, -1)
    with pytest.raises(ValueError, match="volume must be finite and >= 0, got nan"):
        vwap.update(2, 1, 1, float("nan"))
