"""`make run`'s script brings up the whole product on embedded defaults, and a person can log in.

The product is started, stopped and started again in the same folder: the second run finds the first
run's PostgreSQL data (bin/run stopped the server cleanly; the helper asserts it).

Starts bin/run exactly as a newcomer would (no DATABASE_URL, no REDIS_URL: the embedded PostgreSQL and a
private Redis), then drives Debian's Chromium through Playwright: log in as the demo trader, see the
dashboard and the admin console, and check that worker and beat are alive through the health endpoint.
"""

import json
import shutil
import time

import pytest

from tradingsite.tests.stack import private_run_dir, running_stack

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


@pytest.fixture(scope="module")
def second_run():
    """`make run` started, stopped (as Ctrl-C would) and started again in the same folder."""
    with private_run_dir(
        "make-run-"
    ) as run_dir:  # not under pytest's temp root (stack.py says why)
        with running_stack(run_dir, log_name="first-run.log"):
            pass
        with running_stack(run_dir) as stack:
            yield stack


@pytest.fixture(scope="module")
def running_product(second_run):
    return second_run.base_url, second_run.run_dir


def test_the_second_run_keeps_the_first_runs_database(second_run):
    first = (second_run.run_dir / "first-run.log").read_text()
    assert "Created demo desk 'Demo Desk'" in first
    assert "Applying accounts.0001_initial" in first
    # The same PostgreSQL data folder, found and started again: nothing to migrate, the desk is kept.
    assert "Kept demo desk 'Demo Desk'" in second_run.log
    assert "No migrations to apply" in second_run.log


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


def superuser_create(stack, username: str, password: str) -> None:
    """A superuser in the running product's database (the platform's health is theirs to see; the
    demo trader is desk staff)."""
    stack.python(
        "-c",
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tradingsite.settings'); "
        "django.setup(); "
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser({username!r}, {username + '@example.com'!r}, "
        f"{password!r})",
    )


def test_worker_and_beat_are_alive(second_run, browser):
    base = second_run.base_url
    superuser_create(second_run, "ops", "ops-password-for-tests")
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
