"""The order service against the real simulator (stepped clock, real HTTP, real PostgreSQL): one
order at the broker per stored order whatever fails in the middle, brackets from submit to flat,
stop moves, cancels, and reconciliation toward the broker's truth.

The simulator's clock starts at the wall clock (floored to the minute) so the client's lookup
window (orders created in the last minutes) covers the orders it places."""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry, NotificationChannel
from execution import broker, ingest, reconcile, trading
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import GatewayError
from execution.gateway.ratelimit import RedisRateLimiter
from execution.models import (
    AccountDay,
    Fill,
    Order,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from execution.orders import OrderEvent, OrderState, apply
from execution.tests.simulated import bracket_simulator, simulator_account, tasks_inline
from markets.sessions import NEW_YORK, trading_date
from notifications.models import NotificationDelivery
from tradingsite.celery import app as celery_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]


def session_now() -> datetime:
    """10:00 New York on the current trading date: entries allowed whatever the wall clock."""
    day = trading_date(datetime.now(UTC))
    return datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=NEW_YORK)


class LoseResponses(httpx.BaseTransport):
    """A real transport that lets the first `count` Order/place requests reach the simulator and
    then loses their responses (a read time-out after the broker acted)."""

    def __init__(self, count: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.count = count

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.count and request.url.path.lower().endswith("/order/place"):
            self.count -= 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("response lost after the broker acted", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sim(tmp_path, settings):
    with bracket_simulator(tmp_path, settings) as handle:
        yield handle


@pytest.fixture
def account(sim, tenant_a):
    return simulator_account(sim, tenant_a)


def install_client(
    sim, account, transport: httpx.BaseTransport | None = None, **overrides: object
) -> GatewayClient:
    """The process's client for the account's login, with short time-outs and back-offs (the
    real client, the real shared limiter in Redis), so faults resolve in test time."""
    config = GatewayConfig(
        base_url=sim.base_url,
        user_hub_url=sim.user_hub_url,
        market_hub_url=sim.market_hub_url,
        timeout_seconds=1.0,
        connect_timeout_seconds=1.0,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        default_retry_after_seconds=0.2,
        rate_limit_wait_seconds=5.0,
        **overrides,
    )
    client = GatewayClient(
        config,
        Credentials(sim.username, sim.api_key),
        rate_limiter=RedisRateLimiter(redis.Redis.from_url(settings.REDIS_URL)),
        transport=transport,
    )
    connection = account.connection
    fingerprint = hashlib.sha256(connection.api_key_encrypted.encode()).hexdigest()
    broker._clients[connection.pk] = (fingerprint, client)
    return client


@pytest.fixture
def client(sim, account):
    return install_client(sim, account)


@pytest.fixture
def es(sim, db):
    return ingest.instrument_for_contract(sim.contract_id())


def broker_orders(sim, tag: str | None = None) -> list:
    """The simulator's own orders (its truth), optionally those carrying `tag`."""
    engine = sim.server.engine
    orders = sim._sync(lambda: list(engine.orders.values()))
    return [o for o in orders if tag is None or o.custom_tag == tag]


def submit(account, instrument, **kwargs) -> Order:
    fields = {"side": OrderSide.BUY, "size": 1, "role": OrderRole.ENTRY, **kwargs}
    return trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=instrument, **fields),
        now=session_now(),
    )


def audited(account, action: str) -> int:
    return AuditEntry.objects.for_tenant(account.tenant).filter(action=action).count()


@pytest.mark.clock_sensitive  # reads the wall clock (session_now, datetime.now)
def test_a_caller_chosen_tag_makes_submit_idempotent(sim, account, client, es):
    first = trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=es, side=OrderSide.BUY, size=1),
        now=session_now(),
        custom_tag="s:c1/day#1:buy",
    )
    again = trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=es, side=OrderSide.SELL, size=3),
        now=session_now(),
        custom_tag="s:c1/day#1:buy",
    )
    assert again.pk == first.pk
    assert (again.side, again.size) == (OrderSide.BUY, 1)  # the stored order, unchanged
    assert Order.objects.for_tenant(account.tenant).count() == 1


