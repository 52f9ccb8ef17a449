"""The web UI in a real browser: Debian's Chromium driven by Playwright against a real ASGI server
(uvicorn running tradingsite.asgi, so websockets work) on the test database.

Covers: log in, see the dashboard, enable a strategy, watch a fill pushed over the websocket arrive
live (one recorded through the ingest services directly, and one end to end: an order placed through the
order service, filled by the simulator and reported by its user hub to the hubs process), a dropped
connection resynchronising on reconnect, phone-width layout, and a screenshot of every main page into
docs/screenshots/ (the price chart shows a real MES session shifted to today).
"""

import asyncio
import csv
import gzip
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from accounts.models import GatewayEnvironment, Role
from accounts.tests.factories import (
    BrokerConnectionFactory,
    MembershipFactory,
    TradingAccountFactory,
    UserFactory,
)
from analytics.health import HEARTBEAT_KEY, hubs_key
from execution import hubs_process, ingest, trading
from execution.gateway import types as gw
from execution.gateway.hubs import HubStateEvent, TradeEvent
from execution.models import AccountDay, CachedBar, Fill, OrderSide, OrderStatus, OvernightRange
from execution.sources import market_source_for
from execution.tests import simulated
from execution.tests.simulated import bracket_simulator, simulator_account
from markets.sessions import NEW_YORK, globex_session, trading_date
from strategies.tests.factories import StrategyConfigFactory
from web.selectors import today_session
from web.templatetags.web_format import price as format_price
from web.tests.conftest import _desk

ROOT = Path(__file__).resolve().parents[2]
# The docs keep one screenshot per main page; a test run writes them only when asked
# (SCREENSHOT_DIR=docs/screenshots), so running the suite never changes tracked files.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "tradingsite-screenshots"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
MARKET_DATA = Path(os.environ.get("MARKET_DATA_DIR", ROOT.parent / "shared" / "data"))
PASSWORD = "pw-for-tests"
METRICS_PREFIX = f"test-web-browser-{uuid.uuid4().hex[:8]}"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AsgiServer:
    """uvicorn serving the project's ASGI app in a child process, on the test database."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "web.tests.browser_settings",
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
            "DATABASE_CONN_MAX_AGE": "0",
            "WEB_TEST_METRICS_PREFIX": METRICS_PREFIX,
        }
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "uvicorn"), "tradingsite.asgi:application",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError("the ASGI server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        self.process = None


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        asgi = AsgiServer(free_port())
        asgi.start()
    yield asgi
    asgi.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop marked running in this thread (greenlets), so Django
    # would refuse the test's own (synchronous, same-thread) database calls without this.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors  # no JavaScript error on any page


def in_thread(function, **kwargs: object) -> object:
    """Run a service from a plain thread: Playwright's loop owns this one, and the services' on-commit
    pushes use async_to_sync, which refuses to run under a running loop."""

    def call() -> object:
        try:
            return function(**kwargs)
        finally:
            connection.close()  # the thread's own connection

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=10)


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("h1:has-text('Dashboard')")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def load_real_session(instrument, session, source: str) -> list[CachedBar]:
    """A real MES session (the first full one in the sample) moved onto today's session times."""
    path = MARKET_DATA / "mes_1min_sample_2023-12.csv.gz"
    if not path.exists():
        return []
    with gzip.open(path, "rt") as handle:
        rows = list(csv.DictReader(handle))
    first = datetime.fromisoformat(rows[0]["ts_utc"].replace("Z", "+00:00"))
    source_start, source_end = globex_session(today_session(first + timedelta(hours=1)))
    target_start, _ = globex_session(session)
    shift = target_start - source_start
    bars = []
    for row in rows:
        at = datetime.fromisoformat(row["ts_utc"].replace("Z", "+00:00"))
        if source_start <= at < source_end:
            bars.append(
                CachedBar(
                    source=source, contract_id=instrument.contract_id, unit=2, unit_number=1,
                    started_at=at + shift, open_price=Decimal(row["open"]),
                    high_price=Decimal(row["high"]), low_price=Decimal(row["low"]),
                    close_price=Decimal(row["close"]), volume=int(row["volume"]),
                )
            )  # fmt: skip
    CachedBar.objects.filter(contract_id=instrument.contract_id).delete()
    CachedBar.objects.bulk_create(bars)
    return bars


