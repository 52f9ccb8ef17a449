"""Technical indicators in two forms that give the same numbers: O(1)-per-bar classes for the live
runner and numpy array functions for research and the backtester.

Values are floats: an ATR of 7.3 ticks or an RSI of 61.2 is a statistic, not a price, so the
"prices are exact" rule does not apply to them. Inputs may be integer ticks or floats (points);
outputs are in the input's unit (ATR of tick inputs is in ticks). Convert back to a tradable
price only through markets.ticks, rounding deliberately.

Definitions follow TA-Lib (the reference the tests check against, on real ES and NQ bars):

- SMA(n): mean of the last n inputs; first value at index n-1.
- EMA(n): seeded with the SMA of the first n inputs, then `ema += (x - ema) * 2 / (n + 1)`.
- True range: max(high - low, |high - prev close|, |low - prev close|); undefined on the first
  bar (no previous close), as in TA-Lib.
- ATR(n), Wilder: seeded with the mean of the first n true ranges (bars 1..n), then
  `atr = (atr * (n - 1) + tr) / n`; first value at index n.
- RSI(n), Wilder: average gain/loss seeded with the mean of the first n changes, then smoothed as
  ATR; RSI = 100 * gain / (gain + loss); first value at index n. Deviation from TA-Lib: a flat
  series (gain + loss == 0) gives 50 (neutral), not TA-Lib's 0, so a quiet market never reads as
  oversold.
- +DI/-DI/ADX(n), Wilder, exactly TA-Lib's recipe: +DM/-DM and TR are Wilder-summed (the running
  sum is seeded from bars 1..n-1, and bar n applies the first `s - s/n + v` step), DI = 100 *
  DM_sum / TR_sum from index n, DX = 100 * |+DI - -DI| / (+DI + -DI), ADX = mean of the first n
  DX (index 2n-1), then Wilder-smoothed; a bar whose DI sum is 0 leaves ADX unchanged.
- Rolling high/low(n): max/min of the last n inputs INCLUDING the current one (shift by one bar
  for "the previous n bars", e.g. a breakout level).
- StdDev(n): population standard deviation of the last n inputs (TA-Lib STDDEV, nbdev 1).
- Session VWAP: volume-weighted typical price (h + l + c) / 3, reset at each session.

Array functions return float64 arrays as long as the input, NaN until warm. Incremental classes
return None from `update` until warm; `value` holds the last value and `is_ready` says whether
there is one. The two forms agree bit for bit for EMA, ATR, RSI, DMI/ADX, rolling extremes and
VWAP (same arithmetic in the same order); SMA and StdDev agree to ~1e-12 relative (the array
form sums each window afresh, the class keeps a running sum re-summed exactly every period).
A period must be an int >= 1 and inputs must be finite; anything else raises ValueError.

Strategies do not read these classic forms directly: they read the bounded-memory forms at the end
of this module (`windowed`, `Windowed`), whose value depends only on a fixed window of bars, so a
live desk and a backtest with different histories read the same number.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "WINDOW_PERIODS",
    "Adx",
    "Atr",
    "Bollinger",
    "Ema",
    "RollingHigh",
    "RollingLow",
    "Rsi",
    "SessionVwap",
    "Sma",
    "StdDev",
    "Windowed",
    "adx",
    "atr",
    "atr_distance",
    "atr_distance_value",
    "bollinger",
    "dmi",
    "ema",
    "rolling_high",
    "rolling_low",
    "rsi",
    "session_vwap",
    "sma",
    "stddev",
    "true_range",
    "window_length",
    "windowed",
]

ArrayLike = np.ndarray | Sequence[float] | Sequence[int]


# --- validation --------------------------------------------------------------------------------


def _check_period(period: int, name: str = "period") -> int:
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {period!r}")
    return int(period)


def _series(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} has a non-finite value at index {bad}: {array[bad]}")
    return array


def _hlc(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> tuple[np.ndarray, ...]:
    h, lo, c = _series("high", high), _series("low", low), _series("close", close)
    if not len(h) == len(lo) == len(c):
        raise ValueError(f"high/low/close lengths differ: {len(h)}, {len(lo)}, {len(c)}")
    return h, lo, c


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


# --- array forms -------------------------------------------------------------------------------


def sma(values: ArrayLike, period: int) -> np.ndarray:
    """Simple moving average; NaN for the first period-1 entries."""
    n = _check_period(period)
    x = _series("values", values)
    out = _nan(len(x))
    if len(x) >= n:
        out[n - 1 :] = sliding_window_view(x, n).mean(axis=1)
    return out


def ema(values: ArrayLike, period: int) -> np.ndarray:
    """Exponential moving average seeded with the SMA of the first `period` values."""
    n = _check_period(period)
    x = _series("values", values)
    out = _nan(len(x))
    if len(x) < n:
        return out
    xs = x.tolist()
    k = 2.0 / (n + 1)
    prev = sum(xs[:n]) / n
    result = [prev]
    append = result.append
    for value in xs[n:]:
        prev = (value - prev) * k + prev
        append(prev)
    out[n - 1 :] = result
    return out


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> np.ndarray:
    """True range per bar; NaN on the first bar (it has no previous close)."""
    h, lo, c = _hlc(high, low, close)
    out = _nan(len(h))
    if len(h) > 1:
        prev = c[:-1]
        out[1:] = np.maximum(
            h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev))
        )
    return out


def _wilder(values: list[float], n: int) -> list[float]:
    """Wilder's average of `values`: seed = mean of the first n, then (prev*(n-1) + v) / n."""
    prev = sum(values[:n]) / n
    result = [prev]
    append = result.append
    m = n - 1
    for value in values[n:]:
        prev = (prev * m + value) / n
        append(prev)
    return result


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int) -> np.ndarray:
    """Average true range (Wilder); first value at index `period`."""
    n = _check_period(period)
    tr = true_range(high, low, close)
    out = _nan(len(tr))
    if len(tr) > n:
        out[n:] = _wilder(tr[1:].tolist(), n)
    return out


