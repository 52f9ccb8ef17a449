"""`make run`'s script brings up the whole product on embedded defaults, and a person can log in.

Starts bin/run exactly as a newcomer would (no DATABASE_URL, no REDIS_URL: SQLite and a private Redis),
then drives Debian's Chromium through Playwright: log in as the demo trader, see the dashboard and the
admin console, and check that worker and beat are alive through the health endpoint.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.xdist_group("make_run")


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


@pytest.fixture(scope="module")
def running_product(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        RUN_DIR=str(run_dir),
        PORT=str(port),
        SIMULATOR_PORT=str(free_port()),
        RUN_REDIS_PORT=str(free_port()),
        CELERY_CONCURRENCY="1",
    )
    log = (run_dir / "run.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / "bin" / "run")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", timeout=180)
        yield base, run_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        pidfile = run_dir / "redis.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_demo_trader_logs_in_and_sees_dashboard_and_admin(running_product, browser):
    base, _run_dir = running_product
    page = browser.new_page()
    page.goto(f"{base}/")
    assert "/login/" in page.url  # the dashboard needs a login
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo-password")
    page.click("#login-submit")
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert "Demo Desk" in page.content()
    # The worker synced the simulator's demo account through the gateway client.
    deadline = time.monotonic() + 60
    while "10001" not in page.content() and time.monotonic() < deadline:
        time.sleep(1)
        page.reload()
    assert "10001" in page.content()
    page.goto(f"{base}/admin/")
    page.wait_for_selector("text=Trading operations console")
    assert "Trading accounts" in page.content()
    page.close()


def test_wrong_password_is_refused_with_a_message(running_product, browser):
    base, _ = running_product
    page = browser.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "not-the-password")
    page.click("#login-submit")
    page.wait_for_selector(".errorlist")
    assert "/login/" in page.url
    page.close()


def superuser_create(run_dir: Path, username: str, password: str) -> None:
    """A superuser in the running product's database (the platform's health is theirs to see; the
    demo trader is desk staff)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_DEBUG="True",
        DATABASE_URL=f"sqlite:///{run_dir}/db.sqlite3",
        DJANGO_SUPERUSER_PASSWORD=password,
    )
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput",
         "--username", username, "--email", f"{username}@example.com"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_worker_and_beat_are_alive(running_product, browser):
    base, run_dir = running_product
    superuser_create(run_dir, "ops", "ops-password-for-tests")
    page = browser.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-password-for-tests")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    deadline = time.monotonic() + 90
    report = {}
    while time.monotonic() < deadline:
        report = json.loads(page.goto(f"{base}/healthz").text())
        if report.get("worker_and_beat"):
            break
        time.sleep(2)
    assert report["database"], report
    assert report["redis"], report
    assert report["worker_and_beat"], report
    page.close()
