"""Seed TopStep's published account plans (projectx-gateway.md §8). Re-runnable; reverse removes them."""

from decimal import Decimal

from django.db import migrations

# code, program, size, profit target, daily loss limit (legacy), max loss limit, max contracts (minis)
# Express Funded accounts start at the first step of the scaling plan (2/3/3 minis).
PLANS = [
    ("combine-50k", "combine", 50_000, 3_000, 1_000, 2_000, 5),
    ("combine-100k", "combine", 100_000, 6_000, 2_000, 3_000, 10),
    ("combine-150k", "combine", 150_000, 9_000, 3_000, 4_500, 15),
    ("express-50k", "express", 50_000, None, 1_000, 2_000, 2),
    ("express-100k", "express", 100_000, None, 2_000, 3_000, 3),
    ("express-150k", "express", 150_000, None, 3_000, 4_500, 3),
    ("practice-50k", "practice", 50_000, None, 1_000, 2_000, 5),
]


def seed(apps, schema_editor):
    AccountPlan = apps.get_model("accounts", "AccountPlan")
    for code, program, size, target, dll, mll, max_contracts in PLANS:
        AccountPlan.objects.update_or_create(
            code=code,
            defaults={
                "program": program,
                "size_usd": Decimal(size),
                "profit_target_usd": Decimal(target) if target is not None else None,
                "daily_loss_limit_usd": Decimal(dll),
                "max_loss_limit_usd": Decimal(mll),
                # Sources conflict on how the Combine MLL trails; enforce the stricter reading
                # (projectx-gateway.md §8). Express Funded trails end-of-day.
                "mll_mode": "intraday" if program == "combine" else "end_of_day",
                "max_contracts": max_contracts,
                "micro_ratio": 10,
                "consistency_share": Decimal("0.500"),
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("accounts", "AccountPlan").objects.filter(code__in=[p[0] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