HISTORY_PNL = ["250.00", "-125.00", "300.00", "-200.00", "150.00", "-100.00", "425.00", "-175.00",
               "375.00", "-90.00", "210.00", "60.00"]  # fmt: skip


FADE_PNL = ["-60.00", "180.00", "-220.00", "90.00", "-40.00", "130.00", "-310.00", "75.00",
            "-30.00", "160.00", "-95.00", "45.00"]  # fmt: skip


def add_history(strategy, instrument, session, pnls: list[str], first_trade_id: int) -> None:
    """Earlier sessions, one closed trade each, and their ledger rows (for the analytics page)."""
    account, balance = strategy.account, Decimal("50000.00")
    for back, pnl in enumerate(reversed(pnls), start=1):
        day = session - timedelta(days=back)
        at = globex_session(day)[0] + timedelta(hours=16)
        fee = Decimal("2.80")
        Fill.all_tenants.create(
            tenant=account.tenant, account=account, instrument=instrument,
            broker_trade_id=first_trade_id + back, side=OrderSide.SELL, size=1,
            price=Decimal("4560.00"), fees_usd=fee, realized_pnl_usd=Decimal(pnl), executed_at=at,
            strategy_config=strategy,
        )  # fmt: skip
        AccountDay.all_tenants.create(
            tenant=account.tenant, account=account, session_date=day,
            start_balance_usd=balance, balance_usd=balance + Decimal(pnl) - fee,
            realized_pnl_usd=Decimal(pnl), fees_usd=fee, high_water_usd=balance,
            mll_floor_usd=Decimal("48000.00"),
        )  # fmt: skip


@pytest.fixture
def trading_desk(tenant_a, alice, account_a):
    """Alice's desk with a real-looking session: real MES bars, the overnight range, two round trips."""
    alice.is_staff = True
    alice.save()
    desk = _desk(account_a, contract_id="CON.F.US.MES.Z26")
    desk.instrument.symbol, desk.instrument.name = "MES", "MESZ6"
    desk.instrument.save()
    source = market_source_for(connection=account_a.connection).key
    bars = load_real_session(desk.instrument, desk.day.session_date, source)
    if bars:
        start = desk.session_start
        overnight = [b for b in bars if b.started_at < start + timedelta(hours=15, minutes=30)]
        OvernightRange.objects.filter(instrument=desk.instrument).update(
            high_price=max(b.high_price for b in overnight),
            low_price=min(b.low_price for b in overnight),
            bar_count=len(overnight),
        )
        by_time = {b.started_at: b for b in bars}
        for fill in (desk.entry, desk.exit):
            bar = by_time.get(fill.executed_at.replace(second=0))
            if bar is not None:
                fill.price = bar.close_price
                fill.save()
    add_history(desk.strategy, desk.instrument, desk.day.session_date, HISTORY_PNL, 1000)
    paper = BrokerConnectionFactory(
        tenant=tenant_a, name="Simulator", environment=GatewayEnvironment.SIMULATOR
    )
    practice = TradingAccountFactory(tenant=tenant_a, connection=paper, name="Practice 50K")
    fade = StrategyConfigFactory(
        tenant=tenant_a, account=practice, instrument=desk.instrument, name="Fade",
        kind="mean_reversion", is_enabled=True,
    )  # fmt: skip
    add_history(fade, desk.instrument, desk.day.session_date, FADE_PNL, 2000)
    AccountDay.all_tenants.create(  # a bad day: 82% of the daily loss limit used (warning)
        tenant=tenant_a, account=practice, session_date=desk.day.session_date,
        start_balance_usd=Decimal("50000.00"), balance_usd=Decimal("49180.00"),
        realized_pnl_usd=Decimal("-811.60"), fees_usd=Decimal("8.40"),
        high_water_usd=Decimal("50000.00"), mll_floor_usd=Decimal("48000.00"),
        daily_loss_floor_usd=Decimal("49000.00"),
    )  # fmt: skip
    return desk