def test_the_first_fill_of_an_entry_cancels_the_rest_of_its_oco_group(sim, account, client, es):
    def stop_entry(side: int, price: str) -> Order:
        order = submit(
            account,
            es,
            side=side,
            order_type=OrderType.STOP,
            stop_price=Decimal(price),
            stop_loss_ticks=8,
            oco_group="s:breakout",
        )
        return trading.order_send(order=order)

    buy, sell = stop_entry(OrderSide.BUY, "5000.75"), stop_entry(OrderSide.SELL, "4999.00")
    sim.step(1)  # high 5001.00 reaches the buy stop; low 4999.50 stays above the sell stop
    with tasks_inline():  # the cancel task runs inline, as a worker would
        reconcile.orders_reconcile(account=account)
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert (buy.status, sell.status) == (OrderStatus.FILLED, OrderStatus.CANCELLED)
    assert broker_orders(sim, sell.custom_tag)[0].status == 3  # cancelled at the broker
    sim.step(1)
    assert broker_orders(sim, sell.custom_tag)[0].status == 3  # and never filled


@pytest.mark.clock_sensitive  # reads the wall clock (session_now)
def test_a_bracket_goes_from_submit_to_fill_to_flat(sim, account, client, es):
    entry = submit(account, es, stop_loss_ticks=8, take_profit_ticks=12)
    entry = trading.order_send(order=entry)
    assert entry.status == OrderStatus.WORKING
    assert entry.broker_order_id == broker_orders(sim, entry.custom_tag)[0].id

    sim.step(1)  # the market entry fills at 5000.00; children work at 4998.00 / 5003.00
    report = reconcile.orders_reconcile(account=account)
    entry.refresh_from_db()
    assert (entry.status, entry.average_fill_price) == (OrderStatus.FILLED, Decimal("5000"))
    children = {o.role: o for o in Order.objects.for_tenant(account.tenant).filter(parent=entry)}
    stop = children[OrderRole.STOP_LOSS]
    assert (stop.status, stop.stop_price) == (OrderStatus.WORKING, Decimal("4998"))
    assert Position.objects.for_tenant(account.tenant).get().net_size == 1
    assert {d["kind"] for d in report.differences} == {"order", "position", "fill", "balance"}

    stop = trading.stop_to_breakeven(tenant=account.tenant, stop=stop)
    assert stop.stop_price == Decimal("5000")
    assert next(o for o in broker_orders(sim) if o.id == stop.broker_order_id).stop_ticks == 20000
    with pytest.raises(trading.InvalidStopMove, match="would loosen it"):
        trading.stop_move(tenant=account.tenant, stop=stop, new_stop_price=Decimal("4999.00"))

    sim.step(1)  # high 5003.25 takes profit at 5003.00; low 5000.75 never reaches the stop
    reconcile.orders_reconcile(account=account)
    children = {o.role: o for o in Order.objects.for_tenant(account.tenant).filter(parent=entry)}
    assert children[OrderRole.TAKE_PROFIT].status == OrderStatus.FILLED
    assert children[OrderRole.STOP_LOSS].status == OrderStatus.CANCELLED
    assert Position.objects.for_tenant(account.tenant).get().net_size == 0
    day = AccountDay.objects.for_tenant(account.tenant).get()
    assert (day.realized_pnl_usd, day.fees_usd) == (Decimal("150.00"), Decimal("2.80"))
    assert day.balance_usd == Decimal("50147.20")
    assert len(broker_orders(sim)) == 3
    assert reconcile.orders_reconcile(account=account).is_clean


def test_a_duplicated_send_task_places_one_order(sim, account, client, es):
    from execution.tasks import order_send_task

    order = submit(account, es)
    order_send_task.apply(kwargs={"tenant_id": order.tenant_id, "order_id": order.pk})
    order_send_task.apply(kwargs={"tenant_id": order.tenant_id, "order_id": order.pk})
    trading.order_send(order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.WORKING
    assert len(broker_orders(sim, order.custom_tag)) == 1
    assert audited(account, "order.placed") == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"error_status": 503, "error_count": 1},
        {"error_status": 500, "error_count": 2},
        {"hang_count": 1, "hang_seconds": 2.0},
        {"rate_limit_count": 1},
    ],
    ids=["503", "500-twice", "timeout", "429"],
)
def test_a_broker_fault_while_placing_neither_loses_nor_doubles(sim, account, client, es, fault):
    order = submit(account, es)
    sim.set_faults(paths=["order/place"], **fault)
    order = trading.order_send(order=order)
    assert order.status == OrderStatus.WORKING
    placed = broker_orders(sim, order.custom_tag)
    assert [o.id for o in placed] == [order.broker_order_id]
    sim.clear_faults()
    sim.step(1)
    reconcile.orders_reconcile(account=account)
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert Position.objects.for_tenant(account.tenant).get().net_size == 1


