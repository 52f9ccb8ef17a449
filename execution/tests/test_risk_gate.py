"""The pre-trade gate on real rows: each TopStep rule refuses an order and the reason is stored;
the P&L watch warns once, locks and flattens once per breach. No broker is involved: a refused
order is never sent, and allowed orders stay NEW (their send is queued after commit)."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import AuditEntry
from accounts.tests.factories import TradingAccountFactory, plan
from execution import risk, risk_gate, trading
from execution.models import (
    AccountDay,
    Order,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from execution.services import account_day_get_or_open
from execution.sources import market_source, market_source_for
from execution.tests.factories import InstrumentFactory, OrderFactory
from markets.sessions import trading_date
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]

# Wednesday 2026-11-25 10:00 ET: inside the session, before any flat-by time.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


@pytest.fixture
def account(tenant_a):
    """An account on a platform that keeps a firm daily loss limit ($1,000), with no personal
    one and micros counted ten to a mini (the personal limit and TopstepX's defaults:
    test_risk_account_rules_e2e.py)."""
    return TradingAccountFactory(
        tenant=tenant_a,
        plan=plan("legacy-combine-50k", daily_loss_limit_usd=Decimal("1000.00")),
        risk_profile__is_daily_loss_enforced=False,
        risk_profile__daily_loss_limit_usd=None,
        risk_profile__micro_ratio=10,
    )


@pytest.fixture
def es(db):
    return InstrumentFactory()


@pytest.fixture
def mes(db):
    return InstrumentFactory(
        symbol="MES",
        contract_id="CON.F.US.MES.Z26",
        symbol_id="F.US.MES",
        name="MESZ6",
        tick_value_usd=Decimal("1.25"),
        fee_per_side_usd=Decimal("0.37"),
    )


def day_of(account) -> AccountDay:
    return account_day_get_or_open(account=account, session_date=trading_date(NOW))


def submit(account, instrument, *, now=NOW, strategy=None, **kwargs) -> Order:
    fields = {"side": OrderSide.BUY, "size": 1, "role": OrderRole.ENTRY, **kwargs}
    proposal = trading.OrderProposal(instrument=instrument, **fields)
    return trading.order_submit(
        tenant=account.tenant, account=account, proposal=proposal, strategy_config=strategy, now=now
    )


def hold(account, instrument, net_size: int) -> None:
    Position.all_tenants.create(
        tenant=account.tenant, account=account, instrument=instrument, net_size=net_size
    )


def test_an_allowed_order_is_stored_new_with_a_unique_tag_before_sending(account, es):
    first = submit(account, es)
    second = submit(account, es)
    assert first.status == OrderStatus.NEW
    assert first.rejection_reason == ""
    assert first.broker_order_id is None
    assert first.custom_tag.startswith("ts-")
    assert first.custom_tag != second.custom_tag
    assert (
        AuditEntry.objects.for_tenant(account.tenant)
        .filter(action="order.submitted", object_id=str(first.pk))
        .exists()
    )


def test_a_locked_account_refuses_entries_and_stores_the_reason(account, es):
    day = day_of(account)
    day.is_locked, day.locked_reason = True, "manual: kill switch"
    day.save()
    order = submit(account, es)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason.startswith("account_locked: account is locked (manual)")
    assert order.closed_at == NOW
    assert (
        AuditEntry.objects.for_tenant(account.tenant)
        .filter(action="order.refused", object_id=str(order.pk))
        .exists()
    )


def test_a_locked_account_may_still_close_its_position(account, es):
    day = day_of(account)
    day.is_locked, day.locked_reason = True, "daily_loss_limit: reached"
    day.save()
    hold(account, es, 2)
    order = submit(account, es, side=OrderSide.SELL, size=2, role=OrderRole.EXIT)
    assert order.status == OrderStatus.NEW


def test_a_max_loss_failure_on_an_earlier_day_locks_every_later_day(account, es):
    earlier = account_day_get_or_open(
        account=account, session_date=trading_date(NOW) - timedelta(days=1)
    )
    earlier.is_locked, earlier.locked_reason = True, "max_loss_limit: equity 48000 <= 48000"
    earlier.save()
    order = submit(account, es)
    assert order.status == OrderStatus.REJECTED
    assert "account is locked (max_loss_limit)" in order.rejection_reason


def test_a_disabled_strategy_cannot_enter(account, es):
    strategy = StrategyConfigFactory(
        tenant=account.tenant, account=account, instrument=es, is_enabled=False
    )
    order = submit(account, es, strategy=strategy)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason == "strategy_disabled: the strategy is disabled; exits only"
    assert order.strategy_config == strategy


def test_no_entries_after_the_accounts_flatten_time(account, es):
    order = submit(account, es, now=datetime(2026, 11, 25, 20, 55, tzinfo=UTC))  # 15:55 ET
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason.startswith("flat_by_passed: no new entries after 15:55 EST")
    assert submit(account, es, now=datetime(2026, 11, 25, 20, 54, tzinfo=UTC)).status == "new"


def test_max_contracts_counts_micros_at_the_ratio_and_working_entries(account, es, mes):
    hold(account, es, 3)
    OrderFactory(tenant=account.tenant, account=account, instrument=es, size=1, role="entry")
    # 3 held + 1 working = 4 minis; 10 micros make exactly the cap of 5.
    assert submit(account, mes, size=10).status == OrderStatus.NEW
    refused = submit(account, mes, size=1)
    assert refused.status == OrderStatus.REJECTED
    assert refused.rejection_reason == (
        "max_contracts: position would reach 5.1 mini-equivalents (MES +1); the cap is 5"
    )


def test_working_protective_orders_do_not_count_as_exposure(account, es):
    hold(account, es, 4)
    OrderFactory(
        tenant=account.tenant,
        account=account,
        instrument=es,
        side=OrderSide.SELL,
        size=4,
        role=OrderRole.STOP_LOSS,
        order_type=OrderType.STOP,
        limit_price=None,
        stop_price=Decimal("4990"),
        status=OrderStatus.WORKING,
    )
    assert submit(account, es, size=1).status == OrderStatus.NEW


def test_the_daily_loss_limit_refuses_entries_once_reached(account, es):
    day = day_of(account)
    day.realized_pnl_usd, day.fees_usd = Decimal("-990.00"), Decimal("10.00")
    day.save()
    order = submit(account, es)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason == (
        "daily_loss_reached: day P&L -1000.00 has reached the daily loss limit -1000.00"
    )


def test_a_breached_max_loss_floor_refuses_entries(account, es):
    profile = account.risk_profile
    profile.is_daily_loss_enforced = False
    profile.save()
    day = day_of(account)
    day.balance_usd = Decimal("48000.00")
    day.save()
    order = submit(account, es)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason == (
        "max_loss_breached: equity 48000.00 is at or below the max-loss floor 48000.00"
    )


def test_prices_off_the_tick_grid_or_far_from_the_market_are_refused(account, es):
    off = submit(
        account, es, order_type=OrderType.LIMIT, limit_price=Decimal("5000.10"), last_price=None
    )
    assert off.status == OrderStatus.REJECTED
    assert off.rejection_reason.startswith("price_off_tick: ES:")
    far = submit(
        account,
        es,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("4000.00"),
        last_price=Decimal("5000.00"),
    )
    assert far.status == OrderStatus.REJECTED
    assert far.rejection_reason == (
        "price_out_of_band: ES price 4000.00 is more than 5% away from the last price 5000.00"
    )


def test_a_bracket_whose_stop_out_alone_reaches_the_daily_limit_is_refused(account, es):
    # 80 ticks x $12.50 x 1 + 2 x $1.40 = $1,002.80 >= $1,000 of room
    order = submit(account, es, stop_loss_ticks=80, take_profit_ticks=40)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason.startswith("trade_risk_too_large: a stop-out would lose 1002.80")
    allowed = submit(account, es, stop_loss_ticks=8, take_profit_ticks=12)
    assert (allowed.stop_loss_ticks, allowed.take_profit_ticks) == (-8, 12)
    assert allowed.oco_group == ""  # a lone bracket cancels no other entry


def test_every_failed_rule_is_in_the_reason(account, es):
    day = day_of(account)
    day.is_locked, day.locked_reason = True, "manual: stop"
    day.realized_pnl_usd = Decimal("-1500.00")
    day.save()
    order = submit(account, es, now=datetime(2026, 11, 25, 21, 30, tzinfo=UTC))
    codes = [part.split(":", 1)[0] for part in order.rejection_reason.split(" | ")]
    assert codes == ["account_locked", "flat_by_passed", "daily_loss_reached"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 0}, "size must be a whole number > 0, got 0"),
        ({"size": 1.5}, "size must be a whole number > 0, got 1.5"),
        ({"side": 3}, "side must be 0 (buy) or 1 (sell), got 3"),
        ({"order_type": OrderType.TRAILING_STOP}, "order type 5 is not submittable"),
        ({"limit_price": 5000.25, "order_type": 1}, "limit_price must be a finite Decimal"),
        ({"stop_loss_ticks": 0}, "stop_loss_ticks must be 1..1000, got 0"),
        ({"stop_loss_ticks": 8, "role": OrderRole.EXIT}, "brackets attach to entry orders only"),
    ],
)
def test_requests_that_cannot_be_orders_raise_a_named_error(account, es, changes, message):
    with pytest.raises(trading.InvalidOrder, match=re.escape(message)):
        submit(account, es, **changes)
    assert not Order.objects.for_tenant(account.tenant).exists()


def test_an_account_of_another_tenant_is_refused(account, tenant_b, es):
    proposal = trading.OrderProposal(instrument=es, side=0, size=1)
    with pytest.raises(PermissionError):
        trading.order_submit(tenant=tenant_b, account=account, proposal=proposal, now=NOW)


def test_the_gate_state_reads_positions_and_remaining_working_sizes(account, es, mes):
    hold(account, es, -2)
    OrderFactory(tenant=account.tenant, account=account, instrument=mes, size=5, filled_size=2)
    OrderFactory(
        tenant=account.tenant, account=account, instrument=mes, side=OrderSide.SELL, size=3
    )
    OrderFactory(tenant=account.tenant, account=account, instrument=es, size=9, status="filled")
    state = risk_gate.gate_context(account=account, now=NOW).state
    assert dict(state.positions) == {"CON.F.US.EP.Z26": -2}
    assert dict(state.working) == {"CON.F.US.MES.Z26": (3, 3)}


# --- the P&L watch --------------------------------------------------------------------------------


def actions(account, action: str) -> int:
    return AuditEntry.objects.for_tenant(account.tenant).filter(action=action).count()


def lose(account, realized: str, fees: str = "0") -> AccountDay:
    day = day_of(account)
    day.realized_pnl_usd, day.fees_usd = Decimal(realized), Decimal(fees)
    day.balance_usd = day.start_balance_usd + day.realized_pnl_usd - day.fees_usd
    day.save()
    return day


def test_the_watch_warns_once_per_day_at_the_configured_share(account):
    lose(account, "-700.00")
    assert risk_gate.account_risk_watch(account=account, now=NOW).status == risk.RiskStatus.OK
    lose(account, "-790.00", "10.00")
    assessment = risk_gate.account_risk_watch(account=account, now=NOW)
    risk_gate.account_risk_watch(account=account, now=NOW)
    assert assessment.status == risk.RiskStatus.WARNING
    assert actions(account, "risk.warning") == 1
    assert not day_of(account).is_locked


def test_the_daily_limit_locks_and_flattens_once(account, django_capture_on_commit_callbacks):
    lose(account, "-995.00", "5.00")
    with django_capture_on_commit_callbacks() as callbacks:
        first = risk_gate.account_risk_watch(account=account, now=NOW)
        risk_gate.account_risk_watch(account=account, now=NOW)  # a repeated event
    assert first.status == risk.RiskStatus.DAILY_LIMIT
    day = day_of(account)
    assert day.is_locked
    assert day.locked_reason.startswith("daily_loss_limit: daily loss limit reached")
    assert actions(account, "account.risk_lock") == 1
    assert actions(account, "account.flatten_requested") == 1
    assert len(callbacks) == 1  # one flatten task queued


def test_a_max_loss_breach_after_a_daily_lock_upgrades_it(account):
    lose(account, "-1000.00")
    risk_gate.account_risk_watch(account=account, now=NOW)
    lose(account, "-2000.00")
    assessment = risk_gate.account_risk_watch(account=account, now=NOW)
    risk_gate.account_risk_watch(account=account, now=NOW)
    assert assessment.status == risk.RiskStatus.MAX_LOSS
    assert day_of(account).locked_reason.startswith("max_loss_limit:")
    assert actions(account, "account.risk_lock") == 2
    assert actions(account, "account.flatten_requested") == 2


def test_intraday_mode_trails_the_floor_with_the_equity_high(account):
    profile = account.risk_profile
    profile.mll_mode = "intraday"
    profile.save()
    day = lose(account, "600.00")
    risk_gate.account_risk_watch(account=account, now=NOW)
    day.refresh_from_db()
    assert (day.high_water_usd, day.mll_floor_usd) == (Decimal("50600.00"), Decimal("48600.00"))
    lose(account, "-200.00")
    risk_gate.account_risk_watch(account=account, now=NOW)
    day.refresh_from_db()
    assert day.mll_floor_usd == Decimal("48600.00")  # never lowered


def hub_trade(account, instrument, *, trade_id: int, at: datetime, pnl_usd: str):
    from execution.gateway import types as gw

    return gw.HalfTrade(
        id=trade_id,
        account_id=account.projectx_account_id,
        contract_id=instrument.contract_id,
        created_at=at,
        price=Decimal("5000"),
        profit_and_loss_usd=Decimal(pnl_usd),
        fees_usd=Decimal("1.40"),
        side=gw.OrderSide.ASK,
        size=1,
        voided=False,
        order_id=5,
    )


def test_a_hub_fill_runs_the_watch(account, es, time_machine):
    from execution.gateway import hubs
    from execution.ingest import handle_hub_event

    time_machine.move_to(NOW)  # the watch reads the clock: it must be NOW's session, not today's
    day = day_of(account)
    day.realized_pnl_usd = Decimal("-990.00")
    day.save()
    trade = hub_trade(account, es, trade_id=77, at=NOW, pnl_usd="-25.00")
    handle_hub_event(connection=account.connection, event=hubs.TradeEvent(trade=trade))
    handle_hub_event(connection=account.connection, event=hubs.TradeEvent(trade=trade))
    day = account_day_get_or_open(account=account)
    assert day.realized_pnl_usd == Decimal("-1015.00")
    assert day.is_locked
    assert actions(account, "account.risk_lock") == 1


def test_flattening_a_tenant_requests_a_flatten_for_each_active_account(
    account, tenant_a, alice, django_capture_on_commit_callbacks
):
    second = TradingAccountFactory(tenant=tenant_a)
    TradingAccountFactory(tenant=tenant_a, is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        flattened = trading.tenant_flatten(tenant=tenant_a, actor=alice, reason="operator")
    assert flattened == [account, second]
    assert actions(account, "account.flatten_requested") == 2
    assert actions(account, "tenant.flatten_requested") == 1
    assert len(callbacks) == 2


def test_open_pnl_from_marks_counts_toward_the_max_loss_floor(account, es, mes):
    account.plan = plan()  # TopstepX: no firm daily loss limit, only the MLL
    account.save()
    Position.all_tenants.create(
        tenant=account.tenant,
        account=account,
        instrument=es,
        net_size=-2,
        average_price=Decimal("5000.125"),  # two lots one tick apart
    )
    Position.all_tenants.create(
        tenant=account.tenant,
        account=account,
        instrument=mes,
        net_size=4,
        average_price=Decimal("5000"),
    )
    marks = {es.contract_id: Decimal("5010.00"), mes.contract_id: Decimal("4999.75")}
    assessment = risk_gate.account_marks_record(
        account=account,
        marks=marks,
        source=market_source_for(connection=account.connection).key,
        now=NOW,
    )
    # ES: -2 x 39.5 ticks x $12.50 = -987.50; MES: 4 x -1 tick x $1.25 = -5.00
    assert day_of(account).unrealized_pnl_usd == Decimal("-992.50")
    assert assessment.status == risk.RiskStatus.OK
    marks[es.contract_id] = Decimal("5040.25")  # -2 x 160.5 x 12.50 = -4012.50: equity < floor
    assessment = risk_gate.account_marks_record(
        account=account,
        marks=marks,
        source=market_source_for(connection=account.connection).key,
        now=NOW,
    )
    assert assessment.status == risk.RiskStatus.MAX_LOSS
    assert day_of(account).locked_reason.startswith("max_loss_limit:")


def test_marks_of_another_source_are_refused_and_change_nothing(account, es):
    """A live account is never valued at a simulator's prices (same contract ids, other market)."""
    Position.all_tenants.create(
        tenant=account.tenant, account=account, instrument=es, net_size=1,
        average_price=Decimal("5000"),
    )  # fmt: skip
    account.connection.environment = "live"
    account.connection.save()
    simulated = market_source("simulator").key
    with pytest.raises(risk_gate.ForeignMarks):
        risk_gate.account_marks_record(
            account=account, marks={es.contract_id: Decimal("4000")}, source=simulated, now=NOW
        )
    assert Position.objects.for_tenant(account.tenant).get().unrealized_pnl_usd == Decimal("0")
    assert not AccountDay.objects.for_tenant(account.tenant).filter(is_locked=True).exists()