def test_trader_logs_in_sees_the_dashboard_and_enables_a_strategy(server, page, trading_desk):
    log_in(page, server.url, "alice")
    assert "Desk A" in page.content()
    page.click(f"a.account[data-account-id='{trading_desk.strategy.account_id}']")
    page.wait_for_selector("#live-status.ok")  # the websocket is up
    page.wait_for_function("window.accountDashboard.refreshes >= 1")
    card = f".strategy-card[data-strategy-id='{trading_desk.strategy.pk}']"
    assert page.inner_text(f"{card} .badge") == "off"
    page.click(f"{card} button:has-text('Enable')")
    page.wait_for_selector(f"{card} .badge:has-text('running')")
    trading_desk.strategy.refresh_from_db()
    assert trading_desk.strategy.is_enabled is True
    assert page.inner_text(".messages") == f"{trading_desk.strategy.name} enabled (paper trading)."


def test_trader_starts_a_backtest_and_sees_its_result(server, page, trading_desk):
    """The form built from the strategy's schema queues a run; the page follows its progress and,
    once a worker has run it (here: the task, called as the worker would), shows the result."""
    from strategies.models import BacktestRun
    from strategies.tasks import backtest_run_task

    log_in(page, server.url, "alice")
    page.goto(f"{server.url}/backtests/")
    page.select_option("#id_bars", "nq_1min_sample_2023-11.csv.gz")
    page.select_option("select[name=contract]", "NQ")
    page.click("#backtest-start")
    page.wait_for_selector("#backtest-status")
    assert page.inner_text("#status-text") == "Queued"
    run = BacktestRun.all_tenants.get(tenant=trading_desk.strategy.tenant)
    backtest_run_task(tenant_id=run.tenant_id, run_id=run.pk)
    page.wait_for_selector("#metrics", timeout=10_000)  # the page polls, then reloads when done
    run.refresh_from_db()
    assert run.metrics["net_pnl_usd"] in page.inner_text("#net-pnl")


def test_trader_evaluates_a_strategy_against_a_combine(server, page, trading_desk):
    """The Evaluation Lab's form queues a run; once a worker has run it the page shows the pass
    probability, the days-to-pass histogram and the Monte Carlo fan."""
    from strategies.models import EvaluationRun
    from strategies.tasks import evaluation_run_task

    log_in(page, server.url, "alice")
    page.goto(f"{server.url}/evaluations/")
    page.select_option("#id_bars", "es_1min_2019-2023.csv.gz")
    page.select_option("select[name=contract]", "ES")
    page.fill("#id_start_every", "20")
    page.fill("#id_paths", "300")
    page.click("#evaluation-start")
    page.wait_for_selector("#backtest-status")
    assert page.inner_text("#status-text") == "Queued"
    run = EvaluationRun.all_tenants.get(tenant=trading_desk.strategy.tenant)
    evaluation_run_task(tenant_id=run.tenant_id, run_id=run.pk)
    page.wait_for_selector(".pass-rate", timeout=10_000)  # the page polls, then reloads when done
    assert page.locator(".days-histogram rect").count() > 0
    assert page.locator("#fan polyline").count() == 6
    shot(page, "evaluation")


