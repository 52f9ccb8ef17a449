"""The demo desk's trading day as JSON, read from a running stack's database by the whole-stack test.

    python -m tradingsite.tests.stack_report   # with the stack's DATABASE_URL / REDIS_URL and clock

Run as a separate process with the stack's environment, so it reads the stack's database through the
ORM on the stack's (faked) clock; the test process itself stays on its own test database.
"""

import json
import os
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from accounts.models import AuditEntry, Tenant, TradingAccount  # noqa: E402
from execution.models import Fill, Instrument, Order, OvernightRange  # noqa: E402
from strategies.models import StrategyDecision, StrategyRuntime  # noqa: E402

DEMO_TENANT = "demo-desk"
ROOT = "EP"  # the demo breakout trades ES (ProjectX root EP)


def iso(value) -> str | None:
    return value.isoformat() if value else None


def report() -> dict:
    tenant = Tenant.objects.get(slug=DEMO_TENANT)
    accounts = TradingAccount.objects.for_tenant(tenant)
    instrument = Instrument.objects.filter(contract_id__contains=f".{ROOT}.").first()
    orders = Order.objects.for_tenant(tenant).order_by("created_at", "pk")
    return {
        "now": iso(timezone.now()),
        "accounts": [
            {"id": str(a.public_id), "name": a.name, "broker_id": a.projectx_account_id}
            for a in accounts
        ],
        "contract": instrument.contract_id if instrument else None,
        "tick_size": str(instrument.tick_size) if instrument else None,
        "ranges": [
            {
                "session_date": r.session_date.isoformat(),
                "high": str(r.high_price),
                "low": str(r.low_price),
                "bars": r.bar_count,
                "complete": r.is_complete,
                "recorded_at": iso(r.updated_at),
            }
            for r in OvernightRange.objects.filter(instrument=instrument)
        ],
        "orders": [
            {
                "tag": o.custom_tag,
                "role": o.role,
                "side": o.get_side_display(),
                "type": o.get_order_type_display(),
                "stop_price": _str(o.stop_price),
                "status": o.status,
                "broker_id": o.broker_order_id,
                "parent": o.parent.custom_tag if o.parent else None,
                "submitted_at": iso(o.submitted_at),
                "acknowledged_at": iso(o.acknowledged_at),
                "closed_at": iso(o.closed_at),
                "updated_at": iso(o.updated_at),
            }
            for o in orders.select_related("parent")
        ],
        "fills": [
            {
                "order": f.order.custom_tag if f.order else None,
                "role": f.order.role if f.order else None,
                "side": f.get_side_display(),
                "price": str(f.price),
                "at": iso(f.executed_at),
            }
            for f in Fill.objects.for_tenant(tenant).select_related("order").order_by("pk")
        ],
        # What changed an order after it went out (the breakeven stop move), from the audit log.
        "modifications": [
            {
                "order": (a.after or {}).get("custom_tag"),
                "role": (a.after or {}).get("role"),
                "stop_before": (a.before or {}).get("stop_price"),
                "stop_after": (a.after or {}).get("stop_price"),
                "at": iso(a.at),
            }
            for a in AuditEntry.objects.for_tenant(tenant)
            .filter(action="order.modified")
            .order_by("at", "pk")
        ],
        "decisions": [
            {
                "decided_at": iso(d.decided_at),
                "created_at": iso(d.created_at),
                "updated_at": iso(d.updated_at),
                "action": d.action,
                "tag": d.tag,
                "status": d.status,
                "reason": d.reason,
                "outcome": d.outcome,
            }
            for d in StrategyDecision.objects.for_tenant(tenant).order_by("pk")
        ],
        "runtimes": [
            {"stepped_at": iso(r.stepped_at), "last_error": r.last_error}
            for r in StrategyRuntime.objects.for_tenant(tenant)
        ],
    }


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


if __name__ == "__main__":
    print(json.dumps(report()))