def rsi(values: ArrayLike, period: int) -> np.ndarray:
    """Relative strength index (Wilder), 0-100; first value at index `period`; flat -> 50."""
    n = _check_period(period)
    x = _series("values", values)
    out = _nan(len(x))
    if len(x) <= n:
        return out
    changes = np.diff(x).tolist()
    gain = sum(d for d in changes[:n] if d > 0) / n
    loss = -sum(d for d in changes[:n] if d < 0) / n
    result = [_rsi_value(gain, loss)]
    append = result.append
    m = n - 1
    for d in changes[n:]:
        gain *= m
        loss *= m
        if d < 0:
            loss -= d
        else:
            gain += d
        gain /= n
        loss /= n
        append(_rsi_value(gain, loss))
    out[n:] = result
    return out


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * gain / total if total != 0.0 else 50.0


def dmi(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(+DI, -DI, ADX) arrays, TA-Lib's recipe (see the module docstring)."""
    n = _check_period(period)
    h, lo, c = _hlc(high, low, close)
    size = len(h)
    plus_di, minus_di, adx_out = _nan(size), _nan(size), _nan(size)
    if size <= n:
        return plus_di, minus_di, adx_out
    # The same arithmetic as `Adx.update`, inlined over lists (the tests check they agree bit
    # for bit): +DM/-DM and TR per bar from bar 1, vectorised; the Wilder recursion in Python.
    up = np.diff(h)
    down = -np.diff(lo)
    pdm = np.where((up > 0) & (up > down), up, 0.0).tolist()
    mdm = np.where((down > 0) & (up < down), down, 0.0).tolist()
    tr = true_range(h, lo, c)[1:].tolist()
    s_p = s_m = s_t = 0.0
    for i in range(n - 1):
        s_p += pdm[i]
        s_m += mdm[i]
        s_t += tr[i]
    pdi_out, mdi_out, adx_list = [], [], []
    adx_value: float | None = None
    dx_sum = 0.0
    m = n - 1
    for i in range(n - 1, size - 1):
        s_p = s_p - s_p / n + pdm[i]
        s_m = s_m - s_m / n + mdm[i]
        s_t = s_t - s_t / n + tr[i]
        dx = None
        if s_t == 0.0:
            pdi = mdi = 0.0
        else:
            pdi = 100.0 * (s_p / s_t)
            mdi = 100.0 * (s_m / s_t)
            total = mdi + pdi
            if total != 0.0:
                dx = 100.0 * (abs(mdi - pdi) / total)
        pdi_out.append(pdi)
        mdi_out.append(mdi)
        if adx_value is not None:
            if dx is not None:
                adx_value = (adx_value * m + dx) / n
        else:
            if dx is not None:
                dx_sum += dx
            if i - (n - 1) == m:
                adx_value = dx_sum / n
        adx_list.append(np.nan if adx_value is None else adx_value)
    plus_di[n:] = pdi_out
    minus_di[n:] = mdi_out
    adx_out[n:] = adx_list
    return plus_di, minus_di, adx_out


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int) -> np.ndarray:
    """Average directional index (Wilder), 0-100; first value at index 2*period - 1."""
    return dmi(high, low, close, period)[2]