def test_a_broker_fill_appears_live_on_the_dashboard(server, page, trading_desk):
    """The broker's fill, handed to execution's ingest services directly (the path hub events take),
    is recorded and pushed over the channel layer; the open page shows it and its figures without a
    reload. The same from the simulator itself, through the hubs process: the next test."""
    log_in(page, server.url, "alice")
    account = trading_desk.strategy.account
    page.goto(f"{server.url}/accounts/{account.pk}/")
    page.wait_for_selector("#live-status.ok")
    page.wait_for_function("window.accountDashboard.refreshes >= 1")
    assert page.inner_text("#net-today") == "+$422.20"
    markers_before = len(
        page.evaluate(
            "fetch(location.pathname + 'chart.json').then(r => r.json()).then(d => d.price.markers)"
        )
    )
    trade = gw.HalfTrade(
        id=99, account_id=account.projectx_account_id, contract_id=trading_desk.instrument.contract_id,
        created_at=trading_desk.exit.executed_at + timedelta(minutes=3), price=Decimal("4562.75"),
        profit_and_loss_usd=Decimal("100.00"), fees_usd=Decimal("1.40"), side=gw.OrderSide.ASK,
        size=1, voided=False, order_id=0,
    )  # fmt: skip
    in_thread(ingest.fill_record, account=account, trade=trade)
    in_thread(ingest.account_balance_record, account=account, balance_usd=Decimal("50595.80"))
    page.wait_for_selector("#events li.event-fill", timeout=5000)
    # Realised 500 + 100, fees 2.80 + 1.40, open -75: net +520.80.
    page.wait_for_function(
        "document.getElementById('net-today').textContent.trim() === '+$520.80'", timeout=5000
    )
    page.wait_for_function(
        "document.getElementById('balance').textContent.trim() === '$50,595.80'", timeout=5000
    )
    assert "fill · side=Sell size=1 price=4562.75" in page.inner_text("#events")
    assert "balance · balance_usd=50595.80" in page.inner_text("#events")
    markers = page.evaluate(
        "fetch(location.pathname + 'chart.json').then(r => r.json()).then(d => d.price.markers)"
    )
    assert len(markers) == markers_before + 1
    assert markers[-1]["text"] == "Exit S1 @ 4562.75"  # it realised P&L: a closing fill


# --- A simulated fill, end to end (issue #6) --------------------------------------------------------

LIVE_TIMEOUT = 30_000  # ms: generous; the test proves arrival without a reload, not a latency


def session_now() -> datetime:
    """10:00 New York on the current trading date: the risk rules allow entries whatever the wall clock."""
    day = trading_date(datetime.now(UTC))
    return datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=NEW_YORK)


@pytest.fixture
def sim(tmp_path, settings):
    """The ProjectX simulator on a stepped clock starting at the wall clock's minute (its fills fall in
    today's session), replaying EP bars whose next open is 5000.00; the platform's simulator
    connections point at it (in this process: the hubs and the order service run here)."""
    with bracket_simulator(tmp_path, settings) as handle:
        yield handle


@pytest.fixture
def sim_account(sim, tenant_a):
    """Alice's account at the simulator: a "Simulator" broker connection with the demo login."""
    return simulator_account(sim, tenant_a, name="Paper 50K", connection__name="Simulator")


@pytest.fixture
def tasks_inline():
    """Celery tasks run inline, as a worker would run them (the order service's send, the resync the
    hubs process asks for when its user hub connects), so nothing is left queued in Redis."""
    with simulated.tasks_inline():
        yield


