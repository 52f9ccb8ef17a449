"""Issue #5: Redis restarted in the middle of trading. A private redis-server (no persistence) is
killed with SIGKILL and started again on the same port, so every queued task, rate-limit window,
metric and hot bar in it is lost, as in a real crash. The simulator is the broker.

What must hold: no order lost, none doubled, the account equal to the broker's truth after one
reconciliation, trading not blocked meanwhile, and an alert raised."""

import logging
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kombu.pools
import pytest
import redis

from accounts.crypto import encrypt_secret
from accounts.models import AuditEntry, NotificationChannel
from analytics.health import system_health
from execution import broker, reconcile, trading
from execution.gateway.client import GatewayClient
from execution.gateway.config import Credentials, GatewayConfig
from execution.gateway.errors import RateLimited
from execution.gateway.metrics import Outcome, RedisMetrics
from execution.gateway.ratelimit import EndpointGroup, RateLimit, RedisRateLimiter
from execution.gateway.types import BarUnit
from execution.marketdata import BarCache
from execution.models import AccountDay, Order, OrderStatus, Position
from execution.orders import OrderState, apply_broker_status
from execution.services import account_flatten_request
from execution.tests import test_trading
from execution.tests.test_marketdata import RecordingFetch
from execution.tests.test_trading import broker_orders, submit
from notifications.models import NotificationDelivery
from simulator.testing import running_simulator
from tradingsite.celery import app as celery_app

# The order-service tests' fixtures (pytest finds fixtures among a module's attributes).
sim, account, es = test_trading.sim, test_trading.account, test_trading.es

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("redis_restart")]

QUEUES = ("critical", "high", "normal", "low", "background")


class RedisServer:
    """A private redis-server on a fixed free port, with no persistence: a restart loses all."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        probe = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.01)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


def _drop_celery_connections() -> None:
    """Celery and kombu keep broker connection pools per process; drop them so the next publish
    dials the broker URL configured now."""
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_server(tmp_path, settings):
    """Every Redis user of the platform pointed at a private server: Celery's broker, the gateway's
    limiter and metrics (the per-process clients are rebuilt), the bar cache, the channel layer
    and Django's cache."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = server.url()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url(1)}}
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [server.url()]}}
    }
    _drop_celery_connections()  # Celery reads CELERY_BROKER_URL live, but pools its connections
    broker._clients.clear()
    yield server
    broker._clients.clear()
    if server.process.poll() is None:
        server.kill()
    _drop_celery_connections()


def run_worker() -> Counter:
    """What a worker would do: take every message from the queues in Redis and run its task, until
    they are empty. Alerts are counted, not run (they would post to Discord)."""
    taken: Counter = Counter()
    with celery_app.connection_for_read() as conn:
        queues = [celery_app.amqp.queues[name].bind(conn.default_channel) for name in QUEUES]
        while message := next(filter(None, (q.get(no_ack=True) for q in queues)), None):
            name = message.headers["task"]
            taken[name] += 1
            if not name.startswith("notifications."):
                args, kwargs, _ = message.decode()
                celery_app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)
    return taken


def make_old(order: Order) -> None:
    """Reconciliation re-queues only NEW orders older than 30 s (younger ones may still be in
    a worker's hands)."""
    Order.objects.for_tenant(order.tenant_id).filter(pk=order.pk).update(
        created_at=datetime.now(UTC) - timedelta(minutes=1)
    )


def positions_held(account) -> dict[str, int]:
    rows = Position.objects.for_tenant(account.tenant).exclude(net_size=0)
    return dict(rows.values_list("instrument__contract_id", "net_size"))


def alert_channel(account) -> None:
    NotificationChannel.all_tenants.create(
        tenant=account.tenant,
        name="desk",
        url_encrypted=encrypt_secret("https://discord.com/api/webhooks/1/abc"),
        events=["error", "risk"],
    )


def test_an_order_stored_while_redis_is_down_is_sent_once_after_the_restart(
    redis_server, sim, account, es, caplog
):
    redis_server.kill()
    with caplog.at_level(logging.ERROR, logger="tradingsite.dispatch"):
        order = submit(account, es)  # stored; the send task cannot be queued
    assert order.status == OrderStatus.NEW
    queued = {"tenant_id": order.tenant_id, "order_id": order.pk}
    assert f"could not queue execution.order_send {queued}; a sweep will" in caplog.text
    assert broker_orders(sim) == []

    redis_server.start()
    make_old(order)
    celery_app.send_task("execution.orders_reconcile_fleet", queue="high")  # as beat does
    assert run_worker()["execution.order_send"] == 1
    assert run_worker() == Counter()  # nothing more to send
    order.refresh_from_db()
    assert order.status == OrderStatus.WORKING
    assert [o.id for o in broker_orders(sim, order.custom_tag)] == [order.broker_order_id]
    assert AuditEntry.objects.for_tenant(account.tenant).filter(action="order.placed").count() == 1


