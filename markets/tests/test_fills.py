import pytest
from hypothesis import given
from hypothesis import strategies as st

from markets.fills import (
    STOP_LOSS,
    TAKE_PROFIT,
    InvalidBar,
    OrderKind,
    Side,
    bracket_exit,
    check_bar,
    fill_on_path,
    fill_price,
    intrabar_path,
    trail_initial_level,
    trail_stop_level,
    trailing_stop_step,
    with_slippage,
)

BUY, SELL = Side.BUY, Side.SELL
# A bar in ticks: open 100, high 110, low 95, close 105.
BAR = (100, 110, 95, 105)


@st.composite
def bars(draw):
    low = draw(st.integers(-1000, 1000))
    high = low + draw(st.integers(0, 60))
    o = draw(st.integers(low, high))
    c = draw(st.integers(low, high))
    return o, high, low, c


levels = st.integers(-1100, 1100)
sides = st.sampled_from([BUY, SELL])


def test_side_and_kind_mirror_the_gateway_enums():
    assert (int(Side.BUY), int(Side.SELL)) == (0, 1)
    assert Side.BUY.opposite is Side.SELL
    assert [int(k) for k in (OrderKind.LIMIT, OrderKind.MARKET, OrderKind.STOP)] == [1, 2, 4]
    assert int(OrderKind.TRAILING_STOP) == 5


def test_check_bar_rejects_a_high_below_the_close():
    with pytest.raises(InvalidBar, match="o=100 h=104 l=95 c=105"):
        check_bar(100, 104, 95, 105)


def test_check_bar_accepts_a_valid_bar():
    check_bar(*BAR)


# Rule 2: market
@pytest.mark.parametrize("side", [BUY, SELL])
def test_market_order_fills_at_the_open(side):
    assert fill_price(OrderKind.MARKET, side, *BAR) == 100


# Rule 3: limit
def test_limit_buy_fills_at_limit_when_low_reaches_it():
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=97) == 97


def test_limit_buy_fills_on_a_touch_of_the_low():
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=95) == 95


def test_limit_buy_touch_does_not_fill_when_trade_through_required():
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=95, touch_fills=False) is None
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=96, touch_fills=False) == 96


def test_limit_buy_does_not_fill_above_the_low():
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=94) is None


def test_limit_buy_gapped_through_fills_at_the_better_open():
    assert fill_price(OrderKind.LIMIT, BUY, *BAR, limit_ticks=103) == 100


def test_limit_sell_fills_at_limit_when_high_reaches_it():
    assert fill_price(OrderKind.LIMIT, SELL, *BAR, limit_ticks=108) == 108


def test_limit_sell_does_not_fill_below_the_high():
    assert fill_price(OrderKind.LIMIT, SELL, *BAR, limit_ticks=111) is None


def test_limit_sell_gapped_through_fills_at_the_better_open():
    assert fill_price(OrderKind.LIMIT, SELL, *BAR, limit_ticks=98) == 100


def test_limit_sell_touch_rules():
    assert fill_price(OrderKind.LIMIT, SELL, *BAR, limit_ticks=110) == 110
    assert fill_price(OrderKind.LIMIT, SELL, *BAR, limit_ticks=110, touch_fills=False) is None


# Rule 4: stop
def test_stop_buy_fills_at_the_stop_when_high_reaches_it():
    assert fill_price(OrderKind.STOP, BUY, *BAR, stop_ticks=108) == 108


def test_stop_buy_fills_on_a_touch_of_the_high():
    assert fill_price(OrderKind.STOP, BUY, *BAR, stop_ticks=110) == 110


def test_stop_buy_does_not_fill_above_the_high():
    assert fill_price(OrderKind.STOP, BUY, *BAR, stop_ticks=111) is None


def test_stop_buy_gapped_through_fills_at_the_worse_open():
    assert fill_price(OrderKind.STOP, BUY, *BAR, stop_ticks=98) == 100


def test_stop_sell_fills_at_the_stop_when_low_reaches_it():
    assert fill_price(OrderKind.STOP, SELL, *BAR, stop_ticks=97) == 97


def test_stop_sell_does_not_fill_below_the_low():
    assert fill_price(OrderKind.STOP, SELL, *BAR, stop_ticks=94) is None