class HubsProcess:
    """The hubs process's own code (execution.hubs_process.serve, what `manage.py runhubs` runs) on an
    event loop in a background thread. `events` records each event it hands to
    execution.ingest.handle_hub_event, which is still called: the test only watches."""

    def __init__(self, monkeypatch) -> None:
        self.events: list[object] = []
        self.failure: BaseException | None = None
        real = hubs_process.handle_hub_event

        def watched(*, connection, event) -> None:
            self.events.append(event)
            real(connection=connection, event=event)

        monkeypatch.setattr(hubs_process, "handle_hub_event", watched)
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name="test-hubs-process", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            try:
                # One fleet picture for the whole test (no rescan): the hubs connect once, so the
                # fill can only arrive as a hub event, never through a reconnect's REST resync.
                await hubs_process.serve(self.stop_event, rescan_seconds=3600)
            finally:
                # The ingest thread's own connection (`connection` resolves in the calling thread).
                await sync_to_async(lambda: connection.close())()

        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # reported by wait_for / stop
            self.failure = exc
        finally:
            self.loop.close()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the hubs process did not stop"
        assert self.failure is None, f"the hubs process failed: {self.failure!r}"

    def user_hub_connects(self) -> int:
        return sum(
            isinstance(e, HubStateEvent) and e.hub == "user" and e.connected for e in self.events
        )

    def wait_for(self, predicate, what: str, timeout: float = LIVE_TIMEOUT / 1000) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if not self.thread.is_alive():
                raise AssertionError(f"the hubs process ended before {what}: {self.failure!r}")
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout:.0f}s")


def panel_text_includes(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector).textContent.includes(text)",
        arg=[selector, text],
        timeout=LIVE_TIMEOUT,
    )


def test_a_simulated_fill_arrives_live_on_the_open_dashboard(
    server, page, alice, sim, sim_account, tasks_inline, monkeypatch
):
    """Issue #6, nothing injected: an order placed through the order service reaches the simulator;
    one stepped bar fills it; the simulator's user hub reports the trade to the hubs process
    (execution/hubs_process.py, here in a background thread), which stores it through
    execution.ingest.handle_hub_event; the commit publishes it on the Redis channel layer, the uvicorn
    server's websocket consumer forwards it, and the dashboard already open in Chromium shows it."""
    account = sim_account
    instrument = ingest.instrument_for_contract(sim.contract_id())
    log_in(page, server.url, "alice")
    page.goto(f"{server.url}/accounts/{account.pk}/")
    page.wait_for_selector("#live-status.ok")
    page.wait_for_function("window.accountDashboard.refreshes >= 1")
    page.evaluate("window.sameDocument = true")  # gone if the page is ever reloaded
    assert page.inner_text("#positions-card tbody") == "Flat."
    assert page.inner_text("#orders-card tbody") == "No working orders."

    hubs = HubsProcess(monkeypatch)
    hubs.start()
    try:
        hubs.wait_for(hubs.user_hub_connects, "the simulator's user hub connected")
        # On connect the hubs process resyncs the login by REST: the broker's balance is its first push.
        page.wait_for_selector("#events li.event-balance", timeout=LIVE_TIMEOUT)

        order = in_thread(
            trading.order_submit, tenant=account.tenant, account=account, actor=alice,
            proposal=trading.OrderProposal(instrument=instrument, side=OrderSide.BUY, size=1),
            now=session_now(),
        )  # fmt: skip
        order = in_thread(trading.order_send, order=order)  # a no-op if the queued send ran first
        assert order.status == OrderStatus.WORKING, order.rejection_reason
        engine = sim.server.engine
        at_broker = sim._sync(lambda: [o.id for o in engine.orders.values()])
        assert at_broker == [order.broker_order_id]
        # (Not asserted: the working order showing live. The order service pushes nothing when it
        # records the placement, and the hub's order event then changes nothing, so no push.)
        assert not Fill.objects.for_tenant(account.tenant).exists()
        assert page.locator("#events li.event-fill").count() == 0

        assert sim.step(1) == 1  # the market order fills at the next bar's open

        page.wait_for_selector("#events li.event-fill", timeout=LIVE_TIMEOUT)
        trades = sim._sync(lambda: [engine.trade_payload(t) for t in engine.trades.values()])
        assert len(trades) == 1, trades  # the broker's truth: one fill, of our order
        trade = trades[0]
        assert trade["orderId"] == order.broker_order_id
        hub_trades = [e.trade for e in hubs.events if isinstance(e, TradeEvent)]
        assert [t.id for t in hub_trades] == [trade["id"]]  # it came as a user-hub event
        fill = Fill.objects.for_tenant(account.tenant).get()
        assert (fill.broker_trade_id, fill.order_id) == (trade["id"], order.pk)
        assert fill.price == hub_trades[0].price == Decimal(str(trade["price"]))

        event = page.inner_text("#events li.event-fill")
        shown = re.search(r"fill · side=(\w+) size=(\d+) price=(\S+)", event)
        assert shown is not None, event
        assert (shown[1], shown[2]) == ("Buy", "1")
        assert Decimal(shown[3]) == fill.price
        assert f"contract={sim.contract_id()}" in event
        # The live panel follows: the position opened at the fill price, the order no longer works.
        panel_text_includes(page, "#positions-card tbody", format_price(fill.price))
        panel_text_includes(page, "#orders-card tbody", "No working orders.")
        position = page.inner_text("#positions-card tbody").split("\t")
        assert position[:3] == [
            f"{instrument.symbol} {instrument.name}",
            "+1",
            format_price(fill.price),
        ]
        assert page.evaluate("window.sameDocument") is True  # no reload happened
        assert "ok" in (page.get_attribute("#live-status", "class") or "")
        assert hubs.user_hub_connects() == 1  # no reconnect, so no REST resync recorded the fill
    finally:
        try:
            hubs.stop()
        finally:  # the hub states this test's login left for the health page
            redis.Redis.from_url(django_settings.REDIS_URL).hdel(
                hubs_key(), f"{account.connection_id}:user", f"{account.connection_id}:market"
            )


