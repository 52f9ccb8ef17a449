"""The pure cross-account rules and protections of execution/risk.py (its last section):
hedging across accounts, the protections (losing trades, drawdown from the day's high, loss streak
with a cooldown) and which change of a limit loosens it."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from execution import risk
from markets.fills import Side

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
DAY_ENDS = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)  # 17:00 ET


def order(contract: str, side: Side) -> risk.ProposedOrder:
    return risk.ProposedOrder(contract=contract, side=side, size=1)


def trades(*results: str, start: datetime = NOW - timedelta(hours=1)) -> list[risk.ClosedTrade]:
    return [
        risk.ClosedTrade(start + timedelta(minutes=i), Decimal(r)) for i, r in enumerate(results)
    ]


# --- hedging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contract", "family"),
    [
        ("ES", "ES"),
        ("MES", "ES"),
        ("CON.F.US.MES.Z26", "ES"),
        ("CON.F.US.EP.Z26", "ES"),
        ("MNQ", "NQ"),
        ("NQ", "NQ"),
        ("GC", "GC"),
        ("CON.F.US.ZZZ.Z26", "CON.F.US.ZZZ.Z26"),  # unknown: its own product
    ],
)
def test_a_micro_and_its_mini_are_one_product(contract, family):
    assert risk.product_family(contract) == family


def test_an_entry_opposite_another_account_on_the_same_product_is_refused():
    siblings = [("TC-2", "CON.F.US.EP.Z26", 2)]
    for contract in ("CON.F.US.EP.Z26", "CON.F.US.MES.Z26", "CON.F.US.EP.H27"):
        found = risk.hedge_violation(order(contract, Side.SELL), siblings)
        assert found is not None
        assert found.code == risk.GuardCode.HEDGE_ACROSS_ACCOUNTS
        assert "TC-2 holds +2 CON.F.US.EP.Z26" in found.message
        assert "on ES" in found.message


def test_the_same_direction_or_another_product_is_no_hedge():
    siblings = [("TC-2", "CON.F.US.EP.Z26", 2), ("TC-3", "CON.F.US.ENQ.Z26", 0)]
    assert risk.hedge_violation(order("CON.F.US.MES.Z26", Side.BUY), siblings) is None
    assert risk.hedge_violation(order("CON.F.US.ENQ.Z26", Side.SELL), siblings) is None
    assert risk.hedge_violation(order("CON.F.US.MNQ.Z26", Side.SELL), []) is None


def test_every_sibling_position_counts_even_under_one_account_name():
    siblings = [("Same", "CON.F.US.EP.Z26", 1), ("Same", "CON.F.US.EP.Z26", -1)]
    assert risk.hedge_violation(order("ES", Side.BUY), siblings) is not None
    assert risk.hedge_violation(order("ES", Side.SELL), siblings) is not None


@given(
    net=st.integers(-20, 20).filter(bool),
    buy=st.booleans(),
    micro=st.booleans(),
)
def test_a_hedge_is_refused_exactly_when_the_directions_are_opposite(net, buy, micro):
    proposed = order("MES" if micro else "ES", Side.BUY if buy else Side.SELL)
    found = risk.hedge_violation(proposed, [("other", "CON.F.US.EP.Z26", net)])
    assert (found is not None) == ((net > 0) != buy)


# --- protections -----------------------------------------------------------------------------------


def test_protections_refuse_nonsense():
    with pytest.raises(ValueError, match="max_losing_trades"):
        risk.Protections(max_losing_trades=0)
    with pytest.raises(ValueError, match="max_drawdown_usd"):
        risk.Protections(max_drawdown_usd=Decimal("-1"))
    with pytest.raises(ValueError, match="cooldown"):
        risk.Protections(loss_streak=2, cooldown=timedelta(minutes=-1))
    assert not risk.Protections().any_on
    assert risk.Protections(loss_streak=2).any_on


def test_no_protection_configured_stops_nothing():
    found = risk.protection_stop(
        risk.Protections(), trades("-100", "-100", "-100"), Decimal("-500"), NOW, DAY_ENDS
    )
    assert found is None


def test_the_nth_losing_trade_stops_the_day():
    protections = risk.Protections(max_losing_trades=2)
    assert risk.protection_stop(protections, trades("-50", "80"), Decimal(0), NOW, DAY_ENDS) is None
    found = risk.protection_stop(protections, trades("-50", "80", "-1"), Decimal(0), NOW, DAY_ENDS)
    assert found is not None
    assert found.protection == "losing_trades"
    assert found.until == DAY_ENDS
    violation = found.violation()
    assert violation.code == risk.GuardCode.PROTECTION_STOP
    assert violation.message == (
        "losing_trades: 2 losing trades today (limit 2); "
        "no new entries until 2026-11-25T22:00:00+00:00"
    )


def test_a_drawdown_from_the_days_high_stops_the_day_and_counts_open_pnl():
    protections = risk.Protections(max_drawdown_usd=Decimal("300"))
    day = trades("200", "200", "-250")  # high 400, now 150: 250 down
    assert risk.protection_stop(protections, day, Decimal(0), NOW, DAY_ENDS) is None
    found = risk.protection_stop(protections, day, Decimal("-50"), NOW, DAY_ENDS)
    assert found is not None
    assert found.protection == "max_drawdown"
    assert "day P&L 100 is 300 below the day's high 400" in found.message


def test_a_loss_from_the_start_is_a_drawdown_from_zero():
    protections = risk.Protections(max_drawdown_usd=Decimal("100"))
    found = risk.protection_stop(protections, trades("-60", "-40"), Decimal(0), NOW, DAY_ENDS)
    assert found is not None
    assert "below the day's high 0" in found.message


def test_a_loss_streak_pauses_for_the_cooldown_after_the_last_loss():
    protections = risk.Protections(loss_streak=2, cooldown=timedelta(minutes=30))
    last_loss = NOW - timedelta(minutes=10)
    day = [
        risk.ClosedTrade(last_loss - timedelta(minutes=5), Decimal("-10")),
        risk.ClosedTrade(last_loss, Decimal("-10")),
    ]
    found = risk.protection_stop(protections, day, Decimal(0), NOW, DAY_ENDS)
    assert found is not None
    assert found.protection == "loss_streak"
    assert found.until == last_loss + timedelta(minutes=30)
    after = risk.protection_stop(protections, day, Decimal(0), found.until, DAY_ENDS)
    assert after is None  # the cooldown is over
    won = [*day, risk.ClosedTrade(NOW, Decimal("5"))]
    assert risk.protection_stop(protections, won, Decimal(0), NOW, DAY_ENDS) is None


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        risk.protection_stop(risk.Protections(), [], Decimal(0), datetime(2026, 1, 5), DAY_ENDS)


money = st.decimals(min_value=-500, max_value=500, places=2)


@given(results=st.lists(money, max_size=12), open_pnl=money, limit=st.integers(1, 1500))
def test_the_drawdown_stop_matches_a_plain_replay_of_the_day(results, open_pnl, limit):
    protections = risk.Protections(max_drawdown_usd=Decimal(limit))
    found = risk.protection_stop(protections, trades(*map(str, results)), open_pnl, NOW, DAY_ENDS)
    cumulative = [Decimal(0)]
    for result in results:
        cumulative.append(cumulative[-1] + result)
    drawdown = max(cumulative) - (cumulative[-1] + open_pnl)
    assert (found is not None) == (drawdown >= limit)


@given(
    losing=st.lists(st.booleans(), max_size=15),
    need=st.integers(1, 6),
    minutes_since=st.integers(0, 90),
)
def test_the_streak_stop_holds_exactly_during_the_cooldown_of_a_long_enough_streak(
    losing, need, minutes_since
):
    cooldown = timedelta(minutes=30)
    protections = risk.Protections(loss_streak=need, cooldown=cooldown)
    now = NOW + timedelta(hours=2)
    last = now - timedelta(minutes=minutes_since)
    day = [
        risk.ClosedTrade(last - timedelta(minutes=len(losing) - i), Decimal("-1" if x else "1"))
        for i, x in enumerate(losing, start=1)
    ]
    found = risk.protection_stop(protections, day, Decimal(0), now, DAY_ENDS)
    streak = 0
    for x in reversed(losing):
        if not x:
            break
        streak += 1
    assert (found is not None) == (streak >= need and minutes_since < 30)


# --- tighter or looser -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "old", "new", "loosens"),
    [
        ("max_contracts", 5, 3, False),
        ("max_contracts", 3, 5, True),
        ("daily_loss_limit_usd", Decimal("1000"), Decimal("800"), False),
        ("daily_loss_limit_usd", Decimal("800"), None, True),
        ("daily_loss_limit_usd", None, Decimal("800"), False),
        ("is_daily_loss_enforced", False, True, False),
        ("is_daily_loss_enforced", True, False, True),
        ("mll_mode", "end_of_day", "intraday", False),
        ("mll_mode", "intraday", "end_of_day", True),
        ("flat_by_et", time(15, 55), time(15, 30), False),
        ("flat_by_et", time(15, 30), time(15, 55), True),
        ("mll_lock_balance_usd", Decimal("50000"), Decimal("49000"), True),
        ("micro_ratio", 10, 1, False),
        ("max_losing_trades", None, 3, False),
        ("max_losing_trades", 3, None, True),
        ("cooldown_minutes", 30, 60, False),
        ("cooldown_minutes", 30, 5, True),
        ("max_contracts", 3, 3, False),
        ("daily_loss_action", "alert", "liquidate_and_block", False),
        ("daily_loss_action", "liquidate_and_block", "liquidate", True),
        ("is_consistency_guarded", False, True, False),
        ("is_consistency_guarded", True, False, True),
        ("some_new_limit", 1, 2, True),  # unknown: the cautious reading
    ],
)
def test_which_change_loosens_a_limit(name, old, new, loosens):
    assert risk.loosens(name, old, new) is loosens


@given(
    name=st.sampled_from([n for n, way in risk.TIGHTER_WHEN.items() if way in ("lower", "higher")]),
    old=st.none() | st.integers(0, 100),
    new=st.none() | st.integers(0, 100),
)
def test_a_change_and_its_undoing_never_both_loosen(name, old, new):
    assume(old is not None or new is not None)
    assert not (risk.loosens(name, old, new) and risk.loosens(name, new, old))
    if old != new:
        assert risk.loosens(name, old, new) or risk.loosens(name, new, old)
