"""An account set to Position Brackets, end to end on the simulator (its per-account switch): the
bracketed entry refused with errorCode 2 is placed once, without brackets; after its fill the
platform places the stop-loss and take-profit itself, one fill cancels the other (also when the
worker that should have done it died), the account remembers the mode and the trader is told how
to switch it. Real PostgreSQL, Redis and HTTP; the simulator's clock is stepped."""

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry, BracketMode, NotificationChannel
from execution import brackets, broker, ingest, reconcile, trading
from execution.models import AccountDay, Order, OrderRole, OrderStatus, OrderType, Position
from execution.tests.simulated import simulator_account, tasks_inline
from execution.tests.test_trading import (
    broker_orders,
    es,  # noqa: F401 (fixture)
    install_client,
    sim,  # noqa: F401 (fixture)
    submit,
)
from notifications.models import NotificationDelivery
from strategies.models import StrategyDecision, StrategyRuntime
from strategies.tests.factories import StrategyConfigFactory
from tradingsite.celery import app as celery_app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("trading_sim"),
]
WEDNESDAY_MORNING = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 New York, a full session


@pytest.fixture(autouse=True)
def regular_session(time_machine):
    """The platform's clock (and the simulator's start) in an ordinary session: after an early
    close the gate would rightly refuse the legs that the simulator's own clock still fills."""
    time_machine.move_to(WEDNESDAY_MORNING)


class CountPlaces(httpx.BaseTransport):
    """The real transport, counting the Order/place requests that reach the simulator."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.places = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.lower().endswith("/order/place"):
            self.places += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def account(sim, tenant_a):  # noqa: F811 (sim is the fixture)
    return simulator_account(sim, tenant_a)


@pytest.fixture
def places(sim, account):  # noqa: F811
    transport = CountPlaces()
    install_client(sim, account, transport=transport)
    return transport


@pytest.fixture
def lost_queues():
    """Empty this run's order queues: what a worker that died takes with it."""

    def purge() -> None:
        with celery_app.connection_for_write() as conn:
            for name in ("critical", "high"):
                queue = celery_app.amqp.queues[name].bind(conn.default_channel)
                queue.declare()
                queue.purge()

    purge()
    yield purge
    purge()


def position_brackets(sim, *, places_entry: bool = False) -> None:  # noqa: F811
    sim.control(
        "POST",
        "/accounts/bracket-mode",
        {"accountId": sim.account_id, "mode": "position", "refusalPlacesEntry": places_entry},
    )


def legs_of(entry: Order) -> dict[str, Order]:
    return {o.role: o for o in Order.objects.for_tenant(entry.tenant_id).filter(parent=entry)}


def test_a_refused_bracket_entry_is_placed_once_then_protected_after_its_fill(
    sim,  # noqa: F811
    account,
    places,
    es,  # noqa: F811
):
    NotificationChannel.all_tenants.create(
        tenant=account.tenant,
        name="desk",
        url_encrypted=encrypt_secret("https://discord.com/api/webhooks/1/abc"),
        events=["error"],
    )
    position_brackets(sim)
    entry = trading.order_send(order=submit(account, es, stop_loss_ticks=8, take_profit_ticks=12))

    assert entry.status == OrderStatus.WORKING
    assert entry.protect_after_fill
    assert places.places == 2  # refused with its brackets, then placed without them
    at_broker = broker_orders(sim, entry.custom_tag)
    assert [o.id for o in at_broker] == [entry.broker_order_id]
    assert not [o for o in broker_orders(sim) if o.parent_id]  # no broker-held brackets
    account.refresh_from_db()
    assert account.bracket_mode == BracketMode.POSITION
    learnt = AuditEntry.objects.for_tenant(account.tenant).get(action="account.bracket_mode_learnt")
    assert learnt.after["order"] == entry.custom_tag
    alert = NotificationDelivery.objects.for_tenant(account.tenant).get(
        dedupe_key=f"bracket-mode:{account.pk}"
    )
    assert "Auto OCO Brackets" in alert.body

    sim.step(1)  # the market entry fills at 5000.00
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    legs = legs_of(entry)
    stop, target = legs[OrderRole.STOP_LOSS], legs[OrderRole.TAKE_PROFIT]
    assert (stop.order_type, stop.stop_price, stop.status) == (
        OrderType.STOP,
        Decimal("4998.000000000"),
        OrderStatus.WORKING,
    )
    assert (target.order_type, target.limit_price, target.status) == (
        OrderType.LIMIT,
        Decimal("5003.000000000"),
        OrderStatus.WORKING,
    )
    assert stop.oco_group == target.oco_group == brackets.oco_group_of(entry)

    sim.step(1)  # high 5003.25 fills the target at 5003.00
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    stop.refresh_from_db()
    target.refresh_from_db()
    assert (target.status, stop.status) == (OrderStatus.FILLED, OrderStatus.CANCELLED)
    assert broker_orders(sim, stop.custom_tag)[0].status == 3  # cancelled at the broker
    sim.step(2)  # the bar that reaches 4995.00 finds no stop left to fill
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    assert Position.objects.for_tenant(account.tenant).get().net_size == 0
    day = AccountDay.objects.for_tenant(account.tenant).get()
    assert (day.realized_pnl_usd, day.fees_usd) == (Decimal("150.00"), Decimal("2.80"))
    assert len(broker_orders(sim)) == 3


