"""Dashboard API latency with 10,000 orders in one tenant (in-process Django test client, real PostgreSQL).

Run: .venv/bin/python bench/api_p95.py (a scratch database `tradingsite_bench` is created and migrated;
REDIS_URL defaults to redis://127.0.0.1:6379/0). Creates its own tenant (slug bench-<random>) each run.
Target (issue 6): p95 under 50 ms with 10,000 orders in a tenant.
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.test_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tradingsite_bench")

import django

from bench.marketdata_cache import ensure_database

ensure_database()
django.setup()
from django.core.management import call_command

call_command("migrate", verbosity=0)

from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory
from apiauth.services import api_token_issue
from execution.models import Order, OrderStatus
from execution.tests.factories import InstrumentFactory

ORDERS, ACCOUNTS, REQUESTS = 10_000, 10, 200


def main() -> None:
    tag = uuid.uuid4().hex[:8]
    user = UserFactory(username=f"bench-{tag}")
    tenant = MembershipFactory(user=user, tenant__slug=f"bench-{tag}").tenant
    accounts = [TradingAccountFactory(tenant=tenant) for _ in range(ACCOUNTS)]
    instrument = InstrumentFactory()
    statuses = list(OrderStatus.values)
    Order.all_tenants.bulk_create(
        [
            Order(
                tenant=tenant,
                account=accounts[n % ACCOUNTS],
                instrument=instrument,
                custom_tag=f"b-{n}",
                order_type=2,
                side=n % 2,
                size=1,
                status=statuses[n % len(statuses)],
            )
            for n in range(ORDERS)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:  # fresh bulk rows: give the planner real statistics,
        cursor.execute("ANALYZE")  # as autovacuum would shortly after
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_issue(user=user)[1].access}")
    account = str(accounts[3].public_id)
    endpoints = {
        "orders (page 1)": ("/api/v1/orders/", {}),
        "orders ?account&status=working": (
            "/api/v1/orders/",
            {"account": account, "status": "working"},
        ),
        "orders page 100": ("/api/v1/orders/", {"page": 100, "page_size": 50}),
        "accounts": ("/api/v1/accounts/", {}),
        "summary": (f"/api/v1/analytics/accounts/{account}/summary/", {}),
    }
    print(f"{ORDERS} orders, {ACCOUNTS} accounts, {REQUESTS} requests per endpoint")
    for label, (path, params) in endpoints.items():
        cache.clear()  # throttle counters
        client.get(path, params)  # warm
        samples = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            response = client.get(path, params)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.content
        samples.sort()
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"{label:34s} p50 {statistics.median(samples):6.1f} ms   p95 {p95:6.1f} ms")


if __name__ == "__main__":
    main()
