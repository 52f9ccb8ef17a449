"""Issue 13: the kill switch never waits behind a backtest.

Real Celery worker processes are started from the Procfile's own command lines (the critical pool and
the batch pool, against this test run's Redis key space and test database), the simulator is the
broker, and the batch pool is filled with long backtests on the real ES file. A flatten requested
then must be done within seconds while those backtests are still running.
"""

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from kombu import Queue

from accounts.models import AuditEntry
from analytics.management.commands.setup_periodic_tasks import SCHEDULE
from execution import ingest, trading
from execution.models import OrderType
from execution.services import account_flatten_request
from execution.tests.simulated import bracket_simulator, simulator_account
from execution.tests.test_trading import broker_orders, submit
from strategies.backtests import backtest_create
from strategies.models import BacktestRun, BacktestStatus
from tradingsite.celery import app as celery_app
from tradingsite.celery import reconcile_at_start

ROOT = Path(__file__).resolve().parents[2]
ES_FILE = "es_1min_2019-2023.csv.gz"
FLATTEN_WITHIN_SECONDS = 5.0
# Each run replays all 1.49 million ES minutes (about 6 s alone on an idle core, longer on a busy
# machine); four of them keep a one-process batch pool busy for half a minute.
LONG_BACKTESTS = 4

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("worker_pools")]


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise LookupError(f"the Procfile has no {process!r} process")


def procfile_queues(process: str) -> set[str]:
    words = shlex.split(procfile_command(process))
    return set(words[words.index("-Q") + 1].split(","))


def database_url() -> str:
    db = django_settings.DATABASES["default"]  # the test database, whatever pytest-django named it
    user = f"{db['USER']}:{db['PASSWORD']}@" if db["PASSWORD"] else f"{db['USER']}@"
    return f"postgres://{user}{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextmanager
