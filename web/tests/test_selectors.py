"""Risk gauges, account snapshots, strategy statistics and money formatting."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.tests.factories import TradingAccountFactory
from execution.models import AccountDay, Fill, OrderSide
from execution.tests.factories import InstrumentFactory
from markets.sessions import globex_session
from strategies.tests.factories import StrategyConfigFactory
from web import selectors
from web.selectors import Gauge
from web.templatetags.web_format import price, signed_usd, usd

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


money = st.decimals(min_value=-100_000, max_value=100_000, places=2, allow_nan=False)
limits = st.decimals(min_value=Decimal("0.01"), max_value=100_000, places=2, allow_nan=False)
shares = st.decimals(min_value=Decimal("0.001"), max_value=1, places=3, allow_nan=False)


@given(limit=limits, distance=money, share=shares)
def test_gauge_use_stays_within_the_limit_and_breach_means_no_distance_left(limit, distance, share):
    gauge = Gauge(label="x", limit_usd=limit, distance_usd=distance, warning_share=share)
    assert Decimal(0) <= gauge.used_usd <= limit
    assert 0 <= gauge.used_percent <= 100
    assert (gauge.state == "breach") == (distance <= 0)
    if distance >= limit:
        assert gauge.used_usd == 0


def test_gauge_states_follow_the_warning_share():
    def state(distance: str) -> str:
        return Gauge("x", Decimal(1000), Decimal(distance), Decimal("0.800")).state

    assert state("1000") == "ok"
    assert state("201") == "ok"  # 79.9% used
    assert state("200") == "warn"  # 80% used
    assert state("0.01") == "warn"
    assert state("0") == "breach"
    assert state("-5") == "breach"
    assert Gauge("x", None, None, Decimal("0.8")).state == "off"


@pytest.mark.django_db
def test_snapshot_without_todays_row_carries_the_last_balance_and_floor_forward(account_a):
    session = selectors.today_session()
    AccountDay.all_tenants.create(
        tenant=account_a.tenant, account=account_a, session_date=session - timedelta(days=1),
        start_balance_usd=Decimal("50000"), balance_usd=Decimal("49500.00"),
        high_water_usd=Decimal("50000"), mll_floor_usd=Decimal("48000.00"),
    )  # fmt: skip
    snap = selectors.account_snapshot(
        tenant=account_a.tenant, account=account_a, session_date=session
    )
    assert snap.day is None
    assert snap.balance_usd == Decimal("49500.00")
    assert snap.net_pnl_today_usd == Decimal("0.00")
    assert snap.daily.distance_usd == Decimal("1000.00")  # a fresh day: the whole limit to go
    assert snap.max_loss.distance_usd == Decimal("1500.00")
    assert snap.max_loss.used_percent == 25
    assert not AccountDay.objects.for_tenant(account_a.tenant).filter(session_date=session)


@pytest.mark.django_db
def test_many_account_view_costs_a_fixed_number_of_queries(tenant_a, django_assert_max_num_queries):
    for n in range(30):
        TradingAccountFactory(tenant=tenant_a, name=f"Acc {n:02d}")
    session = selectors.today_session()
    with django_assert_max_num_queries(5):
        snaps = selectors.account_snapshots(tenant=tenant_a, session_date=session)
    assert len(snaps) == 30
    assert snaps[0].account.name == "Acc 00"


@pytest.mark.django_db
def test_strategy_stats_give_exact_win_rate_and_profit_factor(tenant_a, account_a):
    instrument = InstrumentFactory()
    config = StrategyConfigFactory(tenant=tenant_a, account=account_a, instrument=instrument)
    start, _ = globex_session(selectors.today_session())
    pnls = ["300.00", "-100.00", "200.00", "-150.00", None]  # None: an opening fill
    for n, pnl in enumerate(pnls):
        Fill.all_tenants.create(
            tenant=tenant_a, account=account_a, instrument=instrument, broker_trade_id=n,
            side=OrderSide.BUY, size=1, price=Decimal("5000"), fees_usd=Decimal("1.40"),
            realized_pnl_usd=None if pnl is None else Decimal(pnl),
            executed_at=start + timedelta(minutes=n), strategy_config=config,
        )  # fmt: skip
    [row] = selectors.strategy_stats(tenant=tenant_a)
    assert (row.trades, row.wins, row.losses) == (4, 2, 2)
    assert row.win_rate_percent == Decimal("50.0")
    assert row.profit_factor == Decimal("2.00")  # 500 / 250
    assert row.fees_usd == Decimal("7.00")
    assert row.net_usd == Decimal("243.00")


def test_money_and_price_formatting_is_exact():
    assert usd(Decimal("50000")) == "$50,000.00"
    assert usd(Decimal("-1234.565")) == "-$1,234.57"
    assert usd(None) == "—"
    assert signed_usd(Decimal("12.5")) == "+$12.50"
    assert signed_usd(Decimal("0")) == "$0.00"
    assert signed_usd(Decimal("-0.004")) == "$0.00"
    assert price(Decimal("5000.250000000")) == "5000.25"
    assert price(Decimal("4563.000000000")) == "4563.00"
    assert price(Decimal("1.085050000")) == "1.08505"


def test_max_drawdown_is_the_largest_fall_from_a_peak():
    from datetime import date

    days = [date(2026, 1, d) for d in range(1, 7)]
    nets = ["100", "-30", "50", "-150", "-20", "400"]  # cumulative 100, 70, 120, -30, -50, 350
    assert selectors.max_drawdown(list(zip(days, map(Decimal, nets), strict=True))) == Decimal(170)
    assert selectors.max_drawdown([(days[0], Decimal(5))]) == Decimal(0)
    assert selectors.max_drawdown([]) == Decimal(0)


@pytest.mark.django_db
def test_strategy_daily_net_groups_fills_by_trading_date(tenant_a, account_a):
    instrument = InstrumentFactory()
    config = StrategyConfigFactory(tenant=tenant_a, account=account_a, instrument=instrument)
    session = selectors.today_session()
    start, _ = globex_session(session)  # 18:00 ET the evening before
    fills = [
        (start + timedelta(minutes=5), "100.00"),  # evening: already today's session
        (start + timedelta(hours=16), "-40.00"),  # 10:00 ET
        (start - timedelta(minutes=5), "25.00"),  # 17:55 ET: the previous session
    ]
    for n, (at, pnl) in enumerate(fills):
        Fill.all_tenants.create(
            tenant=tenant_a, account=account_a, instrument=instrument, broker_trade_id=n,
            side=OrderSide.SELL, size=1, price=Decimal("5000"), fees_usd=Decimal("1.40"),
            realized_pnl_usd=Decimal(pnl), executed_at=at, strategy_config=config,
        )  # fmt: skip
    series = selectors.strategy_daily_net(tenant=tenant_a)
    assert series == {
        f"{config.name} · {account_a.name}": [
            (session - timedelta(days=1), Decimal("23.60")),
            (session, Decimal("57.20")),
        ]
    }
