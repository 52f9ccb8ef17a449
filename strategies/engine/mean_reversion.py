"""Mean Reversion: fade stretched moves in ranging markets.

Rules, evaluated at the close of each ``bar_minutes`` bar inside the trading window (ET):
- Long when RSI(``rsi_period``) <= ``oversold`` and the close is at least ``min_distance_atr`` ATRs
  below the SMA(``ma_period``); short when RSI >= ``overbought`` and the close is that far above.
- Entry at market (it fills at the next bar's open), stop-loss ``stop_atr`` x ATR, take-profit
  ``target_atr`` x ATR from the fill.
- No new position outside [``trade_start``, ``trade_end``); at ``flatten_at`` the position is closed.
  At most ``max_trades_per_day`` entries a day.
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
from strategies.engine.intents import Flatten, Intent, PlaceBracket
from strategies.engine.params import Param, ParamSchema, ParamValue


def _check(values: dict[str, ParamValue]) -> dict[str, str]:
    errors = check_window(values)
    if values["oversold"] >= values["overbought"]:  # type: ignore[operator]
        errors["oversold"] = "must be below overbought"
    return errors


class MeanReversion(Strategy):
    kind = "mean_reversion"
    regimes = frozenset({"ranging"})
    schema = ParamSchema(
        [
            Param("bar_minutes", "int", 5, "Bar size the signals are computed on.", 1, 240),
            Param("rsi_period", "int", 14, "RSI period (Wilder).", 2, 200),
            Param(
                "oversold",
                "decimal",
                Decimal(30),
                "Buy at or below this RSI.",
                Decimal(1),
                Decimal(50),
            ),
            Param(
                "overbought",
                "decimal",
                Decimal(70),
                "Sell at or above this RSI.",
                Decimal(50),
                Decimal(99),
            ),
            Param("ma_period", "int", 20, "Moving average the price reverts to.", 2, 500),
            Param("atr_period", "int", 14, "ATR period (Wilder).", 2, 200),
            Param(
                "min_distance_atr",
                "decimal",
                Decimal("1.5"),
                "Distance from the MA, in ATR, needed to enter.",
                Decimal(0),
                Decimal(20),
            ),
            Param(
                "stop_atr",
                "decimal",
                Decimal("1.5"),
                "Stop-loss distance in ATR.",
                Decimal("0.1"),
                Decimal(20),
            ),
            Param(
                "target_atr",
                "decimal",
                Decimal("1.5"),
                "Take-profit distance in ATR.",
                Decimal("0.1"),
                Decimal(20),
            ),
            Param("trade_start", "time", time(9, 45), "No entries before (ET)."),
            Param("trade_end", "time", time(15, 0), "No entries from (ET)."),
            Param("flatten_at", "time", time(15, 55), "Position closed (ET)."),
            Param("max_trades_per_day", "int", 3, "Entries allowed per trading date.", 1, 50),
            Param("qty", "int", 1, "Contracts per entry.", 1, 50),
        ],
        checks=[_check],
    )

    def __init__(self, params: dict[str, object] | None = None) -> None:
        super().__init__(params)
        p = self.params
        self._minutes: int = p["bar_minutes"]  # type: ignore[assignment]
        self._window: TradingWindow | None = None
        self._due = 0
        self._close = 0
        self._flat = True
        self._working: str | None = None
        self._trades = 0
        self._flatten_done = False

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        p, m = self.params, self._minutes
        return (
            IndicatorSpec("rsi", "rsi", p["rsi_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("ma", "sma", p["ma_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("atr", "atr", p["atr_period"], m),  # type: ignore[arg-type]
        )

    def on_event(self, event: Event, ctx: Context) -> list[Intent]:
        if isinstance(event, Bars):
            self._close = event.close
            if self._window is not None and event.end_ts >= self._due:
                return self._signal(ctx, event.end_ts)
            return []
        if isinstance(event, Clock):
            if self._window is None:
                return []
            if event.ts >= self._window.flatten_ts:
                self._flatten_done = True
                if not self._flat or self._working:
                    self._working = None
                    return [Flatten("flatten time")]
                return []
            return self._signal(ctx, event.ts) if event.ts >= self._due else []
        if isinstance(event, Fill):
            if event.role == "entry":
                self._flat, self._working = False, None
                self._trades += 1
            else:
                self._flat = True
            return []
        if isinstance(event, OrderUpdate):
            if event.tag == self._working:
                self._working = None
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

    def _signal(self, ctx: Context, now: int) -> list[Intent]:
        self._due = next_boundary(now, self._minutes)
        window = self._window
        p = self.params
        if (
            window is None
            or not window.is_open(now)
            or not self._flat
            or self._working
            or self._trades >= p["max_trades_per_day"]  # type: ignore[operator]
        ):
            return []
        rsi, ma, atr = ctx.indicator("rsi"), ctx.indicator("ma"), ctx.indicator("atr")
        if rsi is None or ma is None or atr is None or atr <= 0:
            return []
        distance = (self._close - ma) / atr
        need = float(p["min_distance_atr"])  # type: ignore[arg-type]
        side = None
        if rsi <= float(p["oversold"]) and distance <= -need:  # type: ignore[arg-type]
            side = Side.BUY
        elif rsi >= float(p["overbought"]) and distance >= need:  # type: ignore[arg-type]
            side = Side.SELL
        if side is None:
            return []
        sl = max(1, round(float(p["stop_atr"]) * atr))  # type: ignore[arg-type]
        tp = max(1, round(float(p["target_atr"]) * atr))  # type: ignore[arg-type]
        tag = f"{window.trading_date.isoformat()}#{self._trades + 1}"
        self._working = tag
        why = f"RSI {rsi:.1f}, {distance:+.2f} ATR from the MA"
        return [PlaceBracket(tag, side, p["qty"], OrderKind.MARKET, None, sl, tp, why)]  # type: ignore[arg-type]

    def wake(self, ctx: Context) -> Wake:
        # Every bar boundary, in or out of the window, so bar-by-bar and skipping runs evaluate at
        # the same instants; past the window (or the day's quota) with no position, nothing.
        window = self._window
        if window is None:
            return Wake()
        now = ctx.ts
        done = now >= window.end_ts or self._trades >= self.params["max_trades_per_day"]  # type: ignore[operator]
        if self._flat and not self._working and done:
            return Wake()
        candidates = [self._due] if self._due > now else []
        if not self._flatten_done:
            candidates.append(window.flatten_ts)  # may equal now: it still has to fire
        return Wake(at=min(candidates) if candidates else None)