def test_a_dropped_connection_resynchronises_on_reconnect(django_db_blocker, browser, trading_desk):
    own = AsgiServer(free_port())
    own.start()
    try:
        context = browser.new_context()
        page = context.new_page()
        log_in(page, own.url, "alice")
        account = trading_desk.strategy.account
        page.goto(f"{own.url}/accounts/{account.pk}/")
        page.wait_for_selector("#live-status.ok")
        own.stop()
        page.wait_for_selector("#live-status.down")
        # Changed while the dashboard was disconnected: no event will ever tell it.
        AccountDay.all_tenants.filter(pk=trading_desk.day.pk).update(
            balance_usd=Decimal("51234.50")
        )
        own.start()
        page.wait_for_selector("#live-status.ok", timeout=20000)
        page.wait_for_function(
            "document.getElementById('balance').textContent.trim() === '$51,234.50'", timeout=10000
        )
        context.close()
    finally:
        own.stop()


def test_pages_fit_a_phone_screen(server, browser, trading_desk):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, server.url, "alice")
    account = trading_desk.strategy.account_id
    for path, name in [("/", "phone-dashboard"), (f"/accounts/{account}/", "phone-account")]:
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        shot(page, name)
    context.close()


def gateway_metrics():
    import redis
    from django.conf import settings

    from execution.gateway.metrics import RedisMetrics

    return RedisMetrics(redis.Redis.from_url(settings.REDIS_URL), key_prefix=METRICS_PREFIX)


def record_operations_figures() -> None:
    """What a running worker and gateway would have written: a heartbeat and broker call timings."""
    from analytics.health import heartbeat_record
    from execution.gateway.metrics import Outcome

    heartbeat_record()
    metrics = gateway_metrics()
    metrics.reset()
    calls = {"Auth/loginKey": [180], "Order/place": [42, 55, 61, 48, 230], "Order/cancel": [38, 44],
             "Position/searchOpen": [35, 31, 40], "History/retrieveBars": [120, 95, 140]}  # fmt: skip
    for endpoint, latencies in calls.items():
        for ms in latencies:
            metrics.record(endpoint, outcome=Outcome.OK, latency_seconds=ms / 1000)
    metrics.record("Order/place", outcome=Outcome.RATE_LIMITED, latency_seconds=0.012)