def test_a_response_lost_after_the_broker_placed_is_recovered_by_tag(sim, account, es):
    install_client(sim, account, transport=LoseResponses(1))
    order = trading.order_send(order=submit(account, es))
    assert order.status == OrderStatus.WORKING
    assert len(broker_orders(sim, order.custom_tag)) == 1
    entry = AuditEntry.objects.for_tenant(account.tenant).get(action="order.placed")
    assert entry.after == {"broker_order_id": order.broker_order_id, "recovered": True}


def test_an_uncertain_placement_stays_submitted_alerts_and_is_recovered(sim, account, client, es):
    NotificationChannel.all_tenants.create(
        tenant=account.tenant,
        name="desk",
        url_encrypted=encrypt_secret("https://discord.com/api/webhooks/1/abc"),
        events=["error", "risk"],
    )
    order = submit(account, es)
    sim.set_faults(paths=["order/place"], error_status=503, error_count=-1)
    order = trading.order_send(order=order)
    assert (order.status, order.broker_order_id) == (OrderStatus.SUBMITTED, None)
    assert broker_orders(sim, order.custom_tag) == []
    assert audited(account, "order.submission_uncertain") == 1
    alert = NotificationDelivery.objects.for_tenant(account.tenant).get()
    assert (alert.event, alert.dedupe_key) == ("error", f"order-uncertain:{order.pk}")
    assert alert.title == f"{account.name}: order outcome unknown, reconciling"
    # Still counted as working exposure by the gate while uncertain.
    assert submit(account, es, size=5).rejection_reason.startswith("max_contracts:")

    sim.clear_faults()
    order = trading.order_recover(order=order)
    assert order.status == OrderStatus.WORKING
    assert len(broker_orders(sim, order.custom_tag)) == 1
    assert trading.order_recover(order=order).broker_order_id == order.broker_order_id
    assert len(broker_orders(sim, order.custom_tag)) == 1


def test_an_uncertain_placement_too_old_to_resend_is_given_up(sim, account, client, es):
    order = submit(account, es)
    sim.set_faults(paths=["order/place"], error_status=503, error_count=-1)
    order = trading.order_send(order=order)
    sim.clear_faults()
    later = order.submitted_at + trading.RESEND_WINDOW + timedelta(seconds=1)
    order = trading.order_recover(order=order, now=later)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason.startswith(
        f"not placed: the broker has no order tagged {order.custom_tag}"
    )
    assert broker_orders(sim, order.custom_tag) == []


@pytest.mark.clock_sensitive  # reads the wall clock (session_now, datetime.now)
def test_a_worker_dying_between_sending_and_recording_leaves_one_order(sim, account, client, es):
    order = submit(account, es)
    # The crash point: claimed and sent, then the process dies before recording the reply.
    claimed = apply(OrderState(order.status, order.size), OrderEvent.SUBMIT).status
    Order.objects.for_tenant(account.tenant).filter(pk=order.pk).update(
        status=claimed, submitted_at=datetime.now(UTC)
    )
    placed = client.place_order(trading.place_request(order))
    order.refresh_from_db()
    assert (order.status, order.broker_order_id) == (OrderStatus.SUBMITTED, None)

    order = trading.order_send(order=order)  # acks_late: the task is delivered again
    assert (order.status, order.broker_order_id) == (OrderStatus.WORKING, placed.order_id)
    assert len(broker_orders(sim, order.custom_tag)) == 1
    assert audited(account, "order.recovered") == 1


