"""Benchmark of the web pages with a busy desk: 10,000 orders and 4,000 fills in one tenant.

Times each page (and the dashboard's JSON/fragment endpoints) through Django's test client, in process
(no network), after a warm-up: the figures are server time per request, p50/p95/max in milliseconds.
Target (issue 6): dashboard p95 under 50 ms with 10,000 orders in a tenant.

Run from the repository root (creates and migrates the database if needed; it is emptied first):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6_bench REDIS_URL=redis://127.0.0.1:6379/10 \\
        .venv/bin/python bench/web_pages.py [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.test_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench_pages")

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment

ORDERS, FILLS, ACCOUNTS = 10_000, 4_000, 10


def ensure_database() -> None:
    import psycopg

    settings_dict = connection.settings_dict
    admin = psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"], dbname="postgres", autocommit=True,
    )  # fmt: skip
    exists = admin.execute(
        "SELECT 1 FROM pg_database WHERE datname = %s", [settings_dict["NAME"]]
    ).fetchone()
    if not exists:
        admin.execute(f'CREATE DATABASE "{settings_dict["NAME"]}"')
    admin.close()
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)  # seeded plans come back


def seed():
    from accounts.models import Role
    from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory
    from execution.models import Fill, Order, OrderRole, OrderStatus, Position
    from execution.tests.factories import InstrumentFactory
    from markets.sessions import globex_session
    from strategies.tests.factories import StrategyConfigFactory
    from web.selectors import today_session

    user = UserFactory(username="bench")
    tenant = MembershipFactory(user=user, role=Role.OWNER, tenant__slug="bench").tenant
    instrument = InstrumentFactory()
    accounts = [TradingAccountFactory(tenant=tenant, name=f"TC {n:02d}") for n in range(ACCOUNTS)]
    configs = [
        StrategyConfigFactory(tenant=tenant, account=a, instrument=instrument, name=f"ORB {n}")
        for n, a in enumerate(accounts)
    ]
    start, _ = globex_session(today_session())
    statuses = [OrderStatus.FILLED] * 8 + [OrderStatus.CANCELLED, OrderStatus.WORKING]
    orders = [
        Order(
            tenant=tenant, account=accounts[n % ACCOUNTS], instrument=instrument,
            strategy_config=configs[n % ACCOUNTS], custom_tag=f"b-{n}", order_type=1,
            side=n % 2, size=1, limit_price=Decimal("5000.25"), role=OrderRole.ENTRY,
            status=statuses[n % len(statuses)],
        )
        for n in range(ORDERS)
    ]  # fmt: skip
    Order.all_tenants.bulk_create(orders, batch_size=2000)
    fills = [
        Fill(
            tenant=tenant, account=accounts[n % ACCOUNTS], instrument=instrument,
            broker_trade_id=n, side=n % 2, size=1, price=Decimal("5000.25"),
            fees_usd=Decimal("1.40"),
            realized_pnl_usd=Decimal(((n * 37) % 400) - 150) if n % 2 else None,
            executed_at=start - timedelta(minutes=n * 7) + timedelta(hours=16),
            strategy_config=configs[n % ACCOUNTS],
        )
        for n in range(FILLS)
    ]  # fmt: skip
    Fill.all_tenants.bulk_create(fills, batch_size=2000)
    for account in accounts:
        Position.all_tenants.create(
            tenant=tenant, account=account, instrument=instrument, net_size=1,
            average_price=Decimal("5000.25"),
        )  # fmt: skip
    return user, accounts[0], configs[0]


def measure(client: Client, url: str, requests: int) -> tuple[float, float, float]:
    for _ in range(5):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], times[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    setup_test_environment()
    ensure_database()
    user, account, _config = seed()
    client = Client()
    client.force_login(user)
    pages = [
        ("dashboard (all accounts)", "/"),
        ("account page", f"/accounts/{account.pk}/"),
        ("account live panel", f"/accounts/{account.pk}/panel/"),
        ("account chart JSON", f"/accounts/{account.pk}/chart.json"),
        ("strategies", "/strategies/"),
        ("analytics (90 days)", "/analytics/"),
        ("settings", "/settings/"),
    ]
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}")
    print(f"{ORDERS:,} orders, {FILLS:,} fills, {ACCOUNTS} accounts in one tenant; "
          f"{args.requests} requests per page after 5 warm-up")  # fmt: skip
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, url in pages:
        p50, p95, worst = measure(client, url, args.requests)
        print(f"{name:28} {p50:8.1f} {p95:8.1f} {worst:8.1f}")


if __name__ == "__main__":
    main()
