"""Latency of the pre-trade risk gate for one order; prints p50/p99/max in microseconds.

Two figures:
- `gate_context` + `check`: the full gate as order_submit runs it (the account's state read from
  PostgreSQL: day row, positions, working orders, earlier max-loss lock), then the pure check;
- `risk.check_order` alone on that state (target p99 < 50 µs).

Run from the repository root against a scratch database (it creates a tenant, an account, a few
positions and working orders, and deletes nothing):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h8_bench .venv/bin/python bench/pretrade_check.py \
        [--n 20000] [--db-n 500] [--cross-account]

`--cross-account` adds what the cross-account rules read: a sibling account of the same login
holding a position (hedging) and three protections on the account with 20 closed trades today.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.test_settings")


def _percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    n = len(ordered)

    def at(share: float) -> float:
        return ordered[min(n - 1, int(share * n))] / 1000

    return (
        f"p50 {at(0.50):8.1f} µs   p99 {at(0.99):8.1f} µs   max {ordered[-1] / 1000:8.1f} µs"
        f"   mean {statistics.fmean(ordered) / 1000:8.1f} µs   (n={n})"
    )


def _setup(cross_account: bool):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.tests.factories import TenantFactory, TradingAccountFactory
    from execution.models import Position
    from execution.tests.factories import InstrumentFactory, OrderFactory

    suffix = uuid.uuid4().hex[:8]
    tenant = TenantFactory(name=f"Bench {suffix}", slug=f"bench-{suffix}")
    # ten micros per mini, so the order below stays allowed with the micros working
    account = TradingAccountFactory(
        tenant=tenant, name=f"bench-{suffix}", risk_profile__micro_ratio=10
    )
    es = InstrumentFactory()
    mes = InstrumentFactory(
        symbol="MES", contract_id="CON.F.US.MES.Z26", symbol_id="F.US.MES", name="MESZ6"
    )
    Position.all_tenants.create(tenant=account.tenant, account=account, instrument=es, net_size=2)
    for size in (1, 2):
        OrderFactory(
            tenant=account.tenant, account=account, instrument=mes, size=size, role="entry"
        )
    if cross_account:
        _cross_account(account, es)
    return account, es


def _cross_account(account, es) -> None:
    from datetime import timedelta

    from accounts.tests.factories import TradingAccountFactory
    from execution.models import Fill, Position

    sibling = TradingAccountFactory(tenant=account.tenant, connection=account.connection)
    Position.all_tenants.create(tenant=account.tenant, account=sibling, instrument=es, net_size=1)
    profile = account.risk_profile
    profile.max_losing_trades, profile.loss_streak = 50, 50
    profile.max_drawdown_usd = Decimal("100000")
    profile.save()
    first = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    for n in range(20):
        Fill.all_tenants.create(
            tenant=account.tenant,
            account=account,
            instrument=es,
            broker_trade_id=n + 1,
            side=1,
            size=1,
            price=Decimal("5000"),
            fees_usd=Decimal("1.40"),
            realized_pnl_usd=Decimal(25 if n % 2 else -25),
            executed_at=first + timedelta(minutes=n),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="pure checks to time")
    parser.add_argument("--db-n", type=int, default=500, help="full gates (with DB reads) to time")
    parser.add_argument("--cross-account", action="store_true", help="a sibling and protections")
    args = parser.parse_args()

    account, es = _setup(args.cross_account)
    from execution import risk, risk_gate
    from markets.fills import OrderKind, Side

    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    proposed = risk.ProposedOrder(
        es.contract_id,
        Side.BUY,
        1,
        OrderKind.LIMIT,
        Decimal("5000.25"),
        Decimal("5001.00"),
        max_loss_usd=Decimal("102.80"),
    )
    for _ in range(50):  # warm caches, the calendar and the connection
        risk_gate.check(risk_gate.gate_context(account=account, now=now), proposed, now=now)

    full: list[int] = []
    for _ in range(args.db_n):
        started = time.perf_counter_ns()
        context = risk_gate.gate_context(account=account, now=now)
        decision = risk_gate.check(context, proposed, now=now)
        full.append(time.perf_counter_ns() - started)
    assert decision.allowed, decision.violations

    pure: list[int] = []
    limits, state = context.limits, context.state
    for _ in range(args.n):
        started = time.perf_counter_ns()
        risk.check_order(limits, state, proposed, now)
        pure.append(time.perf_counter_ns() - started)

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"full gate (state from PostgreSQL + check): {_percentiles(full)}")
    print(f"risk.check_order alone:                    {_percentiles(pure)}")
    target = sorted(pure)[int(0.99 * len(pure))] / 1000
    print(f"target p99 < 50 µs for the check: {'met' if target < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