def _rolling(values: ArrayLike, period: int, reduce: str) -> np.ndarray:
    """`reduce` (a numpy reduction: max, min, std) over each window of `period` values ending at
    each index; NaN until the first full window."""
    n = _check_period(period)
    x = _series("values", values)
    out = _nan(len(x))
    if len(x) >= n:
        out[n - 1 :] = getattr(sliding_window_view(x, n), reduce)(axis=1)
    return out


def rolling_high(values: ArrayLike, period: int) -> np.ndarray:
    """Highest of the last `period` values, the current one included."""
    return _rolling(values, period, "max")


def rolling_low(values: ArrayLike, period: int) -> np.ndarray:
    """Lowest of the last `period` values, the current one included."""
    return _rolling(values, period, "min")


def stddev(values: ArrayLike, period: int) -> np.ndarray:
    """Population standard deviation of the last `period` values."""
    return _rolling(values, period, "std")


def bollinger(
    values: ArrayLike, period: int, width: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(middle, upper, lower): SMA(period) +/- width * StdDev(period)."""
    middle = sma(values, period)
    spread = width * stddev(values, period)
    return middle, middle + spread, middle - spread


def atr_distance(price: ArrayLike, reference: ArrayLike, atr_values: ArrayLike) -> np.ndarray:
    """(price - reference) / ATR: how stretched price is from e.g. a moving average, in ATRs.

    NaN where the reference or ATR is not warm (NaN) or the ATR is zero (a flat market has no
    meaningful stretch). NaNs are allowed here because warm-up NaNs come from the functions above.
    """
    p = np.asarray(price, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    a = np.asarray(atr_values, dtype=np.float64)
    if not p.shape == ref.shape == a.shape:
        raise ValueError(f"price/reference/atr shapes differ: {p.shape}, {ref.shape}, {a.shape}")
    out = _nan(len(p))
    usable = np.isfinite(ref) & np.isfinite(a) & (a > 0)
    np.divide(p - ref, a, out=out, where=usable)
    return out


def session_vwap(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    session: ArrayLike,
) -> np.ndarray:
    """VWAP of the typical price, restarting whenever `session` (e.g. trading-date ids) changes.

    NaN until a session has traded volume.
    """
    h, lo, c = _hlc(high, low, close)
    v = _series("volume", volume)
    keys = np.asarray(session)
    if not len(v) == len(keys) == len(h):
        raise ValueError(f"volume/session lengths differ from the bars: {len(v)}, {len(keys)}")
    pv = (h + lo + c) / 3.0 * v
    out = _nan(len(h))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    bounds = [*starts.tolist(), len(h)] if len(keys) else [0]
    for a, b in pairwise(bounds):
        cum_v = np.cumsum(v[a:b])
        np.divide(np.cumsum(pv[a:b]), cum_v, out=out[a:b], where=cum_v > 0)
    return out


# --- incremental forms -------------------------------------------------------------------------


def _check_bar_values(indicator: object, high: float, low: float, close: float) -> None:
    total = high + low + close
    if total - total:  # NaN or infinite somewhere
        name = type(indicator).__name__
        raise ValueError(f"{name}.update got a non-finite value in ({high}, {low}, {close})")


def _finite(indicator: object, x: float) -> float:
    """`x` as a float; NaN or infinite refused (one bad print would poison an average for good)."""
    x = float(x)
    if x - x:
        raise ValueError(f"{type(indicator).__name__}.update got a non-finite value {x}")
    return x


class _Indicator:
    __slots__ = ("period", "value")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self.value: float | None = None

    @property
    def is_ready(self) -> bool:
        return self.value is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(period={self.period}, value={self.value})"


class Sma(_Indicator):
    """Incremental SMA. The running sum is re-summed exactly (fsum) once per period to stop
    floating-point drift over millions of bars."""

    __slots__ = ("_buffer", "_index", "_sum")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._buffer: list[float] = []
        self._index = 0
        self._sum = 0.0

    def update(self, x: float) -> float | None:
        x = _finite(self, x)
        n = self.period
        buffer = self._buffer
        if len(buffer) < n:
            buffer.append(x)
            self._sum += x
            if len(buffer) < n:
                return None
            self._sum = math.fsum(buffer)
        else:
            i = self._index
            self._sum += x - buffer[i]
            buffer[i] = x
            i += 1
            if i == n:
                i = 0
                self._sum = math.fsum(buffer)
            self._index = i
        self.value = self._sum / n
        return self.value


class Ema(_Indicator):
    """Incremental EMA seeded with the SMA of the first `period` values."""

    __slots__ = ("_count", "_k", "_seed")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._k = 2.0 / (self.period + 1)
        self._count = 0
        self._seed = 0.0

    def update(self, x: float) -> float | None:
        x = _finite(self, x)
        if self.value is not None:
            self.value = (x - self.value) * self._k + self.value
            return self.value
        self._seed += x
        self._count += 1
        if self._count < self.period:
            return None
        self.value = self._seed / self.period
        return self.value


class _Wilder:
    """Wilder's average of a stream: mean of the first n values, then (prev*(n-1) + v) / n."""

    __slots__ = ("_count", "_n", "value")

    def __init__(self, n: int) -> None:
        self._n = n
        self._count = 0
        self.value = 0.0

    def update(self, v: float) -> bool:
        """Feed one value; True once the average is defined."""
        n = self._n
        if self._count >= n:
            self.value = (self.value * (n - 1) + v) / n
            return True
        self.value += v
        self._count += 1
        if self._count < n:
            return False
        self.value /= n
        return True


class Atr(_Indicator):
    """Incremental ATR (Wilder); the first bar only provides the previous close."""

    __slots__ = ("_avg", "_prev_close")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._avg = _Wilder(self.period)
        self._prev_close: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        high, low, close = float(high), float(low), float(close)
        _check_bar_values(self, high, low, close)
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        tr = max(high - low, abs(high - prev), abs(low - prev))
        if self._avg.update(float(tr)):
            self.value = self._avg.value
        return self.value


class Rsi(_Indicator):
    """Incremental RSI (Wilder), 0-100; a flat market reads 50."""

    __slots__ = ("_count", "_gain", "_loss", "_prev")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._prev: float | None = None
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    def update(self, x: float) -> float | None:
        x = _finite(self, x)
        prev, self._prev = self._prev, x
        if prev is None:
            return None
        d = x - prev
        n = self.period
        if self._count < n:
            if d > 0:
                self._gain += d
            elif d < 0:
                self._loss -= d
            self._count += 1
            if self._count < n:
                return None
            self._gain /= n
            self._loss /= n
        else:
            m = n - 1
            gain, loss = self._gain * m, self._loss * m
            if d < 0:
                loss -= d
            else:
                gain += d
            self._gain, self._loss = gain / n, loss / n
        self.value = _rsi_value(self._gain, self._loss)
        return self.value


class Adx(_Indicator):
    """Incremental +DI/-DI/ADX (Wilder, TA-Lib's recipe). `plus_di`/`minus_di` are defined from
    bar `period`, `value` (the ADX) from bar 2*period - 1."""

    __slots__ = (
        "_bars",
        "_dx_count",
        "_dx_sum",
        "_mdm",
        "_pdm",
        "_prev",
        "_tr",
        "minus_di",
        "plus_di",
    )

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._prev: tuple[float, float, float] | None = None
        self._bars = 0  # bars seen after the first
        self._pdm = self._mdm = self._tr = 0.0
        self._dx_sum = 0.0
        self._dx_count = 0
        self.plus_di: float | None = None
        self.minus_di: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        high, low, close = float(high), float(low), float(close)
        _check_bar_values(self, high, low, close)
        prev, self._prev = self._prev, (high, low, close)
        if prev is None:
            return None
        prev_high, prev_low, prev_close = prev
        up, down = high - prev_high, prev_low - low
        pdm = up if up > 0 and up > down else 0.0
        mdm = down if down > 0 and up < down else 0.0
        tr = max(high - low, abs(prev_close - high), abs(prev_close - low))
        n = self.period
        self._bars += 1
        if self._bars < n:  # bars 1..n-1 build the first sums
            self._pdm += pdm
            self._mdm += mdm
            self._tr += tr
            return None
        self._pdm = self._pdm - self._pdm / n + pdm
        self._mdm = self._mdm - self._mdm / n + mdm
        self._tr = self._tr - self._tr / n + tr
        dx = self._directional()
        if self.value is not None:
            if dx is not None:
                self.value = (self.value * (n - 1) + dx) / n
            return self.value
        if dx is not None:
            self._dx_sum += dx
        self._dx_count += 1
        if self._dx_count == n:
            self.value = self._dx_sum / n
        return self.value

    def _directional(self) -> float | None:
        """Update the DIs from the Wilder sums; the DX, or None when it is undefined."""
        if self._tr == 0.0:
            self.plus_di = self.minus_di = 0.0
            return None
        self.plus_di = 100.0 * (self._pdm / self._tr)
        self.minus_di = 100.0 * (self._mdm / self._tr)
        total = self.minus_di + self.plus_di
        if total == 0.0:
            return None
        return 100.0 * (abs(self.minus_di - self.plus_di) / total)


class _RollingExtreme(_Indicator):
    """Max (or min) of the last `period` values with a monotonic deque: amortised O(1)."""

    __slots__ = ("_count", "_window")
    _is_max = True

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._window: deque[tuple[int, float]] = deque()
        self._count = 0

    def update(self, x: float) -> float | None:
        x = _finite(self, x)
        window, i = self._window, self._count
        if self._is_max:
            while window and window[-1][1] <= x:
                window.pop()
        else:
            while window and window[-1][1] >= x:
                window.pop()
        window.append((i, x))
        if window[0][0] <= i - self.period:
            window.popleft()
        self._count = i + 1
        if self._count < self.period:
            return None
        self.value = window[0][1]
        return self.value


class RollingHigh(_RollingExtreme):
    """Highest of the last `period` values, the current one included."""

    __slots__ = ()
    _is_max = True


class RollingLow(_RollingExtreme):
    """Lowest of the last `period` values, the current one included."""

    __slots__ = ()
    _is_max = False


class StdDev(_Indicator):
    """Incremental population standard deviation over the last `period` values.

    Sums are kept relative to a reference value (re-based and re-summed exactly once per period),
    which avoids the cancellation of sum(x^2) - n*mean^2 at price levels like 4,000.
    """

    __slots__ = ("_buffer", "_index", "_ref", "_sum", "_sum_sq")

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._buffer: list[float] = []
        self._index = 0
        self._ref = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0

    def update(self, x: float) -> float | None:
        x = _finite(self, x)
        n = self.period
        buffer = self._buffer
        if len(buffer) < n:
            buffer.append(x)
            if len(buffer) < n:
                return None
            self._rebase()
        else:
            i = self._index
            old = buffer[i] - self._ref
            new = x - self._ref
            buffer[i] = x
            self._sum += new - old
            self._sum_sq += new * new - old * old
            i += 1
            if i == n:
                i = 0
                self._rebase()
            self._index = i
        mean = self._sum / n
        self.value = math.sqrt(max(self._sum_sq / n - mean * mean, 0.0))
        return self.value

    def _rebase(self) -> None:
        ref = self._ref = self._buffer[self._index]
        self._sum = math.fsum(v - ref for v in self._buffer)
        self._sum_sq = math.fsum((v - ref) * (v - ref) for v in self._buffer)


class Bollinger:
    """Incremental Bollinger bands: `update` returns (middle, upper, lower) once warm."""

    __slots__ = ("_sma", "_std", "value", "width")

    def __init__(self, period: int, width: float = 2.0) -> None:
        self._sma = Sma(period)
        self._std = StdDev(period)
        self.width = float(width)
        self.value: tuple[float, float, float] | None = None

    @property
    def is_ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> tuple[float, float, float] | None:
        middle = self._sma.update(x)
        spread = self._std.update(x)
        if middle is None or spread is None:
            return None
        spread *= self.width
        self.value = (middle, middle + spread, middle - spread)
        return self.value


class SessionVwap:
    """Incremental VWAP of the typical price; call `reset()` at each session open."""

    __slots__ = ("_pv", "_v", "value")

    def __init__(self) -> None:
        self._pv = 0.0
        self._v = 0.0
        self.value: float | None = None

    @property
    def is_ready(self) -> bool:
        return self.value is not None

    def reset(self) -> None:
        self._pv = self._v = 0.0
        self.value = None

    def update(self, high: float, low: float, close: float, volume: float) -> float | None:
        high, low, close, volume = float(high), float(low), float(close), float(volume)
        _check_bar_values(self, high, low, close)
        if not volume >= 0 or volume - volume:
            raise ValueError(f"volume must be finite and >= 0, got {volume}")
        self._pv += (high + low + close) / 3.0 * volume
        self._v += volume
        if self._v > 0:
            self.value = self._pv / self._v
        return self.value


def atr_distance_value(
    price: float, reference: float | None, atr_value: float | None
) -> float | None:
    """Scalar `atr_distance` for the live path; None when not warm or the ATR is zero."""
    if reference is None or atr_value is None or atr_value <= 0:
        return None
    return (price - reference) / atr_value


# --- bounded-memory forms (what strategies read) -----------------------------------------------
#
# Wilder's and the EMA's smoothing remember every bar they were ever fed: an ATR(14) started 15
# sessions ago and one started years ago differ by ~20% (ES, 2021-11-08: 148.1 vs 181.4 ticks), and
# even after 100 sessions by a few hundredths of a tick, enough to move a rounded stop by one tick
# now and then. So the live desk, which warms up on a few weeks, and the backtester, which carries
# years, would trade differently. The forms below make each value a function of a fixed window:
# the classic recursion above, seeded at the window's first bar and run to the bar the value is for.
# Same window -> same value, bit for bit, whatever came before. The window is `window_length`:
#
# - SMA(n): n bars (it never remembered more);
# - EMA(n): WINDOW_PERIODS * n bars; the seed's weight left at the end is (1 - 2/(n+1))^(4n),
#   ~e^-8: the value is the EMA in all but name;
# - ATR(n), RSI(n), ADX(n): WINDOW_PERIODS * n + 1 bars (WINDOW_PERIODS * n true ranges, changes or
#   directional moves; the first bar only gives the previous close); the seed keeps a weight of
#   (1 - 1/n)^(4n), ~1.7%, of a seed that is itself an average true range (an SMA of n of them).
#
# The array form computes every window at once (one numpy step per bar of the window, across all
# windows); the incremental form keeps the last window and runs the same function on it. Both apply
# the same IEEE operations in the same order to the same numbers, so they agree exactly.

WINDOW_PERIODS = 5
"""A Wilder/EMA value depends on this many periods of bars (see `window_length`)."""

WINDOWED_KINDS = ("atr", "rsi", "sma", "ema", "adx")


def window_length(kind: str, period: int) -> int:
    """How many bars the bounded value at a bar depends on, that bar included."""
    n = _check_period(period)
    if kind == "sma":
        return n
    if kind == "ema":
        return WINDOW_PERIODS * n
    if kind in ("atr", "rsi", "adx"):
        return WINDOW_PERIODS * n + 1
    raise ValueError(f"unknown indicator kind {kind!r}; use {WINDOWED_KINDS}")


def windowed(
    kind: str, period: int, high: ArrayLike, low: ArrayLike, close: ArrayLike
) -> np.ndarray:
    """The bounded value of indicator `kind` at every bar: NaN until a full `window_length`."""
    n = _check_period(period)
    h, lo, c = _hlc(high, low, close)
    size = window_length(kind, n)
    out = _nan(len(c))
    if len(c) < size:
        return out
    if kind in ("sma", "ema"):
        columns = _columns(c, size)
        out[size - 1 :] = _seeded_mean(columns, n) if kind == "sma" else _ema_last(columns, n)
        return out
    steps = size - 1  # per-bar inputs, from the second bar of the window on
    if kind == "atr":
        out[size - 1 :] = _wilder_last(_columns(true_range(h, lo, c)[1:], steps), n)
    elif kind == "rsi":
        change = np.diff(c)
        gain = _wilder_last(_columns(np.maximum(change, 0.0), steps), n)
        loss = _wilder_last(_columns(np.maximum(-change, 0.0), steps), n)
        out[size - 1 :] = _rsi_last(gain, loss)
    else:
        up, down = np.diff(h), -np.diff(lo)
        pdm = np.where((up > 0) & (up > down), up, 0.0)
        mdm = np.where((down > 0) & (up < down), down, 0.0)
        tr = true_range(h, lo, c)[1:]
        out[size - 1 :] = _adx_last(
            _columns(pdm, steps), _columns(mdm, steps), _columns(tr, steps), n
        )
    return out


Column = np.ndarray | float
"""One position in every window: an array across windows, or a float when there is one window
(the live case: plain float arithmetic is ~20x faster there and gives the same IEEE results)."""


def _columns(x: np.ndarray, width: int) -> list[Column]:
    """Column j = the j-th value of every window of `width` values (one window per end index)."""
    if len(x) == width:
        return x.tolist()
    return list(sliding_window_view(x, width).T)


def _where(condition: np.ndarray | bool, a: Column, b: Column) -> Column:
    if isinstance(condition, np.ndarray):
        return np.where(condition, a, b)
    return a if condition else b


def _nonzero(x: Column) -> Column:
    """`x` with zeros replaced by 1, for a division whose result is discarded where x == 0."""
    return _where(x != 0.0, x, 1.0)


def _seeded_mean(columns: list[Column], n: int) -> Column:
    """Mean of the first n columns, summed in order (the seed of every recursion here)."""
    total = columns[0]
    for column in columns[1:n]:
        total = total + column
    return total / n


def _ema_last(columns: list[Column], n: int) -> Column:
    k = 2.0 / (n + 1)
    value = _seeded_mean(columns, n)
    for x in columns[n:]:
        value = (x - value) * k + value
    return value


def _wilder_last(columns: list[Column], n: int) -> Column:
    value = _seeded_mean(columns, n)
    m = n - 1
    for x in columns[n:]:
        value = (value * m + x) / n
    return value


def _rsi_last(gain: Column, loss: Column) -> Column:
    total = gain + loss
    return _where(total != 0.0, 100.0 * gain / _nonzero(total), 50.0)


def _adx_last(pdm: list[Column], mdm: list[Column], tr: list[Column], n: int) -> Column:
    """TA-Lib's ADX recipe (as `dmi`) run over each window; its value at the window's last bar."""
    s_p, s_m, s_t = pdm[0] * 0.0, mdm[0] * 0.0, tr[0] * 0.0
    for j in range(n - 1):
        s_p, s_m, s_t = s_p + pdm[j], s_m + mdm[j], s_t + tr[j]
    adx_value = dx_sum = s_t * 0.0
    m = n - 1
    for j in range(n - 1, len(tr)):
        s_p = s_p - s_p / n + pdm[j]
        s_m = s_m - s_m / n + mdm[j]
        s_t = s_t - s_t / n + tr[j]
        divisor = _nonzero(s_t)
        pdi = 100.0 * (s_p / divisor)
        mdi = 100.0 * (s_m / divisor)
        total = mdi + pdi
        defined = (s_t != 0.0) & (total != 0.0)
        dx = _where(defined, 100.0 * (abs(mdi - pdi) / _nonzero(total)), 0.0)
        step = j - (n - 1)
        if step < m:
            dx_sum = dx_sum + dx
        elif step == m:
            adx_value = (dx_sum + dx) / n
        else:
            adx_value = _where(defined, (adx_value * m + dx) / n, adx_value)
    return adx_value


class Windowed:
    """Incremental bounded-memory indicator: the value `windowed` gives at the latest bar.

    `update(high, low, close)` returns it (None until a full window); RSI, SMA and EMA read the
    close only. It keeps the window's per-bar inputs (true ranges, gains and losses, directional
    moves, closes) and runs the same recursion as `windowed` over them on each update, in float
    arithmetic: O(window) per update, meant for bucketed bars (minutes to sessions).
    """

    __slots__ = ("_inputs", "_prev", "kind", "period", "size", "value")

    def __init__(self, kind: str, period: int) -> None:
        self.kind = kind
        self.period = _check_period(period)
        self.size = window_length(kind, self.period)
        steps = self.size if kind in ("sma", "ema") else self.size - 1
        self._inputs: deque[tuple[float, ...]] = deque(maxlen=steps)
        self._prev: tuple[float, float, float] | None = None
        self.value: float | None = None

    @property
    def is_ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        high, low, close = float(high), float(low), float(close)
        _check_bar_values(self, high, low, close)
        prev, self._prev = self._prev, (high, low, close)
        if self.kind in ("sma", "ema"):
            self._inputs.append((close,))
        elif prev is not None:
            self._inputs.append(self._moves(prev, high, low, close))
        if len(self._inputs) == self._inputs.maxlen:
            self.value = float(self._last(*(list(x) for x in zip(*self._inputs, strict=True))))
        return self.value

    def _moves(
        self, prev: tuple[float, float, float], high: float, low: float, close: float
    ) -> tuple[float, ...]:
        """This bar's inputs to the recursion, as `windowed` derives them (`true_range`, ...)."""
        prev_high, prev_low, prev_close = prev
        tr = max(high - low, abs(high - prev_close), abs(low - prev_close))
        if self.kind == "atr":
            return (tr,)
        if self.kind == "rsi":
            change = close - prev_close
            return (max(change, 0.0), max(-change, 0.0))
        up, down = high - prev_high, -(low - prev_low)
        pdm = up if up > 0 and up > down else 0.0
        mdm = down if down > 0 and up < down else 0.0
        return (pdm, mdm, tr)

    def _last(self, *columns: list[float]) -> Column:
        n = self.period
        if self.kind == "sma":
            return _seeded_mean(columns[0], n)
        if self.kind == "ema":
            return _ema_last(columns[0], n)
        if self.kind == "atr":
            return _wilder_last(columns[0], n)
        if self.kind == "rsi":
            return _rsi_last(_wilder_last(columns[0], n), _wilder_last(columns[1], n))
        return _adx_last(*columns, n)

    def __repr__(self) -> str:
        return f"Windowed({self.kind!r}, period={self.period}, value={self.value})"
