"""Trend Following: moving-average crossover with an ATR trailing stop, for trending markets.

Rules, evaluated at the close of each ``bar_minutes`` bar (ET window as for mean reversion):
- Long when the fast EMA crosses above the slow EMA and ADX(``adx_period``) >= ``min_adx`` (the
  trend-strength filter); short on the opposite cross when ``allow_short``.
- Entry at market (fills at the next bar's open); initial stop ``trail_atr`` x ATR from the fill;
  optional take-profit ``target_atr`` x ATR (0 = none).
- Trailing: at each bar close the stop moves to the best price since entry minus ``trail_atr`` x ATR
  (plus for shorts), only ever in the position's favour.
- The opposite cross closes the position; no entries outside [``trade_start``, ``trade_end``);
  flatten at ``flatten_at``; at most ``max_trades_per_day`` entries a day.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from markets.fills import OrderKind, Side
from strategies.engine.base import Context, IndicatorSpec, Strategy, Wake
from strategies.engine.common import TradingWindow, check_window, next_boundary
from strategies.engine.events import (
    Bars,
    Clock,
    Event,
    Fill,
    OrderUpdate,
    SessionClose,
    SessionOpen,
)
from strategies.engine.intents import Flatten, Intent, ModifyStop, PlaceBracket
from strategies.engine.params import Param, ParamSchema, ParamValue


def _check(values: dict[str, ParamValue]) -> dict[str, str]:
    errors = check_window(values)
    if values["fast_period"] >= values["slow_period"]:  # type: ignore[operator]
        errors["fast_period"] = "must be below slow_period"
    return errors


class TrendFollowing(Strategy):
    kind = "trend_following"
    regimes = frozenset({"trending"})
    schema = ParamSchema(
        [
            Param("bar_minutes", "int", 15, "Bar size the signals are computed on.", 1, 240),
            Param("fast_period", "int", 9, "Fast EMA period.", 2, 200),
            Param("slow_period", "int", 21, "Slow EMA period.", 3, 500),
            Param("adx_period", "int", 14, "ADX period (Wilder).", 2, 100),
            Param(
                "min_adx",
                "decimal",
                Decimal(20),
                "Enter only when ADX is at least this.",
                Decimal(0),
                Decimal(100),
            ),
            Param("atr_period", "int", 14, "ATR period (Wilder).", 2, 200),
            Param(
                "trail_atr",
                "decimal",
                Decimal(2),
                "Trailing stop distance in ATR.",
                Decimal("0.1"),
                Decimal(20),
            ),
            Param(
                "target_atr",
                "decimal",
                Decimal(0),
                "Take-profit in ATR; 0 = none.",
                Decimal(0),
                Decimal(50),
            ),
            Param("allow_short", "bool", True, "Also trade the downward cross."),
            Param("trade_start", "time", time(9, 45), "No entries before (ET)."),
            Param("trade_end", "time", time(15, 0), "No entries from (ET)."),
            Param("flatten_at", "time", time(15, 55), "Position closed (ET)."),
            Param("max_trades_per_day", "int", 2, "Entries allowed per trading date.", 1, 50),
            Param("qty", "int", 1, "Contracts per entry.", 1, 50),
        ],
        checks=[_check],
    )

    def __init__(self, params: dict[str, object] | None = None) -> None:
        super().__init__(params)
        self._minutes: int = self.params["bar_minutes"]  # type: ignore[assignment]
        self._trail = float(self.params["trail_atr"])  # type: ignore[arg-type]
        self._window: TradingWindow | None = None
        self._due = 0
        self._last_sign = 0  # sign of fast - slow at the previous evaluation
        self._trades = 0
        self._flatten_done = False
        self._tag: str | None = None  # working or open bracket
        self._side: Side | None = None  # set while a position is open
        self._best = 0  # best price since entry
        self._stop = 0

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        p, m = self.params, self._minutes
        return (
            IndicatorSpec("fast", "ema", p["fast_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("slow", "ema", p["slow_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("adx", "adx", p["adx_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("atr", "atr", p["atr_period"], m),  # type: ignore[arg-type]
        )

    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        if isinstance(event, Bars):
            if self._side is not None:
                self._best = (
                    max(self._best, event.high)
                    if self._side == Side.BUY
                    else min(self._best, event.low)
                )
            if self._window is not None and event.end_ts >= self._due:
                return self._evaluate(ctx, event.end_ts)
            return []
        if isinstance(event, Clock):
            if self._window is None:
                return []
            if event.ts >= self._window.flatten_ts:
                self._flatten_done = True
                if self._tag is not None:
                    return [Flatten("flatten time")]
                return []
            return self._evaluate(ctx, event.ts) if event.ts >= self._due else []
        if isinstance(event, Fill):
            if event.role == "entry":
                self._trades += 1
                self._side = event.side
                self._best = event.price
                atr = ctx.indicator("atr") or 0.0
                dist = max(1, round(self._trail * atr))
                self._stop = event.price - dist if event.side == Side.BUY else event.price + dist
            elif event.tag == self._tag:
                self._tag, self._side = None, None
            return []
        if isinstance(event, OrderUpdate):
            if event.tag == self._tag and self._side is None:
                self._tag = None
            return []
        if isinstance(event, SessionOpen):
            p = self.params
            self._window = TradingWindow(
                event.trading_date,
                p["trade_start"],
                p["trade_end"],  # type: ignore[arg-type]
                p["flatten_at"],
            )  # type: ignore[arg-type]
            self._trades = 0
            self._flatten_done = False
            self._due = next_boundary(event.ts, self._minutes)
        elif isinstance(event, SessionClose):
            self._window = None
        return []

    def _evaluate(self, ctx: Context, now: int) -> list[Intent]:
        self._due = next_boundary(now, self._minutes)
        fast, slow, adx, atr = (ctx.indicator(n) for n in ("fast", "slow", "adx", "atr"))
        if fast is None or slow is None or adx is None or atr is None or atr <= 0:
            return []
        sign = (fast > slow) - (fast < slow)
        crossed = sign != 0 and self._last_sign != 0 and sign != self._last_sign
        self._last_sign = sign if sign != 0 else self._last_sign
        if self._side is not None and self._tag is not None:
            if crossed:
                return [
                    Flatten(f"opposite cross (fast {ctx.price(fast)} / slow {ctx.price(slow)})")
                ]
            return self._trail_stop(atr, ctx)
        window = self._window
        p = self.params
        if (
            not crossed
            or self._tag is not None
            or window is None
            or not window.is_open(now)
            or self._trades >= p["max_trades_per_day"]  # type: ignore[operator]
            or adx < float(p["min_adx"])  # type: ignore[arg-type]
            or (sign < 0 and not p["allow_short"])
        ):
            return []
        side = Side.BUY if sign > 0 else Side.SELL
        sl = max(1, round(self._trail * atr))
        target = float(p["target_atr"])  # type: ignore[arg-type]
        tp = max(1, round(target * atr)) if target > 0 else None
        tag = f"{window.trading_date.isoformat()}#{self._trades + 1}"
        self._tag = tag
        why = f"EMA cross {'up' if sign > 0 else 'down'}, ADX {adx:.1f}"
        return [PlaceBracket(tag, side, p["qty"], OrderKind.MARKET, None, sl, tp, why)]  # type: ignore[arg-type]

    def _trail_stop(self, atr: float, ctx: Context) -> list[Intent]:
        dist = max(1, round(self._trail * atr))
        if self._side == Side.BUY:
            new = self._best - dist
            if new <= self._stop:
                return []
        else:
            new = self._best + dist
            if new >= self._stop:
                return []
        self._stop = new
        why = f"trail {ctx.price(dist)} from {ctx.price(self._best)}"
        return [ModifyStop(self._tag, new, why)]  # type: ignore[arg-type]

    def wake(self, ctx: Context) -> Wake:
        window = self._window
        if window is None:
            return Wake()
        candidates = [self._due] if self._due > ctx.ts else []
        if not self._flatten_done:
            candidates.append(window.flatten_ts)  # may equal now: it still has to fire
        return Wake(at=min(candidates) if candidates else None)
