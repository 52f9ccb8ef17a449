"""Benchmark of the market-open burst (issue: execution, risk and the trading day).

200 accounts, each under its own broker login on the simulator, submit one bracket order (market entry,
stop-loss and take-profit) in the same second, through the real order service: risk gate, stored before
sending, send tasks on the "high" queue, real Celery worker processes, the gateway client with its
Redis rate limiter. The submissions are fanned out over 8 threads, as the 09:30 job spreads accounts over the workers.
Measured: from the first submit until every order is acknowledged by the broker
(its broker id recorded). Two bursts: cold (each worker logs in to 200 broker logins first) and warm.
Target: all acknowledged within 3 s of the open on this 2-core machine.

Run: `.venv/bin/python bench/market_open_burst.py [--accounts 200] [--workers 2] [--threads 16]`
(a scratch database `tradingsite_bench_burst` is created and migrated; REDIS_URL defaults to db 0).
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import time as wall_time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench_burst")
os.environ.setdefault("DJANGO_DEBUG", "True")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
SUBMIT_THREADS = 8


def desk(n: int, sim) -> list:
    from accounts import services
    from accounts.models import AccountPlan, Tenant, TradingAccount

    tenant = Tenant.objects.create(name="Burst desk", slug=f"burst-{time.time_ns()}")
    plan = AccountPlan.objects.get(code="practice-50k")
    accounts = []
    engine_accounts = {a.user: a.id for a in sim.server.engine.accounts.values()}
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
    """Submit one bracket per account; seconds until all are acknowledged, the submit time, and each
    order's own time from submit to acknowledgement."""
    from django.db import connection

    from execution import trading
    from execution.models import Order, OrderRole, OrderSide, OrderType

    def submit(account) -> int:
        try:
            order = trading.order_submit(
                tenant=account.tenant,
                account=account,
                now=open_at,
                proposal=trading.OrderProposal(
                    instrument=instrument,
                    side=OrderSide.BUY,
                    size=1,
                    order_type=OrderType.MARKET,
                    stop_loss_ticks=8,
                    take_profit_ticks=16,
                    role=OrderRole.ENTRY,
                ),
            )
            assert order.status == "new", order.rejection_reason
            return order.pk
        finally:
            connection.close()  # each thread's own database connection

    started = time.perf_counter()
    # The open is fanned out (as the 09:30 job spreads accounts over the workers' threads).
    with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
        ids = list(pool.map(submit, accounts))
    submitted = time.perf_counter() - started
    tenant = accounts[0].tenant
    while True:
        acked = (
            Order.objects.for_tenant(tenant)
            .filter(pk__in=ids, broker_order_id__isnull=False)
            .count()
        )
        if acked == len(ids) or time.perf_counter() - started > 120:
            break
        time.sleep(0.01)
    total = time.perf_counter() - started
    per_order = [
        (o.acknowledged_at - o.created_at).total_seconds()
        for o in Order.objects.for_tenant(tenant).filter(pk__in=ids, acknowledged_at__isnull=False)
    ]
    if acked < len(ids):
        print(f"  only {acked} of {len(ids)} acknowledged after {total:.1f} s")
    return total, submitted, per_order


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
    from execution.tests.factories import InstrumentFactory
    from markets import calendar
    from markets.sessions import at_et
    from simulator.testing import running_simulator

    users = [(f"burst{i}", f"burst-key-{i}") for i in range(args.accounts)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_simulator(Path(tmp) / "sim.sqlite3", users=users) as sim,
    ):
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