def test_a_refusal_that_placed_the_entry_is_taken_not_doubled_and_later_entries_skip_brackets(
    sim,  # noqa: F811
    account,
    places,
    es,  # noqa: F811
):
    config = StrategyConfigFactory(tenant=account.tenant, account=account, instrument=es)
    runtime = StrategyRuntime.all_tenants.create(
        tenant=account.tenant, account=account, instrument=es
    )
    position_brackets(sim, places_entry=True)
    entry = submit(account, es, stop_loss_ticks=8, take_profit_ticks=12)
    Order.objects.for_tenant(account.tenant).filter(pk=entry.pk).update(strategy_config=config)
    entry.refresh_from_db()
    first = trading.order_send(order=entry)
    assert places.places == 1  # the refusal carried the entry: nothing placed again
    assert [o.id for o in broker_orders(sim, first.custom_tag)] == [first.broker_order_id]
    assert first.status == OrderStatus.WORKING
    assert first.protect_after_fill

    trading.order_cancel(tenant=account.tenant, order=first)
    second = trading.order_send(order=submit(account, es, stop_loss_ticks=8, take_profit_ticks=12))
    assert places.places == 2  # straight out without brackets: the mode is remembered
    assert second.status == OrderStatus.WORKING
    assert second.protect_after_fill
    assert (
        AuditEntry.objects.for_tenant(account.tenant)
        .filter(action="account.bracket_mode_learnt")
        .count()
        == 1
    )
    note = StrategyDecision.objects.for_tenant(account.tenant).get(runtime=runtime)
    assert (note.strategy_config, note.tag) == (config, first.custom_tag)
    assert "Auto OCO Brackets" in note.reason


def hub_delivers(account, order: Order) -> None:
    """The user hub's path for the broker's latest state of `order` (execution/ingest.py)."""
    client = broker.gateway_client_for(connection=account.connection)
    remote = client.order_by_id(account.projectx_account_id, order.broker_order_id)
    ingest.order_record_broker_update(account=account, order=remote)


def test_the_oco_holds_across_a_worker_that_died(
    sim,  # noqa: F811
    account,
    places,
    es,  # noqa: F811
    lost_queues,
):
    position_brackets(sim)
    entry = trading.order_send(order=submit(account, es, stop_loss_ticks=8, take_profit_ticks=12))
    sim.step(1)
    hub_delivers(account, entry)  # the fill is stored and its protection queued...
    lost_queues()  # ...and lost with the worker
    entry.refresh_from_db()
    assert (entry.status, legs_of(entry)) == (OrderStatus.FILLED, {})

    with tasks_inline():  # the restarted worker's reconciliation protects the entry
        reconcile.orders_reconcile(account=account)
    legs = legs_of(entry)
    assert {leg.status for leg in legs.values()} == {OrderStatus.WORKING}
    assert len(broker_orders(sim)) == 3

    sim.step(1)  # the target fills; the cancel of the stop is queued, and lost again
    hub_delivers(account, legs[OrderRole.TAKE_PROFIT])
    lost_queues()
    stop = legs[OrderRole.STOP_LOSS]
    stop.refresh_from_db()
    assert stop.status == OrderStatus.WORKING
    assert broker_orders(sim, stop.custom_tag)[0].status == 1  # still working at the broker
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    stop.refresh_from_db()
    assert stop.status == OrderStatus.CANCELLED
    assert broker_orders(sim, stop.custom_tag)[0].status == 3
    sim.step(2)  # the bar that reaches 4995.00 finds no stop left
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    assert Position.objects.for_tenant(account.tenant).get().net_size == 0