def test_stop_sell_gapped_through_fills_at_the_worse_open():
    assert fill_price(OrderKind.STOP, SELL, *BAR, stop_ticks=103) == 100


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        (OrderKind.LIMIT, {}, "a LIMIT order needs limit_ticks"),
        (OrderKind.STOP, {}, "a STOP order needs stop_ticks"),
        (OrderKind.TRAILING_STOP, {}, "a TRAILING_STOP order needs stop_ticks"),
        (7, {}, "unsupported order kind 7"),
    ],
)
def test_fill_price_rejects_missing_levels_and_unknown_kinds(kind, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fill_price(kind, BUY, *BAR, **kwargs)


# Rule 5: trailing stop
def test_trail_initial_level_sits_behind_the_reference():
    assert trail_initial_level(SELL, 100, 8) == 92
    assert trail_initial_level(BUY, 100, 8) == 108


def test_trail_initial_level_rejects_a_non_positive_distance():
    with pytest.raises(ValueError, match="trail distance must be a positive number of ticks"):
        trail_initial_level(SELL, 100, 0)


def test_sell_trailing_level_ratchets_up_from_the_high():
    assert trail_stop_level(SELL, 92, 110, 95, 8) == 102


def test_sell_trailing_level_never_loosens():
    assert trail_stop_level(SELL, 105, 110, 95, 8) == 105


def test_buy_trailing_level_ratchets_down_from_the_low():
    assert trail_stop_level(BUY, 108, 110, 95, 8) == 103
    assert trail_stop_level(BUY, 101, 110, 95, 8) == 101


def test_trailing_fill_is_checked_against_the_level_at_bar_start_before_ratcheting():
    # Long protected at 92 (trail 8). The bar rallies to 110 (real trail would move to 102) then
    # falls to 95: the conservative rule checks 92 only, so no fill; the level moves to 102.
    assert trailing_stop_step(SELL, 92, *BAR[:3], 8) == (None, 102)


def test_trailing_stop_fills_at_the_level_in_force():
    assert trailing_stop_step(SELL, 97, 100, 110, 95, 8) == (97, 97)


def test_trailing_stop_gap_through_fills_at_the_open():
    assert trailing_stop_step(SELL, 102, 100, 110, 95, 8) == (100, 102)
    assert fill_price(OrderKind.TRAILING_STOP, SELL, *BAR, stop_ticks=102) == 100


def test_trailing_stop_over_bars_exits_after_the_ratchet():
    level, trail = trail_initial_level(SELL, 100, 4), 4
    fill, level = trailing_stop_step(SELL, level, 100, 106, 99, trail)
    assert (fill, level) == (None, 102)
    fill, level = trailing_stop_step(SELL, level, 105, 109, 104, trail)
    assert (fill, level) == (None, 105)
    fill, _ = trailing_stop_step(SELL, level, 107, 107, 101, trail)
    assert fill == 105


# Rule 6: brackets
def test_long_bracket_takes_stop_loss_when_low_reaches_it():
    assert bracket_exit(BUY, *BAR, stop_ticks=96, target_ticks=120) == (STOP_LOSS, 96)


def test_long_bracket_takes_profit_when_high_reaches_it():
    assert bracket_exit(BUY, *BAR, stop_ticks=90, target_ticks=108) == (TAKE_PROFIT, 108)


def test_long_bracket_both_touched_takes_the_stop_loss():
    assert bracket_exit(BUY, *BAR, stop_ticks=96, target_ticks=108) == (STOP_LOSS, 96)


def test_short_bracket_both_touched_takes_the_stop_loss():
    assert bracket_exit(SELL, *BAR, stop_ticks=108, target_ticks=96) == (STOP_LOSS, 108)


def test_bracket_untouched_stays_open():
    assert bracket_exit(BUY, *BAR, stop_ticks=90, target_ticks=120) is None
    assert bracket_exit(SELL, *BAR, stop_ticks=120, target_ticks=90) is None


def test_long_bracket_gap_below_stop_fills_at_the_open():
    assert bracket_exit(BUY, *BAR, stop_ticks=102, target_ticks=120) == (STOP_LOSS, 100)


def test_long_bracket_gap_above_target_fills_at_the_better_open():
    assert bracket_exit(BUY, *BAR, stop_ticks=90, target_ticks=99) == (TAKE_PROFIT, 100)


def test_short_bracket_gap_above_stop_fills_at_the_open():
    assert bracket_exit(SELL, *BAR, stop_ticks=98, target_ticks=80) == (STOP_LOSS, 100)


def test_bracket_with_only_one_leg():
    assert bracket_exit(BUY, *BAR, stop_ticks=None, target_ticks=108) == (TAKE_PROFIT, 108)
    assert bracket_exit(BUY, *BAR, stop_ticks=96, target_ticks=None) == (STOP_LOSS, 96)
    assert bracket_exit(BUY, *BAR, stop_ticks=None, target_ticks=None) is None


def test_bracket_both_touched_follows_the_path_when_given():
    # Close < open: O -> H -> L -> C, so the high (target) comes first.
    down_bar = (100, 110, 95, 97)
    path = intrabar_path(*down_bar)
    assert bracket_exit(BUY, *down_bar, stop_ticks=96, target_ticks=108, path=path) == (
        TAKE_PROFIT,
        108,
    )
    # Close >= open: O -> L -> H -> C, the stop comes first.
    path = intrabar_path(*BAR)
    assert bracket_exit(BUY, *BAR, stop_ticks=96, target_ticks=108, path=path) == (STOP_LOSS, 96)


def test_bracket_on_a_path_gapping_through_the_stop_fills_at_the_first_price():
    assert bracket_exit(BUY, *BAR, stop_ticks=102, target_ticks=120, path=(100, 95, 110)) == (
        STOP_LOSS,
        100,
    )


def test_bracket_rejects_a_stop_on_the_winning_side():
    with pytest.raises(ValueError, match="bracket stop 110 must be on the losing side of target"):
        bracket_exit(BUY, *BAR, stop_ticks=110, target_ticks=105)


def test_bracket_rejects_an_empty_path():
    with pytest.raises(ValueError, match="at least one price"):
        bracket_exit(BUY, *BAR, stop_ticks=90, target_ticks=120, path=())


# Rule 7: intrabar path
def test_intrabar_path_up_bar_visits_low_first():
    assert intrabar_path(100, 110, 95, 105) == (100, 95, 110, 105)


def test_intrabar_path_down_bar_visits_high_first():
    assert intrabar_path(100, 110, 95, 97) == (100, 110, 95, 97)


def test_intrabar_path_flat_bar_counts_as_up():
    assert intrabar_path(100, 101, 99, 100) == (100, 99, 101, 100)


def test_fill_on_path_crossing_fills_at_the_level():
    assert fill_on_path(OrderKind.STOP, BUY, (100, 95, 110, 105), stop_ticks=108) == 108
    assert fill_on_path(OrderKind.LIMIT, BUY, (100, 95, 110, 105), limit_ticks=97) == 97
    assert fill_on_path(OrderKind.MARKET, SELL, (100, 95)) == 100
    assert fill_on_path(OrderKind.LIMIT, SELL, (100, 95), limit_ticks=101) is None


def test_fill_on_path_rejects_an_empty_path():
    with pytest.raises(ValueError, match="at least one price"):
        fill_on_path(OrderKind.MARKET, BUY, ())


def test_slippage_is_always_against_the_trader():
    assert with_slippage(BUY, 100, 1) == 101
    assert with_slippage(SELL, 100, 1) == 99


# Properties
@given(bar=bars(), side=sides, kind=st.sampled_from(list(OrderKind)), level=levels)
def test_any_fill_lies_within_the_bar(bar, side, kind, level):
    price = fill_price(kind, side, *bar, limit_ticks=level, stop_ticks=level)
    _, high, low, _ = bar
    assert price is None or low <= price <= high


@given(bar=bars(), level=levels, touch=st.booleans())
def test_a_limit_never_fills_worse_than_its_limit(bar, level, touch):
    buy = fill_price(OrderKind.LIMIT, BUY, *bar, limit_ticks=level, touch_fills=touch)
    sell = fill_price(OrderKind.LIMIT, SELL, *bar, limit_ticks=level, touch_fills=touch)
    assert buy is None or buy <= level
    assert sell is None or sell >= level


@given(bar=bars(), level=levels)
def test_a_stop_never_fills_better_than_its_stop(bar, level):
    buy = fill_price(OrderKind.STOP, BUY, *bar, stop_ticks=level)
    sell = fill_price(OrderKind.STOP, SELL, *bar, stop_ticks=level)
    assert buy is None or buy >= level
    assert sell is None or sell <= level


@given(bar=bars(), level=levels)
def test_a_stop_fills_exactly_when_the_bar_reaches_it(bar, level):
    _, high, low, _ = bar
    assert (fill_price(OrderKind.STOP, BUY, *bar, stop_ticks=level) is not None) == (high >= level)
    assert (fill_price(OrderKind.STOP, SELL, *bar, stop_ticks=level) is not None) == (low <= level)


@given(bar=bars(), side=sides, kind=st.sampled_from(list(OrderKind)), level=levels)
def test_fill_on_the_intrabar_path_agrees_with_the_bar_rules(bar, side, kind, level):
    on_bar = fill_price(kind, side, *bar, limit_ticks=level, stop_ticks=level)
    on_path = fill_on_path(kind, side, intrabar_path(*bar), limit_ticks=level, stop_ticks=level)
    assert on_path == on_bar


@given(bar=bars(), side=sides, level=levels)
def test_buy_and_sell_rules_mirror_each_other(bar, side, level):
    open_, high, low, close = bar
    mirrored = (-open_, -low, -high, -close)
    for kind in (OrderKind.LIMIT, OrderKind.STOP):
        price = fill_price(kind, side, *bar, limit_ticks=level, stop_ticks=level)
        other = fill_price(kind, side.opposite, *mirrored, limit_ticks=-level, stop_ticks=-level)
        assert other == (None if price is None else -price)


@given(bar=bars(), level=levels, trail=st.integers(1, 40), side=sides)
def test_trailing_level_never_moves_against_the_position(bar, level, trail, side):
    _, high, low, _ = bar
    new = trail_stop_level(side, level, high, low, trail)
    assert new >= level if side == SELL else new <= level


@given(bar=bars(), entry_offset=st.integers(1, 30), width=st.integers(1, 30), side=sides)
def test_bracket_agrees_with_path_unless_both_legs_touch(bar, entry_offset, width, side):
    open_, high, low, _ = bar
    sign = 1 if side == BUY else -1
    stop = open_ - sign * entry_offset
    target = open_ + sign * width
    plain = bracket_exit(side, *bar, stop_ticks=stop, target_ticks=target)
    on_path = bracket_exit(
        side, *bar, stop_ticks=stop, target_ticks=target, path=intrabar_path(*bar)
    )
    both = low <= min(stop, target) and high >= max(stop, target)
    if not both:
        assert plain == on_path
    else:
        assert plain is not None
        assert plain[0] == STOP_LOSS
        assert on_path is not None
    if plain is not None:
        assert low <= plain[1] <= high


paths = st.lists(st.integers(-1000, 1000), min_size=1, max_size=30)


@given(path=paths, side=sides, level=levels, touch=st.booleans())
def test_a_fill_on_any_path_respects_its_level_and_the_path_range(path, side, level, touch):
    limit = fill_on_path(OrderKind.LIMIT, side, path, limit_ticks=level, touch_fills=touch)
    stop = fill_on_path(OrderKind.STOP, side, path, stop_ticks=level)
    for price in (limit, stop):
        assert price is None or min(path) <= price <= max(path)
    if side == BUY:
        assert limit is None or limit <= level
        assert stop is None or stop >= level
    else:
        assert limit is None or limit >= level
        assert stop is None or stop <= level


@given(path=paths, side=sides, level=levels)
def test_a_stop_on_a_path_fills_exactly_when_the_path_reaches_it(path, side, level):
    stop = fill_on_path(OrderKind.STOP, side, path, stop_ticks=level)
    reached = max(path) >= level if side == BUY else min(path) <= level
    assert (stop is not None) == reached


@given(bar=bars(), side=sides, start=levels, trail=st.integers(1, 40))
def test_trailing_step_fills_like_a_stop_at_the_starting_level(bar, side, start, trail):
    open_, high, low, _ = bar
    filled, level = trailing_stop_step(side, start, open_, high, low, trail)
    assert filled == fill_price(OrderKind.STOP, side, *bar, stop_ticks=start)
    if filled is None:
        assert level == trail_stop_level(side, start, high, low, trail)
