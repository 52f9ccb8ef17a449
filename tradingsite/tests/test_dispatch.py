"""tradingsite/dispatch.py against the real Redis broker, and against a broker that refuses (a closed
port): each policy does what its docstring says."""

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError

from tradingsite.celery import app
from tradingsite.dispatch import Policy, enqueue, enqueue_on_commit

RAN: list[dict] = []


@app.task(name="tests.dispatch_record")
def dispatch_record(**kwargs: object) -> None:
    RAN.append(kwargs)


@pytest.fixture
def ran() -> Iterator[list[dict]]:
    RAN.clear()
    yield RAN
    RAN.clear()


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of its own in the test's Redis db, so no worker takes the message before we look."""
    name = f"dispatch-{uuid.uuid4().hex[:8]}"
    yield name
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for key in broker.scan_iter(f"{_prefix()}*{name}"):
        broker.delete(key)


def _prefix() -> str:
    """The test run's key prefix on the broker (conftest keeps parallel runs apart)."""
    return app.conf.broker_transport_options.get("global_keyprefix", "")


def _queued(queue: str) -> list[tuple[str, dict]]:
    """(task name, kwargs) of every message waiting in `queue`, read from Redis itself."""
    raw = redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange(_prefix() + queue, 0, -1)
    messages = [json.loads(entry) for entry in raw]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1]) for m in messages]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_connections() -> None:
    """Forget the pooled connections, so the next publish connects to the broker URL now set (the
    old pool stays open: kombu may hand it back when the URL is restored)."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def refusing_broker() -> Iterator[None]:
    before = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    _reset_connections()
    try:
        yield
    finally:
        app.conf.broker_url = before
        _reset_connections()


@pytest.mark.django_db(transaction=True)
def test_work_reaches_redis_only_when_the_transaction_commits(queue, ran):
    with transaction.atomic():
        enqueue_on_commit("tests.dispatch_record", policy=Policy.SWEPT, queue=queue, order_id=7)
        assert _queued(queue) == []  # nothing leaves before the commit

    assert _queued(queue) == [("tests.dispatch_record", {"order_id": 7})]
    assert ran == []  # queued, not run


@pytest.mark.django_db(transaction=True)
def test_work_of_a_rolled_back_transaction_is_never_queued(queue, ran):
    def write_then_fail() -> None:
        with transaction.atomic():
            enqueue_on_commit("tests.dispatch_record", policy=Policy.RISK_REDUCING, queue=queue)
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert _queued(queue) == []
    assert ran == []


@pytest.mark.django_db(transaction=True)
def test_a_misspelt_task_name_fails_inside_the_callers_transaction(queue):
    with pytest.raises(NotRegistered), transaction.atomic():
        enqueue_on_commit("execution.no_such_task", policy=Policy.RETRY, queue=queue)
    assert _queued(queue) == []


def test_the_apps_tasks_are_found_by_name_in_a_process_that_never_imported_them():
    """A web process imports no tasks.py; the name alone finds the task (autodiscovery on need)."""
    script = (
        "import sys, django; django.setup()\n"
        "assert 'execution.tasks' not in sys.modules\n"
        "from tradingsite.dispatch import task_by_name\n"
        "print(task_by_name('execution.account_flatten').run.__module__)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "DJANGO_DEBUG": "True"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "execution.tasks"


def test_risk_reducing_work_runs_here_when_the_broker_refuses(refusing_broker, ran, caplog):
    enqueue("tests.dispatch_record", policy=Policy.RISK_REDUCING, queue="critical", account_id=3)

    assert ran == [{"account_id": 3}]
    assert "could not queue tests.dispatch_record; running it in this process" in caplog.text


@pytest.mark.parametrize(
    ("policy", "said"),
    [(Policy.SWEPT, "a sweep will queue it again"), (Policy.RETRY, "it is lost")],
)
def test_other_work_is_logged_as_an_error_and_not_run(refusing_broker, ran, caplog, policy, said):
    enqueue("tests.dispatch_record", policy=policy, queue="high", order_id=5)

    assert ran == []
    [record] = [r for r in caplog.records if r.name == "tradingsite.dispatch"]
    assert record.levelno == logging.ERROR
    assert said in record.getMessage()
    assert "'order_id': 5" in record.getMessage()  # the operator can tell what was lost


@pytest.mark.django_db(transaction=True)
def test_a_refused_enqueue_after_commit_keeps_the_commit_and_later_callbacks(refusing_broker, ran):
    later: list[str] = []
    with transaction.atomic():
        enqueue_on_commit("tests.dispatch_record", policy=Policy.RETRY, run_id=1)
        transaction.on_commit(lambda: later.append("ran"))

    assert later == ["ran"]
    assert ran == []


def test_raise_hands_the_brokers_error_to_the_caller(refusing_broker, ran):
    with pytest.raises(OperationalError, match="refused"):
        enqueue("tests.dispatch_record", policy=Policy.RAISE, queue="high", interaction={})

    assert ran == []
