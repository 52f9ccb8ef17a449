"""A real worker (`celery -A tradingsite worker`, as the Procfile starts it) redacts secrets from its
logs like the web does: task loggers, module loggers, print(), tracebacks and the failure report."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from django.conf import settings

from tradingsite.celery import app

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (
    "SECRET-task-logger",
    "SECRET-module-logger",
    "SECRET-print",
    "SECRET-traceback",
    "SECRET-task-failure",
)


def test_secrets_logged_inside_a_task_run_by_a_real_worker_are_redacted(tmp_path: Path) -> None:
    queue, marker = f"log-redaction-{uuid.uuid4().hex[:8]}", f"marker-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    worker = _start_worker(queue=queue, log=log)
    try:
        app.send_task("tests.log_secrets", kwargs={"marker": marker}, queue=queue)
        output = _wait_for(log, "raised unexpected", timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        _drop_startup_reconcile()

    lines = [line for line in output.splitlines() if marker in line]
    assert len(lines) >= 5, output  # each way of logging reached the log
    for secret in SECRETS:
        assert secret not in output, f"{secret} leaked:\n{output}"
    assert output.count("[REDACTED]") >= 5, output


def _start_worker(*, queue: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.test_settings"}
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tradingsite", "worker"),
            *("--pool", "prefork", "--concurrency", "1", "--queues", queue, "--loglevel", "INFO"),
            *("--include", "tradingsite.tests.worker_tasks"),
            *("--without-heartbeat", "--without-mingle", "--without-gossip"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait_for(log: Path, text: str, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            time.sleep(0.2)  # the rest of the failure report
            return log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the worker never ran the task:\n{log.read_text()}")


def _drop_startup_reconcile() -> None:
    """The worker queues a reconcile when it starts (tradingsite/celery.py); no worker of this test
    run consumes the "normal" queue, so take it out rather than leave it to another test."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(f"{prefix}normal")