@pytest.mark.clock_sensitive  # reads the wall clock (session_now, datetime.now)
def test_reconciliation_finds_an_order_sent_by_a_dead_worker(sim, account, client, es):
    order = submit(account, es)
    Order.objects.for_tenant(account.tenant).filter(pk=order.pk).update(
        status=OrderStatus.SUBMITTED, submitted_at=datetime.now(UTC)
    )
    placed = client.place_order(trading.place_request(order))
    sim.step(1)
    report = reconcile.orders_reconcile(account=account)
    order.refresh_from_db()
    assert (order.status, order.broker_order_id) == (OrderStatus.FILLED, placed.order_id)
    assert Fill.objects.for_tenant(account.tenant).get().order == order
    assert any(d["kind"] == "order" and d["order_id"] == order.pk for d in report.differences)
    assert audited(account, "reconcile.difference") == len(report.differences)
    assert len(broker_orders(sim, order.custom_tag)) == 1


def test_a_broker_rejection_is_stored_with_the_brokers_message(sim, account, es):
    # The gateway requires signed bracket ticks; unsigned ones are refused (errorCode 2).
    install_client(sim, account, signed_bracket_ticks=False)
    order = trading.order_send(order=submit(account, es, stop_loss_ticks=8))
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason == (
        "broker: OrderRejected: Invalid stop loss ticks: ticks should be less than zero when longing"
    )
    assert audited(account, "order.rejected") == 1
    assert broker_orders(sim) == []


def test_a_lock_between_submit_and_send_stops_the_entry(sim, account, client, es):
    order = submit(account, es)
    day = AccountDay.objects.for_tenant(account.tenant).get()
    day.is_locked, day.locked_reason = True, "daily_loss_limit: reached"
    day.save()
    order = trading.order_send(order=order)
    assert order.status == OrderStatus.REJECTED
    assert order.rejection_reason.startswith("account_locked:")
    assert broker_orders(sim) == []


def test_cancel_before_sending_never_reaches_the_broker(sim, account, client, es):
    order = submit(account, es)
    order = trading.order_cancel(tenant=account.tenant, order=order)
    assert order.status == OrderStatus.CANCELLED
    assert trading.order_send(order=order).status == OrderStatus.CANCELLED
    assert broker_orders(sim) == []


def test_cancel_and_modify_a_working_limit_order(sim, account, client, es):
    order = submit(account, es, order_type=OrderType.LIMIT, limit_price=Decimal("4990.00"))
    order = trading.order_send(order=order)
    order = trading.order_modify(tenant=account.tenant, order=order, limit_price=Decimal("4991.25"))
    assert order.limit_price == Decimal("4991.25")
    assert broker_orders(sim, order.custom_tag)[0].limit_ticks == 19965
    order = trading.order_cancel(tenant=account.tenant, order=order)
    assert order.status == OrderStatus.CANCELLED
    assert broker_orders(sim, order.custom_tag)[0].status == 3


@pytest.mark.clock_sensitive  # reads the wall clock (session_now, datetime.now)
def test_duplicate_and_out_of_order_fill_events_count_once(sim, account, client, es):
    order = trading.order_send(order=submit(account, es, size=2))
    sim.step(1)
    px = sim.account_id
    since = datetime.now(UTC) - timedelta(hours=1)
    (filled,) = [o for o in client.search_orders(px, start=since) if o.id == order.broker_order_id]
    (trade,) = client.search_trades(px, start=since)
    acknowledged = filled.__class__(**{**filled.__dict__, "status": 1, "fill_volume": 0})
    # The fill arrives first, twice, then the (stale) acknowledgement, then the trade twice.
    for event in (filled, filled, acknowledged):
        ingest.order_record_broker_update(account=account, order=event)
    for _ in range(2):
        ingest.fill_record(account=account, trade=trade)
    order.refresh_from_db()
    assert (order.status, order.filled_size) == (OrderStatus.FILLED, 2)
    assert Fill.objects.for_tenant(account.tenant).count() == 1
    day = AccountDay.objects.for_tenant(account.tenant).get()
    assert day.fees_usd == Decimal("2.80")