def test_with_redis_down_trading_goes_on_and_an_alert_is_raised(
    redis_server, sim, account, es, caplog
):
    """A worker already holds a send task when Redis dies: the entry is placed, reconciliation
    takes its fill and the kill switch flattens the account, none of them waiting for Redis; the
    desk hears of the outage once."""
    alert_channel(account)
    entry = submit(account, es, stop_loss_ticks=8, take_profit_ticks=12)
    with celery_app.connection_for_read() as conn:
        message = celery_app.amqp.queues["high"].bind(conn.default_channel).get(no_ack=True)
    assert message.headers["task"] == "execution.order_send"
    redis_server.kill()
    assert system_health()["redis"] is False  # the operators' health page and /healthz

    with caplog.at_level(logging.ERROR):
        celery_app.tasks["execution.order_send"].apply(kwargs=message.decode()[1], throw=True)
        entry.refresh_from_db()
        assert entry.status == OrderStatus.WORKING
        assert [o.id for o in broker_orders(sim, entry.custom_tag)] == [entry.broker_order_id]
        sim.step(1)  # the entry fills; its brackets work
        reconcile.orders_reconcile(account=account)  # dashboard pushes are dropped, not raised
        assert positions_held(account) == {es.contract_id: 1}
        # The kill switch as a person or the risk watch pulls it: the task cannot be queued, so
        # the flatten runs in this process rather than being lost.
        account_flatten_request(
            tenant=account.tenant, account=account, actor=None, reason="kill switch, Redis down"
        )
        sim.step(1)  # the closing market order fills
        reconcile.orders_reconcile(account=account)
    assert "rate limiter: Redis unreachable" in caplog.text
    assert "could not queue execution.account_flatten; running it in this process" in caplog.text
    assert positions_held(account) == {}
    client = broker.gateway_client_for(connection=account.connection)
    assert client.search_open_positions(account.projectx_account_id) == []
    assert client.search_open_orders(account.projectx_account_id) == []
    alerts = NotificationDelivery.objects.for_tenant(account.tenant).filter(
        dedupe_key__startswith=f"redis-unavailable:{account.connection_id}:"
    )
    assert [a.event for a in alerts] == ["error"]  # once, not per broker call

    redis_server.start()
    assert system_health()["redis"] is True


def test_the_rate_limit_keeps_a_local_share_while_redis_is_down(redis_server):
    shared = redis.Redis.from_url(redis_server.url())
    lost: list[Exception] = []
    limits = {EndpointGroup.BARS: RateLimit(4, 60.0), EndpointGroup.GENERAL: RateLimit(4, 60.0)}
    limiter = RedisRateLimiter(
        shared, limits=limits, local_share=0.5, shared_retry_seconds=0, on_unavailable=lost.append
    )
    metrics = RedisMetrics(shared, key_prefix="m", retry_seconds=0)
    limiter.acquire("desk", "Order/place", wait_seconds=0)
    assert limiter.in_window("desk", EndpointGroup.GENERAL) == 1

    redis_server.kill()
    for _ in range(2):  # half of the budget of 4, in this process
        limiter.acquire("desk", "Order/place", wait_seconds=0)
    with pytest.raises(RateLimited):
        limiter.acquire("desk", "Order/cancel", wait_seconds=0)
    limiter.report_throttled("desk", "History/retrieveBars", 30.0)  # a 429 is still honoured
    with pytest.raises(RateLimited):
        limiter.acquire("desk", "History/retrieveBars", wait_seconds=0)
    metrics.record("Order/place", outcome=Outcome.OK, latency_seconds=0.01)  # dropped, no error
    assert (limiter.is_shared, len(lost)) == (False, 1)

    redis_server.start()
    limiter.acquire("desk", "Order/place", wait_seconds=0)  # the shared window again (a new one)
    assert limiter.is_shared
    assert limiter.in_window("desk", EndpointGroup.GENERAL) == 1
    metrics.record("Order/place", outcome=Outcome.OK, latency_seconds=0.01)
    assert metrics.snapshot()["Order/place"].calls == 1
    assert len(lost) == 1


