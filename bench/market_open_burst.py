"""Benchmark of the market-open burst (issue: execution, risk and the trading day).

200 accounts, each under its own broker login on the simulator, submit one bracket order (market entry,
stop-loss and take-profit) in the same second, through the real order service: risk gate, stored before
sending, send tasks on the "high" queue, real Celery worker processes, the gateway client with its
Redis rate limiter. The submissions run in the workers (bench/burst_tasks.py), as the desks' 09:30 steps do.
Measured: from the first submit until every order is acknowledged by the broker
(its broker id recorded). Two bursts: cold (each worker logs in to 200 broker logins first) and warm.
Target: all acknowledged within 3 s of the open on this 2-core machine.

The simulator runs in its own process (as the Procfile runs it), so it does not share this process's
interpreter with the submitting threads.

Run: `.venv/bin/python bench/market_open_burst.py [--accounts 200] [--workers 2] [--threads 16]`
(a scratch database `tradingsite_bench_burst` is created and migrated; REDIS_URL defaults to db 0).
"""

import argparse
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import time as wall_time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench_burst")
os.environ.setdefault("DJANGO_DEBUG", "True")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
SIMULATOR = [sys.executable, "manage.py", "runsimulator", "--speed", "stepped"]
CONTROL_AUTH_HEADER = "X-Simulator-Secret"  # simulator.records (not importable before the path)


