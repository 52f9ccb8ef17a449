"""The strategy kinds the platform knows, by the name stored in ``StrategyConfig.kind``."""

from __future__ import annotations

from strategies.engine.base import Strategy
from strategies.engine.mean_reversion import MeanReversion
from strategies.engine.orb import OvernightRangeBreakout
from strategies.engine.trend_following import TrendFollowing

STRATEGY_KINDS: dict[str, type[Strategy]] = {
    OvernightRangeBreakout.kind: OvernightRangeBreakout,
    MeanReversion.kind: MeanReversion,
    TrendFollowing.kind: TrendFollowing,
}


class UnknownStrategyKind(ValueError):
    """No strategy is registered under that kind."""


def build_strategy(kind: str, params: dict[str, object] | None = None) -> Strategy:
    """A fresh strategy of ``kind`` with validated ``params`` (raises ``ParameterError``)."""
    cls = STRATEGY_KINDS.get(kind)
    if cls is None:
        raise UnknownStrategyKind(
            f"unknown strategy kind {kind!r}; known: {sorted(STRATEGY_KINDS)}"
        )
    return cls(params)