def journal_decisions(desk) -> None:
    """What the live runtime journals on a breakout morning (the analytics page's decisions)."""
    from strategies.models import DecisionStatus, StrategyDecision, StrategyRuntime

    strategy = desk.strategy
    runtime = StrategyRuntime.all_tenants.create(
        tenant=strategy.tenant, account=strategy.account, instrument=strategy.instrument
    )
    at = desk.session_start + timedelta(hours=15, minutes=30)  # 09:30 New York
    tag = f"c{strategy.pk}/{desk.day.session_date}#1"
    for action, suffix, reason, status, outcome in [
        ("allowed", ":buy", "breakout above range 6815.25-6852.50, ATR 61.4", "noted", ""),
        (
            "place",
            ":buy",
            "breakout above range 6815.25-6852.50, ATR 61.4",
            "done",
            "order working",
        ),
        (
            "place",
            ":sell",
            "breakout below range 6815.25-6852.50, ATR 61.4",
            "done",
            "order working",
        ),
        ("move stop", ":buy", "breakeven after 1.0R", "done", "stop at 6855.00"),
    ]:
        StrategyDecision.all_tenants.create(
            tenant=strategy.tenant,
            runtime=runtime,
            strategy_config=strategy,
            decided_at=at,
            action=action,
            tag=tag + suffix,
            reason=reason,
            status=DecisionStatus(status),
            outcome=outcome,
        )
        at += timedelta(minutes=7)


def test_screenshots_of_every_main_page(server, page, trading_desk, tenant_a, alice):
    viewer = UserFactory(username="vera")
    MembershipFactory(user=viewer, tenant=tenant_a, role=Role.VIEWER)
    page.goto(f"{server.url}/login/")
    shot(page, "login")
    page.goto(f"{server.url}/signup/")
    shot(page, "signup")
    log_in(page, server.url, "alice")
    shot(page, "dashboard")
    account = trading_desk.strategy.account_id
    page.goto(f"{server.url}/accounts/{account}/")
    page.wait_for_function("window.accountDashboard.refreshes >= 1")
    page.wait_for_selector("#live-status.ok")
    page.wait_for_timeout(300)  # the charts draw on the next animation frame
    assert page.locator("#price-chart canvas").count() > 0
    shot(page, "account")
    record_operations_figures()
    journal_decisions(trading_desk)
    page.goto(f"{server.url}/strategies/")  # one audited action through the UI, for the audit log
    page.click(f"tr[data-strategy-id='{trading_desk.strategy.pk}'] button:has-text('Enable')")
    page.wait_for_selector(".messages")
    alice.is_superuser = True  # the platform's health (services, queues, latency) is a superuser's
    alice.save(update_fields=["is_superuser"])
    for path, name, ready in [
        ("/strategies/", "strategies", "#strategy-table"),
        (f"/strategies/{trading_desk.strategy.pk}/", "strategy-edit", "#params-form"),
        ("/analytics/", "analytics", "#strategy-stats"),
        ("/backtests/", "backtests", "#backtest-table"),
        ("/settings/", "settings", "#members"),
        ("/settings/audit/", "audit", "#audit"),
        (f"/accounts/{account}/risk/", "risk-limits", "#risk-form"),
        ("/ops/health/", "health", "#overall"),
    ]:
        page.goto(server.url + path)
        page.wait_for_selector(ready)
        page.wait_for_timeout(200)
        shot(page, name)
    assert page.inner_text("#h-database") == "up"
    assert page.inner_text("#h-worker").startswith("alive")
    assert "Order/place" in page.inner_text("main")
    gateway_metrics().reset()
    cache.delete(HEARTBEAT_KEY)  # a fake heartbeat must not outlive the test
    expected = {
        f"{name}.png"
        for name in [
            "login",
            "signup",
            "dashboard",
            "account",
            "strategies",
            "strategy-edit",
            "analytics",
            "backtests",
            "settings",
            "health",
        ]
    }
    assert expected <= {p.name for p in SCREENSHOTS.glob("*.png")}