class SimulatorProcess:
    """The simulator in its own process, as in production (the Procfile's `simulator`), on a
    stepped clock, driven through its control API (/_sim/...)."""

    def __init__(self, store: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.control_secret = secrets.token_urlsafe(24)  # its /_sim API needs it
        self.control_headers = {CONTROL_AUTH_HEADER: self.control_secret}
        self.process = subprocess.Popen(  # noqa: S603  (our own simulator)
            [*SIMULATOR, "--port", str(self.port), "--store", str(store)],
            cwd=ROOT,
            env={**os.environ, "SIMULATOR_CONTROL_SECRET": self.control_secret},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.state()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.2)

    base_url = property(lambda self: f"{self.root}/api")
    user_hub_url = property(lambda self: f"{self.root}/hubs/user")
    market_hub_url = property(lambda self: f"{self.root}/hubs/market")

    def state(self) -> dict:
        reply = httpx.get(f"{self.root}/_sim/state", headers=self.control_headers, timeout=30)
        return reply.raise_for_status().json()

    def add_user(self, name: str, api_key: str) -> int:
        reply = httpx.post(
            f"{self.root}/_sim/users",
            json={"name": name, "apiKey": api_key},
            headers=self.control_headers,
        )
        return reply.raise_for_status().json()["id"]

    def step(self, bars: int = 1) -> None:
        httpx.post(
            f"{self.root}/_sim/step", json={"bars": bars}, headers=self.control_headers, timeout=60
        ).raise_for_status()

    def contract_id(self) -> str:
        from datetime import datetime

        from markets.contracts import front_month_id
        from markets.sessions import trading_date

        now = datetime.fromisoformat(self.state()["now"].replace("Z", "+00:00"))
        return front_month_id("EP", trading_date(now))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def desk(n: int, sim: SimulatorProcess) -> list:
    from accounts import services
    from accounts.models import AccountPlan, Tenant, TradingAccount

    tenant = Tenant.objects.create(name="Burst desk", slug=f"burst-{time.time_ns()}")
    plan = AccountPlan.objects.get(code="practice-50k")
    accounts = []
    engine_accounts = {f"burst{i}": sim.add_user(f"burst{i}", f"burst-key-{i}") for i in range(n)}
    for i in range(n):
        connection = services.broker_connection_create(
            tenant=tenant,
            actor=None,
            name=f"login {i}",
            username=f"burst{i}",
            api_key=f"burst-key-{i}",
        )
        accounts.append(
            services.trading_account_create(
                tenant=tenant,
                actor=None,
                connection=connection,
                projectx_account_id=engine_accounts[f"burst{i}"],
                name=f"Burst {i}",
                plan=plan,
            )
        )
    assert TradingAccount.objects.for_tenant(tenant).count() == n
    return accounts


def burst(accounts, instrument, open_at) -> tuple[float, float, list[float]]:
    """One bracket per account, submitted by the workers (as the desks' 09:30 steps do); seconds
    until all are acknowledged, until all are stored, and each order's own submit-to-ack time."""
    from bench.burst_tasks import burst_submit
    from execution.models import Order

    tenant = accounts[0].tenant
    before = set(Order.objects.for_tenant(tenant).values_list("pk", flat=True))
    started = time.perf_counter()
    for account in accounts:
        burst_submit.apply_async(
            kwargs={
                "account_id": account.pk,
                "instrument_id": instrument.pk,
                "open_at": open_at.isoformat(),
            },
            queue="high",
        )
    submitted = None
    while True:
        orders = Order.objects.for_tenant(tenant).exclude(pk__in=before)
        stored = orders.count()
        if submitted is None and stored == len(accounts):
            submitted = time.perf_counter() - started
        acked = orders.filter(broker_order_id__isnull=False).count()
        if acked == len(accounts) or time.perf_counter() - started > 120:
            break
        time.sleep(0.02)
    total = time.perf_counter() - started
    per_order = [
        (o.acknowledged_at - o.created_at).total_seconds()
        for o in orders.filter(acknowledged_at__isnull=False)
    ]
    if acked < len(accounts):
        print(f"  only {acked} of {len(accounts)} acknowledged after {total:.1f} s")
    return total, submitted or float("nan"), per_order


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    import django

    from bench.marketdata_cache import ensure_database

    ensure_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorProcess(Path(tmp) / "sim.sqlite3")
        try:
            run_bursts(sim, args)
        finally:
            sim.stop()


def run_bursts(sim: SimulatorProcess, args: argparse.Namespace) -> None:
    from execution.tests.factories import InstrumentFactory
    from markets import calendar
    from markets.sessions import at_et

    os.environ.update(
        PROJECTX_SIM_API_URL=sim.base_url,
        PROJECTX_SIM_USER_HUB_URL=sim.user_hub_url,
        PROJECTX_SIM_MARKET_HUB_URL=sim.market_hub_url,
    )
    accounts = desk(args.accounts, sim)
    instrument = InstrumentFactory(contract_id=sim.contract_id(), tick_size=Decimal("0.25"))
    workers = [
        subprocess.Popen(  # noqa: S603  (our own Celery workers)
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "tradingsite",
                "worker",
                "-Q",
                "high",
                "--pool",
                "threads",
                "--concurrency",
                str(args.threads),
                "-I",
                "bench.burst_tasks",
                "--loglevel",
                "WARNING",
                "-n",
                f"burst{w}@%h",
            ],
            cwd=ROOT,
            env=dict(os.environ),
        )
        for w in range(args.workers)
    ]
    try:
        time.sleep(6)  # the workers start and connect to Redis
        today = time_today()
        day = today if calendar.is_trading_day(today) else calendar.next_trading_day(today)
        open_at = at_et(day, wall_time(9, 30))
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{args.accounts} accounts, {args.workers} workers x {args.threads} threads"
        )
        for label in ("cold (first logins)", "warm"):
            total, submitted, per_order = burst(accounts, instrument, open_at)
            per_order.sort()
            p99 = (
                per_order[min(len(per_order) - 1, int(0.99 * len(per_order)))]
                if per_order
                else float("nan")
            )
            print(
                f"{label}: all {len(per_order)} acknowledged {total:.2f} s after the first submit "
                f"(submitting took {submitted:.2f} s); per order p50 {statistics.median(per_order):.2f} s, "
                f"p99 {p99:.2f} s (target: all within 3 s)"
            )
            sim.step(1)  # the entries fill; the next burst adds to the positions
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def time_today():
    from django.utils import timezone

    from markets.sessions import trading_date

    return trading_date(timezone.now())


if __name__ == "__main__":
    main()