def test_a_frozen_redis_holds_a_broker_call_no_longer_than_its_socket_timeout(redis_server):
    """SIGSTOP: Redis accepts connections and never answers (a paused VM, a blackholed host)."""
    shared = broker._redis()  # as the platform wires the gateway client
    limiter, metrics = RedisRateLimiter(shared), RedisMetrics(shared, key_prefix="m")
    limiter.acquire("desk", "Order/place", wait_seconds=0)
    redis_server.process.send_signal(signal.SIGSTOP)
    done = threading.Event()

    def place_and_cancel() -> None:
        for endpoint in ("Order/place", "Order/cancel"):  # the first waits for the socket timeouts
            limiter.acquire("desk", endpoint, wait_seconds=0)
            metrics.record(endpoint, outcome=Outcome.OK, latency_seconds=0.01)
        done.set()

    try:
        threading.Thread(target=place_and_cancel, daemon=True).start()
        assert done.wait(4)
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    assert not limiter.is_shared


def test_bar_reads_fall_back_to_postgresql_while_redis_is_down(
    redis_server, tmp_path, django_assert_num_queries
):
    with running_simulator(tmp_path / "md.sqlite3") as md:
        config = GatewayConfig(md.base_url, md.user_hub_url, md.market_hub_url)
        with GatewayClient(config, Credentials(md.username, md.api_key)) as client:
            fetch = RecordingFetch(client)
            cache = BarCache(
                fetch=fetch, source="sim", scope="demo", clock=lambda: md.state()["now"]
            )
            day = datetime(2025, 3, 2, tzinfo=UTC)  # a complete day: kept hot

            def read():
                return cache.read(
                    contract_id=md.contract_id(),
                    unit=BarUnit.MINUTE,
                    unit_number=1,
                    start=day,
                    end=day + timedelta(days=1),
                )

            first = read()
            assert len(first) == 1440
            redis_server.kill()
            during = read()
            redis_server.start()
            after = read()  # the hot copy died with Redis: from PostgreSQL, and hot again
            with django_assert_num_queries(0):
                hot = read()
    assert len(fetch.calls) == 1  # nothing fetched again: PostgreSQL kept every bar
    for series in (during, after, hot):
        assert series.opened_at.tolist() == first.opened_at.tolist()
        assert series.close.tolist() == first.close.tolist()


def test_after_the_restart_one_reconciliation_brings_the_account_to_the_brokers_truth(
    redis_server, sim, account, es
):
    """Before the crash: a bracket entry works at the broker and another order's send task waits
    in Redis. The crash loses that task; meanwhile the entry fills (its events are missed) and a
    third order is stored. After the restart one fleet reconciliation must leave our records equal
    to the broker's, with each order placed once."""
    alert_channel(account)
    working = trading.order_send(order=submit(account, es, stop_loss_ticks=8, take_profit_ticks=12))
    queued = submit(account, es)  # its send task is in Redis, no worker has taken it
    assert working.status == OrderStatus.WORKING
    redis_server.kill()
    sim.step(1)  # the entry fills at the broker; the brackets start working
    stored = submit(account, es)  # stored while Redis is down

    redis_server.start()
    assert run_worker() == Counter()  # the queued send task died with Redis
    for order in (queued, stored):
        make_old(order)
    celery_app.send_task("execution.orders_reconcile_fleet", queue="high")
    taken = run_worker()

    assert taken["execution.order_send"] == 2
    assert taken["notifications.delivery_send"] == 1  # the reconciliation's alert, queued
    client = broker.gateway_client_for(connection=account.connection)
    px_id = account.projectx_account_id
    at_broker = client.search_orders(px_id, start=datetime.now(UTC) - timedelta(hours=1))
    ours = Order.objects.for_tenant(account.tenant).filter(account=account)
    assert sorted(o.id for o in at_broker) == sorted(ours.values_list("broker_order_id", flat=True))
    for remote in at_broker:
        row = ours.get(broker_order_id=remote.id)
        truth = apply_broker_status(
            OrderState(OrderStatus.SUBMITTED, remote.size), int(remote.status),
            fill_volume=remote.fill_volume,
        )  # fmt: skip
        assert (row.status, row.filled_size) == (truth.status, truth.filled_size), remote
    tags = Counter(o.custom_tag for o in broker_orders(sim) if o.custom_tag)
    assert tags == Counter({working.custom_tag: 1, queued.custom_tag: 1, stored.custom_tag: 1})
    positions = {p.contract_id: p.size for p in client.search_open_positions(px_id)}
    assert positions == {es.contract_id: 1}
    assert positions_held(account) == positions
    (remote_account,) = [a for a in client.search_accounts() if a.id == px_id]
    day = AccountDay.objects.for_tenant(account.tenant).order_by("-session_date").first()
    assert day.balance_usd == remote_account.balance_usd

    assert reconcile.orders_reconcile(account=account).is_clean  # nothing left to correct
    assert run_worker() == Counter()  # and nothing re-sent
