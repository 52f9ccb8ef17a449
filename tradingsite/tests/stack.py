"""The whole product started as a newcomer starts it (`bin/run`), for the tests that drive it from outside.

No DATABASE_URL and no REDIS_URL: bin/run brings up its embedded PostgreSQL and a private Redis in the
run folder, migrates, seeds the demo desk and starts web, worker, beat, simulator and hubs with honcho.
Ports are free ones, so a run never meets a developer's `make run`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (loopback URL we built)
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass(frozen=True)
class Stack:
    base_url: str
    run_dir: Path
    env: dict[str, str]  # what its processes run with, including the database bin/run chose

    log_path: Path

    @property
    def log(self) -> str:
        """Every process's output so far (honcho prefixes each line with the process name)."""
        return self.log_path.read_text(errors="replace")

    def manage(self, *args: str) -> str:
        """A `manage.py` command run as an operator would run it beside the stack."""
        return self.python("manage.py", *args)

    def python(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def report(self) -> dict:
        """The demo desk's day from the stack's database (tradingsite/tests/stack_report.py)."""
        return json.loads(self.python("-m", "tradingsite.tests.stack_report"))


def stack_env(run_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        RUN_DIR=str(run_dir),
        PORT=str(free_port()),
        SIMULATOR_PORT=str(free_port()),
        RUN_REDIS_PORT=str(free_port()),
        CELERY_CONCURRENCY="1",
    )
    env.update(extra)
    return env


@contextmanager
def private_run_dir(prefix: str = "stack-") -> Iterator[Path]:
    """A run folder of its own under the system temp folder, removed afterwards.

    Not under pytest's tmp_path: pytest makes /tmp/pytest-of-<user> owner-only again whenever any
    pytest session starts (its security check), and the embedded PostgreSQL, which runs as the
    `pgserver` user when started as root, then loses its data folder in mid-run (PANIC: pg_control
    permission denied) as soon as another engineer on the machine runs a test.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def running_stack(run_dir: Path, *, log_name: str = "run.log", **extra_env: str) -> Iterator[Stack]:
    env = stack_env(run_dir, extra_env)
    log_path = run_dir / log_name
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_for(f"{base_url}/healthz", timeout=STARTUP_SECONDS)
        yield Stack(base_url, run_dir, _operator_env(env, run_dir), log_path)
    finally:
        postgres_left_running = stop_stack(process, run_dir)
        log.close()
    assert not postgres_left_running, "bin/run ended without stopping its PostgreSQL"


def _operator_env(env: dict[str, str], run_dir: Path) -> dict[str, str]:
    """The stack's environment with the database and Redis that bin/run started."""
    url = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "embedded-postgres"), "url", str(run_dir / "postgres")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        **env,
        "DJANGO_DEBUG": "True",
        "DATABASE_URL": url,
        "REDIS_URL": f"redis://127.0.0.1:{env['RUN_REDIS_PORT']}/0",
    }


def stop_stack(process: subprocess.Popen, run_dir: Path) -> bool:
    """SIGINT to bin/run's process group, as Ctrl-C in its terminal: honcho stops every process (the
    worker shuts down warm; its pool ignores SIGINT), then bin/run stops its PostgreSQL. The private Redis is left running by design; the test stops it. Says whether
    PostgreSQL was still running afterwards (then it is stopped here)."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    pidfile = run_dir / "redis.pid"
    if pidfile.exists():
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    embedded_postgres = [sys.executable, str(ROOT / "bin" / "embedded-postgres")]
    data_dir = str(run_dir / "postgres")
    left_running = (
        subprocess.run([*embedded_postgres, "url", data_dir], capture_output=True).returncode == 0
    )
    subprocess.run([*embedded_postgres, "stop", data_dir], check=True)
    return left_running