def _wait_for(predicate, timeout: float, context=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met in time\n{context()}")


def test_a_real_worker_killed_mid_send_leaves_one_order_after_reconciliation(
    sim, account, es, tmp_path
):
    """A Celery worker process (Redis db of this run, the test database) claims the order and
    hangs in Order/place; SIGKILL. Reconciliation then finds it by tag or places it once."""
    from django.db import connection

    from execution.tasks import order_send_task

    broker_url = settings.REDIS_URL
    redis.Redis.from_url(broker_url).delete("high")  # nothing stale on the queue
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tradingsite.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "PROJECTX_SIM_API_URL": sim.base_url,
        "PROJECTX_SIM_USER_HUB_URL": sim.user_hub_url,
        "PROJECTX_SIM_MARKET_HUB_URL": sim.market_hub_url,
        "PROJECTX_TIMEOUT_SECONDS": "60",
    }
    sim.set_faults(paths=["order/place"], hang_count=1, hang_seconds=60.0)
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "tradingsite",
            "worker",
            "-Q",
            "high",
            "-P",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-n",
            f"sigkill-{os.getpid()}@%h",
        ],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        order = submit(account, es)  # queued on commit to the real broker
        rows = Order.objects.for_tenant(account.tenant).filter(pk=order.pk)

        def claimed() -> bool:
            # Other test modules clear the cache, which shares the Redis db (FLUSHDB): the queue
            # bindings and the message can vanish. Declare and publish again until the worker
            # claims it; duplicates are exactly what the claim makes harmless.
            if rows.get().status == OrderStatus.SUBMITTED:
                return True
            with celery_app.connection_for_write() as conn:
                celery_app.amqp.queues["high"].bind(conn.default_channel).declare()
            order_send_task.apply_async(
                kwargs={"tenant_id": order.tenant_id, "order_id": order.pk}, queue="high"
            )
            time.sleep(1.0)
            return rows.get().status == OrderStatus.SUBMITTED

        _wait_for(
            claimed, timeout=60, context=lambda: (tmp_path / "worker.log").read_text()[-3000:]
        )
        time.sleep(0.5)  # the worker is inside Order/place now
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    order.refresh_from_db()
    assert (order.status, order.broker_order_id) == (OrderStatus.SUBMITTED, None)
    sim.clear_faults()
    install_client(sim, account)
    reconcile.orders_reconcile(account=account)
    order.refresh_from_db()
    assert order.status == OrderStatus.WORKING
    assert [o.id for o in broker_orders(sim, order.custom_tag)] == [order.broker_order_id]
    assert len(broker_orders(sim)) == 1


