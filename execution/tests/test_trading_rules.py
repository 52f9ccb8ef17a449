"""Pure rules of the order service (no database, no broker): bracket signs and trailing stops."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execution.models import OrderSide
from execution.trading import signed_bracket_ticks, trail_target
from markets.ticks import to_ticks

TICK = Decimal("0.25")
prices = st.integers(min_value=4_000 * 4, max_value=6_000 * 4).map(lambda t: t * TICK)
sides = st.sampled_from([OrderSide.BUY, OrderSide.SELL])


def test_bracket_ticks_are_signed_as_the_live_gateway_requires():
    assert signed_bracket_ticks(OrderSide.BUY, 8, is_stop_loss=True) == -8
    assert signed_bracket_ticks(OrderSide.BUY, 12, is_stop_loss=False) == 12
    assert signed_bracket_ticks(OrderSide.SELL, 8, is_stop_loss=True) == 8
    assert signed_bracket_ticks(OrderSide.SELL, 12, is_stop_loss=False) == -12
    assert signed_bracket_ticks(OrderSide.SELL, None, is_stop_loss=True) is None


def test_a_long_stop_trails_below_the_last_price():
    # A sell stop protects a long: 8 ticks under 5010.00 is 5008.00.
    assert trail_target(
        side=OrderSide.SELL,
        stop_price=Decimal("5000"),
        last_price=Decimal("5010.00"),
        trail_ticks=8,
        tick=TICK,
    ) == Decimal("5008.00")
    assert (
        trail_target(
            side=OrderSide.SELL,
            stop_price=Decimal("5008.25"),
            last_price=Decimal("5010.00"),
            trail_ticks=8,
            tick=TICK,
        )
        is None
    )


@given(
    side=sides,
    stop=prices,
    path=st.lists(prices, min_size=1, max_size=30),
    trail=st.integers(1, 200),
)
def test_a_trailing_stop_never_loosens_and_stays_on_the_grid(side, stop, path, trail):
    direction = 1 if side == OrderSide.SELL else -1
    current = stop
    for last in path:
        target = trail_target(
            side=side, stop_price=current, last_price=last, trail_ticks=trail, tick=TICK
        )
        if target is None:
            continue
        assert (target - current) * direction > 0  # strictly tighter
        assert (last - target) * direction == trail * TICK  # exactly `trail` ticks behind
        to_ticks(target, TICK)  # on the tick grid (raises OffTick otherwise)
        current = target
    assert (current - stop) * direction >= 0
