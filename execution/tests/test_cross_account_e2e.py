"""The cross-account rules end to end on the simulator: one trader's accounts (one simulator login)
placing real orders, filled by the simulator's market, recorded through reconciliation.

- hedging: a sell opposite a sibling's long is refused and never reaches the broker;
- a protection (losing trades) stops the day: the desk's next entry is refused and the journal
  says which protection and until when;
- a copier desk (a lead and two followers): the lead's strategy entry reaches both followers, one
  follower is cut out by its own daily loss limit (and told) while the other goes on, and the
  lead's stop move reaches the follower still in.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry, NotificationChannel, TradingAccount
from accounts.services import copier_follow
from accounts.tests.factories import TradingAccountFactory
from execution import ingest, reconcile, trading
from execution.models import AccountDay, Order, OrderRole, OrderSide, OrderStatus, Position
from execution.tests.simulated import bracket_simulator, simulator_account, tasks_inline
from markets.fills import OrderKind, Side
from markets.sessions import NEW_YORK, globex_session, trading_date
from notifications.models import NotificationDelivery
from strategies.engine.intents import ModifyStop, PlaceBracket
from strategies.live.outbox import decision_rows, decisions_carry_out
from strategies.models import StrategyDecision, StrategyRuntime
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]


def session_now() -> datetime:
    """10:00 New York on the current trading date: entries allowed whatever the wall clock."""
    day = trading_date(datetime.now(UTC))
    return datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=NEW_YORK)


@pytest.fixture
def sim(tmp_path, settings):
    with bracket_simulator(tmp_path, settings) as handle:
        yield handle


@pytest.fixture
def lead(sim, tenant_a):
    return simulator_account(sim, tenant_a, name="Lead")


@pytest.fixture
def es(sim, db):
    return ingest.instrument_for_contract(sim.contract_id())


def sibling_of(sim, account: TradingAccount, name: str, **profile: object) -> TradingAccount:
    """Another simulator account of the same login (the same trader)."""
    remote = sim.control("POST", "/accounts", {"user": sim.username, "balance": 50000})
    sibling = TradingAccountFactory(
        tenant=account.tenant,
        connection=account.connection,
        projectx_account_id=int(remote["id"]),
        name=name,
    )
    for field, value in profile.items():
        setattr(sibling.risk_profile, field, value)
    sibling.risk_profile.save()
    return sibling


def submit(account, instrument, **kwargs) -> Order:
    fields = {"side": OrderSide.BUY, "size": 1, "role": OrderRole.ENTRY, **kwargs}
    return trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=instrument, **fields),
        now=session_now(),
    )


def at_broker(sim, account: TradingAccount) -> list:
    """The simulator's own orders of one account (its truth)."""
    engine = sim.server.engine
    orders = sim._sync(lambda: list(engine.orders.values()))
    return [o for o in orders if o.account_id == account.projectx_account_id]


def round_trip_at_a_loss(sim, account, es) -> None:
    """Short 1 at 5000.00, cover at 5001.00: -50.00 and 2.80 of fees, recorded."""
    trading.order_send(order=submit(account, es, side=OrderSide.SELL))
    sim.step(1)
    trading.order_send(order=submit(account, es, role=OrderRole.EXIT))
    sim.step(1)
    with tasks_inline():
        reconcile.orders_reconcile(account=account)


def desk_decides(account, es, *intents) -> StrategyDecision:
    """The lead's desk decided `intents` at session_now(); the outbox carries them out."""
    runtime, _ = StrategyRuntime.all_tenants.get_or_create(
        account=account, instrument=es, defaults={"tenant_id": account.tenant_id}
    )
    now = session_now()
    rows = StrategyDecision.all_tenants.bulk_create(
        decision_rows(runtime, [], list(intents), now, Decimal("5000.00"))
    )
    decisions_carry_out(runtime=runtime, now=now)
    for order in Order.objects.for_tenant(account.tenant).filter(status=OrderStatus.NEW):
        trading.order_send(order=order)  # as the queued send tasks would
    return StrategyDecision.all_tenants.get(pk=rows[-1].pk)


def entry(config, n: int) -> PlaceBracket:
    return PlaceBracket(
        tag=f"c{config.pk}/e2e#{n}:buy",
        side=Side.BUY,
        qty=1,
        kind=OrderKind.MARKET,
        entry_price=None,
        stop_loss_ticks=8,
        take_profit_ticks=12,
        reason="test entry",
    )


