"""The cross-account rules and protections on real rows (no broker: a refused order is never
sent): hedging across one trader's accounts, protections, at most five Express accounts per login,
copier desk configuration, and limits that only tighten while a session is open."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts import services as account_services
from accounts.models import AccountPlan, AuditEntry, Program, TradingAccount
from accounts.tests.factories import BrokerConnectionFactory, TradingAccountFactory
from execution import day as trading_day
from execution import trading
from execution.models import AccountDay, Fill, OrderRole, OrderSide, OrderStatus, Position
from execution.services import account_day_get_or_open
from execution.tests.test_risk_gate import es, mes
from markets.sessions import trading_date

FIXTURES = (es, mes)  # shared with the gate tests, imported by name for pytest
pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]

# Wednesday 2026-11-25 10:00 ET: inside the session.
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


@pytest.fixture
def account(tenant_a):
    return TradingAccountFactory(tenant=tenant_a, name="TC-1")


@pytest.fixture
def sibling(account):
    """Another account of the same trader (the same broker login)."""
    return TradingAccountFactory(tenant=account.tenant, connection=account.connection, name="TC-2")


def submit(account, instrument, *, now=NOW, **kwargs):
    fields = {"side": OrderSide.BUY, "size": 1, "role": OrderRole.ENTRY, **kwargs}
    return trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=instrument, **fields),
        now=now,
    )


def hold(account, instrument, net_size: int) -> None:
    Position.all_tenants.create(
        tenant=account.tenant, account=account, instrument=instrument, net_size=net_size
    )


# --- hedging ---------------------------------------------------------------------------------------


def test_an_entry_opposite_a_sibling_account_is_refused_mini_or_micro(account, sibling, es, mes):
    hold(sibling, es, 2)
    for instrument in (es, mes):
        refused = submit(account, instrument, side=OrderSide.SELL)
        assert refused.status == OrderStatus.REJECTED
        assert refused.rejection_reason == (
            "hedge_across_accounts: hedging across accounts is prohibited: TC-2 holds +2 "
            "CON.F.US.EP.Z26, this sell would be opposite it on ES"
        )
    assert submit(account, mes).status == OrderStatus.NEW  # the same direction is no hedge


def test_another_traders_or_an_inactive_account_is_no_hedge(account, sibling, es):
    other_trader = TradingAccountFactory(tenant=account.tenant, name="TC-9")
    hold(other_trader, es, -3)
    hold(sibling, es, -1)
    sibling.is_active = False
    sibling.save()
    assert submit(account, es).status == OrderStatus.NEW


def test_an_exit_is_never_refused_as_a_hedge(account, sibling, es):
    hold(account, es, 1)
    hold(sibling, es, 1)
    exit_order = submit(account, es, side=OrderSide.SELL, role=OrderRole.EXIT)
    assert exit_order.status == OrderStatus.NEW
    flip = submit(account, es, side=OrderSide.SELL, size=2)  # a flip is an entry
    assert flip.status == OrderStatus.REJECTED
    assert "hedge_across_accounts" in flip.rejection_reason


# --- protections -----------------------------------------------------------------------------------


def closed_trade(account, instrument, pnl: str, at: datetime, n: int) -> None:
    Fill.all_tenants.create(
        tenant=account.tenant,
        account=account,
        instrument=instrument,
        broker_trade_id=n,
        side=OrderSide.SELL,
        size=1,
        price=Decimal("5000"),
        fees_usd=Decimal("1.40"),
        realized_pnl_usd=Decimal(pnl),
        executed_at=at,
    )


def test_the_losing_trades_protection_stops_entries_for_the_day_not_exits(account, es):
    profile = account.risk_profile
    profile.max_losing_trades = 2
    profile.save()
    closed_trade(account, es, "-50", NOW - timedelta(hours=2), 1)
    closed_trade(account, es, "1.00", NOW - timedelta(hours=1), 2)  # -0.40 after fees: a loss
    closed_trade(account, es, "-50", NOW - timedelta(days=1), 3)  # yesterday: not counted
    refused = submit(account, es)
    assert refused.status == OrderStatus.REJECTED
    assert refused.rejection_reason == (
        "protection_stop: losing_trades: 2 losing trades today (limit 2); "
        "no new entries until 2026-11-25T17:00:00-05:00"
    )
    hold(account, es, 1)
    assert submit(account, es, side=OrderSide.SELL, role=OrderRole.EXIT).status == OrderStatus.NEW
    tomorrow = NOW + timedelta(days=1)
    assert submit(account, es, now=tomorrow, size=1).status != OrderStatus.REJECTED


def test_the_loss_streak_pauses_until_the_cooldown_is_over(account, es):
    profile = account.risk_profile
    profile.loss_streak, profile.cooldown_minutes = 2, 20
    profile.save()
    closed_trade(account, es, "-10", NOW - timedelta(minutes=15), 1)
    closed_trade(account, es, "-10", NOW - timedelta(minutes=10), 2)
    refused = submit(account, es)
    assert "loss_streak: 2 losing trades in a row (limit 2)" in refused.rejection_reason
    assert "until 2026-11-25T15:10:00+00:00" in refused.rejection_reason
    assert submit(account, es, now=NOW + timedelta(minutes=10)).status == OrderStatus.NEW


# --- at most five Express accounts per trader -------------------------------------------------------


def express_account(connection, n: int) -> TradingAccount:
    return account_services.trading_account_create(
        tenant=connection.tenant,
        actor=None,
        connection=connection,
        projectx_account_id=9000 + n,
        name=f"XFA-{n}",
        plan=AccountPlan.objects.get(program=Program.EXPRESS, code="express-50k"),
    )


def test_a_sixth_express_account_of_one_trader_is_refused(tenant_a):
    connection = BrokerConnectionFactory(tenant=tenant_a)
    made = [express_account(connection, n) for n in range(5)]
    with pytest.raises(
        ValidationError, match=r"at most 5 Express Funded accounts; login \S+ already has 5 active"
    ):
        express_account(connection, 5)
    assert TradingAccount.objects.for_tenant(tenant_a).count() == 5  # nothing half-stored
    another_trader = BrokerConnectionFactory(tenant=tenant_a)
    assert express_account(another_trader, 6).pk
    made[0].is_active = False
    made[0].save()
    assert express_account(connection, 7).pk  # a closed one frees its place
    made[0].is_active = True
    with pytest.raises(ValidationError, match="at most 5"):
        made[0].full_clean()  # reactivating a sixth is refused too (the admin validates so)


# --- copier desks ----------------------------------------------------------------------------------


def with_cap(account, cap: int):
    account.risk_profile.max_contracts = cap
    account.risk_profile.save()
    return account


def test_a_copier_desk_follows_a_lead_with_the_smallest_position_limit(account, sibling):
    lead, follower = with_cap(account, 2), with_cap(sibling, 5)
    account_services.copier_follow(tenant=lead.tenant, actor=None, follower=follower, lead=lead)
    follower.refresh_from_db()
    assert follower.copies_account == lead
    assert AuditEntry.objects.for_tenant(lead.tenant).filter(action="trading_account.copier")
    with pytest.raises(ValidationError, match="a lead cannot copy another account"):
        account_services.copier_follow(tenant=lead.tenant, actor=None, follower=lead, lead=follower)
    third = with_cap(TradingAccountFactory(tenant=lead.tenant, connection=lead.connection), 1)
    with pytest.raises(ValidationError, match="TC-1 leads a copier desk; it cannot copy"):
        account_services.copier_follow(tenant=lead.tenant, actor=None, follower=lead, lead=third)


def test_a_lead_with_a_larger_limit_than_a_follower_is_refused(account, sibling):
    lead, follower = with_cap(account, 5), with_cap(sibling, 3)
    with pytest.raises(
        ValidationError,
        match="the lead must be the account with the smallest position limit: "
        "TC-1 allows 5 contracts, TC-2 only 3",
    ):
        account_services.copier_follow(tenant=lead.tenant, actor=None, follower=follower, lead=lead)
    follower.refresh_from_db()
    assert follower.copies_account is None


def test_a_copier_desk_has_at_most_five_accounts_of_one_trader(account):
    lead = account
    for _ in range(4):
        follower = TradingAccountFactory(tenant=lead.tenant, connection=lead.connection)
        account_services.copier_follow(tenant=lead.tenant, actor=None, follower=follower, lead=lead)
    sixth = TradingAccountFactory(tenant=lead.tenant, connection=lead.connection)
    with pytest.raises(ValidationError, match="at most 5 accounts"):
        account_services.copier_follow(tenant=lead.tenant, actor=None, follower=sixth, lead=lead)
    other_trader = TradingAccountFactory(tenant=lead.tenant)
    with pytest.raises(ValidationError, match="share one broker login"):
        account_services.copier_follow(
            tenant=lead.tenant, actor=None, follower=other_trader, lead=lead
        )


# --- limits only tighten while a session is open ----------------------------------------------------


def update(account, now, **changes):
    return account_services.risk_profile_update(
        tenant=account.tenant, profile=account.risk_profile, actor=None, now=now, **changes
    )


def test_a_loosening_while_the_session_is_open_waits_for_the_next_session(account):
    profile = update(
        account, NOW, max_contracts=8, daily_loss_limit_usd=Decimal("500"), max_losing_trades=3
    )
    profile.refresh_from_db()
    assert profile.max_contracts == 5  # looser: waits
    assert profile.daily_loss_limit_usd == Decimal("500.00")  # tighter: at once
    assert profile.max_losing_trades == 3  # a new protection is tighter
    assert profile.pending_changes == {"max_contracts": 8}
    assert str(profile.pending_from) == "2026-11-26"  # the next trading date
    # the next session's first row applies it
    account_day_get_or_open(account=account, session_date=trading_date(NOW))
    assert account.risk_profile.max_contracts == 5
    account_day_get_or_open(account=account, session_date=profile.pending_from)
    profile.refresh_from_db()
    assert (profile.max_contracts, profile.pending_changes, profile.pending_from) == (8, {}, None)
    applied = AuditEntry.objects.for_tenant(account.tenant).filter(
        action="risk_profile.pending_applied"
    )
    assert applied.count() == 1


def test_a_tightening_drops_the_pending_loosening_of_that_field(account):
    update(account, NOW, max_contracts=8)
    profile = update(account, NOW, max_contracts=4)
    profile.refresh_from_db()
    assert (profile.max_contracts, profile.pending_changes, profile.pending_from) == (4, {}, None)


def test_a_loosening_while_the_market_is_closed_applies_at_once(account):
    profile = update(account, SATURDAY, max_contracts=8)
    profile.refresh_from_db()
    assert profile.max_contracts == 8
    assert profile.pending_changes == {}


def test_an_invalid_loosening_is_refused_whole(account):
    with pytest.raises(ValidationError):
        update(account, NOW, max_contracts=8, warning_share=Decimal("1.5"))
    account.risk_profile.refresh_from_db()
    assert account.risk_profile.max_contracts == 5
    assert account.risk_profile.pending_changes == {}


def test_the_day_roll_applies_the_waiting_loosening(account):
    update(account, NOW, flat_by_et=time(16, 5))
    day = account_day_get_or_open(account=account, session_date=trading_date(NOW))
    closed = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # after the 17:00 ET close
    next_day = trading_day.account_day_roll(day=day, now=closed)
    assert str(next_day.session_date) == "2026-11-26"
    account.risk_profile.refresh_from_db()
    assert str(account.risk_profile.flat_by_et) == "16:05:00"
    assert account.risk_profile.pending_changes == {}
    assert AccountDay.objects.for_tenant(account.tenant).count() == 2