def pool(process: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """One Procfile process, run through a shell as honcho runs it, until it says it is ready."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {procfile_command(process)}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{process} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the pool and its children: tasks left are purged
        proc.wait(30)


@pytest.fixture
def sim(tmp_path, settings):
    with bracket_simulator(tmp_path, settings) as handle:
        yield handle


@pytest.fixture
def purged_queues():
    """This run's queues empty before and after, and no task of a killed pool left to redeliver."""

    def purge() -> None:
        with celery_app.connection_for_write() as conn:
            for name in django_settings.CELERY_TASK_QUEUES_ORDER:
                queue = celery_app.amqp.queues[name].bind(conn.default_channel)
                queue.declare()
                queue.purge()
        prefix = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete(
            f"{prefix}unacked", f"{prefix}unacked_index"
        )

    purge()
    yield
    purge()


@pytest.fixture
def pools(sim, tmp_path, purged_queues):
    """The critical pool and the batch pool, as the Procfile starts them, one process each."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "tradingsite.test_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "MARKET_DATA_DIR": str(django_settings.MARKET_DATA_DIR),
        "PROJECTX_SIM_API_URL": sim.base_url,
        "PROJECTX_SIM_USER_HUB_URL": sim.user_hub_url,
        "PROJECTX_SIM_MARKET_HUB_URL": sim.market_hub_url,
        "CELERY_CONCURRENCY": "1",
        "CELERY_BATCH_CONCURRENCY": "1",
    }
    with ExitStack() as stack:
        for process in ("worker", "worker_batch"):
            stack.enter_context(pool(process, env, tmp_path / f"{process}.log"))
        yield


def test_the_critical_pool_serves_only_the_kill_switch_queues_and_the_batch_pool_the_rest():
    """Nothing but critical and high work can occupy the critical pool, and every queue is served."""
    assert procfile_queues("worker") == {"critical", "high"}
    assert procfile_queues("worker_batch") == {"backtests", "background"}
    routed = {
        name: celery_app.amqp.router.route({}, name)["queue"].name
        for name in (
            "execution.account_flatten",
            "execution.account_cancel_open_orders",
            "execution.day_flatten_due",
            "execution.order_send",
            "execution.orders_reconcile",
            "strategies.desk_step",
            "strategies.backtest_run",
            "execution.cleanup_cached_bars",
        )
    }
    assert routed == {
        "execution.account_flatten": "critical",
        "execution.account_cancel_open_orders": "critical",
        "execution.day_flatten_due": "critical",
        "execution.order_send": "high",
        "execution.orders_reconcile": "high",
        "strategies.desk_step": "high",
        "strategies.backtest_run": "backtests",
        "execution.cleanup_cached_bars": "background",
    }
    served = set().union(
        *(procfile_queues(p) for p in ("worker", "worker_default", "worker_batch"))
    )
    assert served == set(django_settings.CELERY_TASK_QUEUES_ORDER)


def open_positions(sim) -> list[int]:
    """The simulator's own truth: the net size of each open position."""
    positions = sim._sync(lambda: list(sim.server.engine.positions.values()))
    return [p.net for p in positions if p.net]


def test_every_beat_schedule_uses_its_tasks_routed_queue():
    """The schedule names a queue per job (django-celery-beat stores it); it must be the route's."""
    for name, task, queue, _ in SCHEDULE:
        assert queue == celery_app.amqp.router.route({}, task)["queue"].name, name


def queued(name: str) -> list[str]:
    """Task names taken from one queue of this run's Redis key space."""
    with celery_app.connection_for_read() as conn:
        queue = celery_app.amqp.queues[name].bind(conn.default_channel)
        messages = iter(lambda: queue.get(no_ack=True), None)
        return [message.headers["task"] for message in messages]


def test_only_the_pool_that_reconciles_asks_for_a_reconciliation_when_it_starts(purged_queues):
    def started(*queues: str) -> None:
        consumer = SimpleNamespace(queues=[Queue(name) for name in queues])
        reconcile_at_start(SimpleNamespace(app=celery_app, task_consumer=consumer))

    started("backtests", "background")
    started("normal", "low")
    assert not any(queued(name) for name in django_settings.CELERY_TASK_QUEUES_ORDER)
    started("critical", "high")
    assert queued("high") == ["execution.orders_reconcile_fleet"]


def wait_for(predicate, *, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            return value
        time.sleep(every)
    return value


def test_a_flatten_completes_within_seconds_while_the_batch_pool_is_full_of_backtests(
    sim, pools, tenant_a
):
    account = simulator_account(sim, tenant_a)
    es = ingest.instrument_for_contract(sim.contract_id())
    trading.order_send(order=submit(account, es))  # long 1 at the next open
    resting = trading.order_send(
        order=submit(account, es, order_type=OrderType.LIMIT, limit_price=Decimal("4990.00"))
    )
    sim.step(1)
    assert open_positions(sim) == [1]

    for _ in range(LONG_BACKTESTS):
        backtest_create(
            tenant=tenant_a,
            actor=None,
            kind="mean_reversion",
            params={},
            contract="ES",
            bars_source=ES_FILE,
        )
    runs = BacktestRun.objects.for_tenant(tenant_a)

    def early_running_run():
        run = runs.filter(status=BacktestStatus.RUNNING).first()
        early = run and run.progress_total and run.progress_done < 0.3 * run.progress_total
        return run if early else None

    busy = wait_for(early_running_run, timeout=120)
    assert busy is not None, "the batch pool never started a backtest"

    with transaction.atomic():
        account_flatten_request(tenant=tenant_a, account=account, actor=None, reason="kill switch")
    requested = time.monotonic()
    flattened = AuditEntry.objects.for_tenant(tenant_a).filter(action="account.flattened")
    done = wait_for(flattened.exists, timeout=60)
    took = time.monotonic() - requested
    busy.refresh_from_db()
    waiting = runs.filter(status=BacktestStatus.QUEUED).count()
    print(
        f"\nflatten done {took:.2f} s after the request; backtest {busy.pk} at {busy.progress_share:.0%}"
    )

    assert done, "the flatten never ran"
    assert took < FLATTEN_WITHIN_SECONDS
    assert busy.status == BacktestStatus.RUNNING  # the batch pool was busy the whole time
    assert waiting >= LONG_BACKTESTS - 2  # and had more backtests waiting
    assert broker_orders(sim, resting.custom_tag)[0].status == 3  # cancelled at the broker
    sim.step(1)  # the closing market order fills at the next open
    assert open_positions(sim) == []
