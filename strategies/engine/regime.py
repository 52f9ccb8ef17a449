"""Market-condition filter: classify the regime and say which strategies may open positions.

Regimes, from indicators on ``bar_minutes`` bars:
- ``volatile``: ATR(``atr_fast``) >= ``volatile_ratio`` x ATR(``atr_slow``) (volatility expanding
  fast: news, a crash); nothing may open.
- ``trending``: ADX(``adx_period``) >= ``trend_adx``.
- ``ranging``: ADX <= ``range_adx``.
- ``neutral``: in between; ``unknown`` while the indicators warm up.
Each strategy kind lists the regimes it may open in (``Strategy.regimes``); the manager asks
``allows`` before letting an entry through and records the answer with its reason.
"""

from __future__ import annotations

from decimal import Decimal

from strategies.engine.base import Context, IndicatorSpec
from strategies.engine.params import Param, ParamSchema, ParamValue

TRENDING, RANGING, NEUTRAL, VOLATILE, UNKNOWN = (
    "trending",
    "ranging",
    "neutral",
    "volatile",
    "unknown",
)
REGIMES = (TRENDING, RANGING, NEUTRAL, VOLATILE, UNKNOWN)


def _check(values: dict[str, ParamValue]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if values["range_adx"] > values["trend_adx"]:  # type: ignore[operator]
        errors["range_adx"] = "must not exceed trend_adx"
    if values["atr_fast"] >= values["atr_slow"]:  # type: ignore[operator]
        errors["atr_fast"] = "must be below atr_slow"
    return errors


class MarketRegimeFilter:
    schema = ParamSchema(
        [
            Param("bar_minutes", "int", 15, "Bar size the regime is measured on.", 1, 240),
            Param("adx_period", "int", 14, "ADX period.", 2, 100),
            Param(
                "trend_adx",
                "decimal",
                Decimal(25),
                "Trending at or above this ADX.",
                Decimal(0),
                Decimal(100),
            ),
            Param(
                "range_adx",
                "decimal",
                Decimal(20),
                "Ranging at or below this ADX.",
                Decimal(0),
                Decimal(100),
            ),
            Param("atr_fast", "int", 14, "Short ATR period.", 2, 200),
            Param("atr_slow", "int", 100, "Long ATR period.", 3, 2000),
            Param(
                "volatile_ratio",
                "decimal",
                Decimal(2),
                "Volatile when short/long ATR >= this.",
                Decimal(1),
                Decimal(20),
            ),
        ],
        checks=[_check],
    )

    def __init__(self, params: dict[str, object] | None = None) -> None:
        self.params = self.schema.validate(params)
        p = self.params
        self._trend = float(p["trend_adx"])  # type: ignore[arg-type]
        self._range = float(p["range_adx"])  # type: ignore[arg-type]
        self._ratio = float(p["volatile_ratio"])  # type: ignore[arg-type]

    def indicators(self) -> tuple[IndicatorSpec, ...]:
        p = self.params
        m: int = p["bar_minutes"]  # type: ignore[assignment]
        return (
            IndicatorSpec("adx", "adx", p["adx_period"], m),  # type: ignore[arg-type]
            IndicatorSpec("atr_fast", "atr", p["atr_fast"], m),  # type: ignore[arg-type]
            IndicatorSpec("atr_slow", "atr", p["atr_slow"], m),  # type: ignore[arg-type]
        )

    def classify(self, ctx: Context) -> tuple[str, str]:
        """(regime, reason with the figures) at ``ctx.ts``."""
        adx, fast, slow = ctx.indicator("adx"), ctx.indicator("atr_fast"), ctx.indicator("atr_slow")
        if adx is None or fast is None or slow is None or slow <= 0:
            return UNKNOWN, "indicators warming up"
        ratio = fast / slow
        figures = f"ADX {adx:.1f}, ATR ratio {ratio:.2f}"
        if ratio >= self._ratio:
            return VOLATILE, figures
        if adx >= self._trend:
            return TRENDING, figures
        if adx <= self._range:
            return RANGING, figures
        return NEUTRAL, figures

    def allows(self, regimes: frozenset[str], ctx: Context) -> tuple[bool, str]:
        regime, figures = self.classify(ctx)
        return regime in regimes, f"regime {regime} ({figures})"