@pytest.mark.clock_sensitive  # reads the wall clock (session_now, datetime.now)
def test_a_send_task_lost_with_the_broker_is_queued_again_by_reconciliation(
    sim, account, client, es
):
    from execution.tasks import order_send_task

    order = submit(account, es)  # queued on commit to Redis, where no worker listens...
    redis.Redis.from_url(settings.REDIS_URL).delete("high")  # ...and then lost (flush, restart)
    Order.objects.for_tenant(account.tenant).filter(pk=order.pk).update(
        created_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
        reconcile.orders_reconcile(account=account)
        order_send_task.apply(kwargs={"tenant_id": order.tenant_id, "order_id": order.pk})
    order.refresh_from_db()
    assert order.status == OrderStatus.WORKING
    assert len(broker_orders(sim, order.custom_tag)) == 1
    assert audited(account, "order.placed") == 1


FAULTS = st.sampled_from(
    [
        {},
        {"error_status": 503, "error_count": 1},
        {"error_status": 502, "error_count": 3},
        {"error_status": 503, "error_count": -1},
        {"rate_limit_count": 1},
        {"rate_limit_count": 2},
    ]
)
STEPS = st.lists(st.sampled_from(["send", "recover", "reconcile"]), min_size=1, max_size=4)


@settings_(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(place_fault=FAULTS, search_fault=FAULTS, steps=STEPS)
def test_any_fault_sequence_ends_with_at_most_one_order_matching_our_record(
    sim, account, client, es, place_fault, search_fault, steps
):
    """Faults on Order/place and Order/search, then sends, redeliveries, recoveries and
    reconciliations in any order: the broker never holds two orders for one of ours, and once
    the faults clear our record matches the broker."""
    account.risk_profile.max_contracts = 500  # examples share the account; keep the cap away
    account.risk_profile.save()
    order = submit(account, es)
    assert order.status == OrderStatus.NEW
    sim.set_faults(paths=["order/place"], **place_fault)
    for step in steps:
        if step == "send":
            trading.order_send(order=order)
        elif step == "recover":
            trading.order_recover(order=order)
        else:
            with contextlib.suppress(GatewayError):
                reconcile.orders_reconcile(account=account)
        if search_fault:
            sim.set_faults(clear=True)
            sim.set_faults(paths=["order/search"], **search_fault)
        assert len(broker_orders(sim, order.custom_tag)) <= 1
    sim.clear_faults()
    trading.order_send(order=order)  # a late redelivery
    order = trading.order_recover(order=order)
    at_broker = broker_orders(sim, order.custom_tag)
    assert len(at_broker) == 1
    assert order.broker_order_id == at_broker[0].id
    assert order.status in (OrderStatus.WORKING, OrderStatus.FILLED)


def test_a_loss_reaching_the_daily_limit_cancels_flattens_and_locks(sim, account, client, es):
    profile = account.risk_profile
    profile.daily_loss_limit_usd = Decimal("10.00")
    profile.save()
    resting = trading.order_send(
        order=submit(account, es, order_type=OrderType.LIMIT, limit_price=Decimal("4990.00"))
    )
    short = trading.order_send(order=submit(account, es, side=OrderSide.SELL))
    sim.step(1)  # short 1 at 5000.00
    cover = submit(account, es, role=OrderRole.EXIT)
    trading.order_send(order=cover)
    sim.step(1)  # covered at 5001.00: 4 ticks x $12.50 = -50.00, and 2 x $1.40 fees
    with tasks_inline():  # the flatten task runs inline, as a worker would
        reconcile.orders_reconcile(account=account)
        reconcile.orders_reconcile(account=account)  # a repeat changes nothing
    day = AccountDay.objects.for_tenant(account.tenant).get()
    assert day.net_pnl_usd == Decimal("-52.80")
    assert day.is_locked
    assert day.locked_reason.startswith(  # the factory's personal limit, liquidate and block
        "personal_daily_loss_limit: personal daily loss limit reached (liquidate_and_block)"
    )
    assert broker_orders(sim, resting.custom_tag)[0].status == 3  # cancelled at the broker
    assert audited(account, "account.risk_lock") == 1
    assert audited(account, "account.flattened") == 1
    short.refresh_from_db()
    assert short.status == OrderStatus.FILLED
    refused = submit(account, es)
    assert refused.rejection_reason.startswith(
        "account_locked: account is locked (personal_daily_loss_limit)"
    )


def test_a_trailing_stop_follows_the_price_and_never_loosens(sim, account, client, es):
    entry = trading.order_send(order=submit(account, es, stop_loss_ticks=8, take_profit_ticks=40))
    sim.step(1)  # long 1 at 5000.00, stop at 4998.00
    reconcile.orders_reconcile(account=account)
    stop = Order.objects.for_tenant(account.tenant).get(parent=entry, role=OrderRole.STOP_LOSS)
    stop = trading.stop_trail(
        tenant=account.tenant, stop=stop, last_price=Decimal("5002.00"), trail_ticks=8
    )
    assert stop.stop_price == Decimal("5000.00")
    stop = trading.stop_trail(
        tenant=account.tenant, stop=stop, last_price=Decimal("5001.00"), trail_ticks=8
    )
    assert stop.stop_price == Decimal("5000.00")
    assert next(o for o in broker_orders(sim) if o.id == stop.broker_order_id).stop_ticks == 20000
    assert audited(account, "order.modified") == 1


def test_reconciliation_expires_an_open_order_the_broker_does_not_know(sim, account, client, es):
    ghost = Order.all_tenants.create(
        tenant=account.tenant,
        account=account,
        instrument=es,
        custom_tag="ts-ghost",
        broker_order_id=987654,
        order_type=OrderType.LIMIT,
        side=OrderSide.BUY,
        size=1,
        limit_price=Decimal("4900.00"),
        status=OrderStatus.WORKING,
    )
    report = reconcile.orders_reconcile(account=account)
    ghost.refresh_from_db()
    assert ghost.status == OrderStatus.EXPIRED
    assert report.differences == [
        {
            "kind": "order",
            "order_id": ghost.pk,
            "before": ["working", 0, 987654],
            "after": ["expired", 0, 987654],
        }
    ]
    assert audited(account, "reconcile.difference") == 1