def test_a_sell_opposite_a_sibling_long_is_refused_and_never_sent(sim, lead, es):
    other = sibling_of(sim, lead, "TC-2")
    trading.order_send(order=submit(lead, es))
    sim.step(1)
    with tasks_inline():
        reconcile.orders_reconcile(account=lead)
    assert Position.objects.for_tenant(lead.tenant).get(account=lead).net_size == 1

    refused = submit(other, es, side=OrderSide.SELL)
    assert refused.status == OrderStatus.REJECTED
    assert refused.rejection_reason.startswith(
        "hedge_across_accounts: hedging across accounts is prohibited: Lead holds +1"
    )
    assert at_broker(sim, other) == []  # never sent
    same_way = trading.order_send(order=submit(other, es))
    assert same_way.status in (OrderStatus.WORKING, OrderStatus.FILLED)
    assert len(at_broker(sim, other)) == 1


def test_a_losing_trades_protection_stops_the_day_and_the_journal_says_until_when(sim, lead, es):
    lead.risk_profile.max_losing_trades = 1
    lead.risk_profile.save()
    round_trip_at_a_loss(sim, lead, es)
    day = AccountDay.objects.for_tenant(lead.tenant).get(account=lead)
    assert day.realized_pnl_usd == Decimal("-50.00")

    config = StrategyConfigFactory(tenant=lead.tenant, account=lead, instrument=es, is_enabled=True)
    decision = desk_decides(lead, es, entry(config, 1))
    until = globex_session(trading_date(session_now()))[1]
    assert "rejected: protection_stop: losing_trades: 1 losing trades today (limit 1); " in (
        decision.outcome
    )
    assert f"no new entries until {until.isoformat()}" in decision.outcome
    assert len(at_broker(sim, lead)) == 2  # the round trip only


def test_a_copier_desk_cuts_out_the_follower_that_hits_its_own_limit(sim, lead, es):
    lead.risk_profile.max_contracts = 2
    lead.risk_profile.save()
    steady = sibling_of(sim, lead, "Follower A", max_contracts=5)
    tilted = sibling_of(sim, lead, "Follower B", max_contracts=3, daily_loss_limit_usd=10)
    for follower in (steady, tilted):
        copier_follow(tenant=lead.tenant, actor=None, follower=follower, lead=lead)
    round_trip_at_a_loss(sim, tilted, es)  # its own daily loss limit: locked for the day
    assert AccountDay.objects.for_tenant(lead.tenant).get(account=tilted).is_locked
    NotificationChannel.all_tenants.create(
        tenant=lead.tenant,
        name="desk",
        url_encrypted=encrypt_secret("https://discord.com/api/webhooks/1/abc"),
        events=["risk"],
    )

    config = StrategyConfigFactory(tenant=lead.tenant, account=lead, instrument=es, is_enabled=True)
    first = entry(config, 1)
    decision = desk_decides(lead, es, first)
    assert "Follower A: order" in decision.outcome
    assert "Follower B: order" in decision.outcome
    assert "rejected: account_locked" in decision.outcome
    assert "cut out for the session" in decision.outcome
    tilted.refresh_from_db()
    assert tilted.copier_cut_out_on == trading_date(session_now())
    assert tilted.copier_cut_out_reason.startswith("account_locked")
    told = NotificationDelivery.objects.for_tenant(lead.tenant).get(
        dedupe_key=f"copier-cut-out:{tilted.pk}:{tilted.copier_cut_out_on.isoformat()}"
    )
    assert told.title == "Follower B: cut out of the copier desk of Lead"
    assert AuditEntry.objects.for_tenant(lead.tenant).filter(
        action="trading_account.copier_cut_out"
    )

    sim.step(1)  # the entry and its copy fill at the next open
    for account in (lead, steady, tilted):
        reconcile.orders_reconcile(account=account)
    held = dict(
        Position.objects.for_tenant(lead.tenant)
        .filter(instrument=es)
        .exclude(net_size=0)
        .values_list("account__name", "net_size")
    )
    assert held == {"Lead": 1, "Follower A": 1}  # Follower B, cut out, stays flat

    fill_price = (
        Order.objects.for_tenant(lead.tenant)
        .get(account=lead, custom_tag=f"s:{first.tag}")
        .average_fill_price
    )
    new_stop = int((fill_price - Decimal("1.00")) / Decimal("0.25"))
    moved = desk_decides(lead, es, ModifyStop(first.tag, new_stop, reason="tighten"))
    assert moved.status == "done", moved.outcome
    stops = Order.objects.for_tenant(lead.tenant).filter(
        role=OrderRole.STOP_LOSS, status__in=(OrderStatus.WORKING,)
    )
    assert {(s.account.name, s.stop_price) for s in stops} == {
        ("Lead", fill_price - Decimal("1.00")),
        ("Follower A", fill_price - Decimal("1.00")),
    }

    later = desk_decides(lead, es, entry(config, 2))
    assert "Follower B: cut out for the session (account_locked" in later.outcome
    assert not Order.objects.for_tenant(lead.tenant).filter(
        account=tilted, custom_tag=f"copy:{entry(config, 2).tag}"
    )
