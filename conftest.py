"""Shared fixtures: two tenants with an owner each (alice in A, bob in B) and an outsider (charlie)."""

import importlib

import pytest

from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory

pytest_plugins = [
    "tradingsite.pytest_wall_clock"
]  # --wall-clock=ISO and the clock_sensitive marker


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie")


@pytest.fixture
def tenant_a(alice):
    return MembershipFactory(user=alice, tenant__name="Desk A", tenant__slug="desk-a").tenant


@pytest.fixture
def tenant_b(bob):
    return MembershipFactory(user=bob, tenant__name="Desk B", tenant__slug="desk-b").tenant


@pytest.fixture
def account_a(tenant_a):
    return TradingAccountFactory(tenant=tenant_a, name="Account of A")


@pytest.fixture
def account_b(tenant_b):
    return TradingAccountFactory(tenant=tenant_b, name="Account of B")


@pytest.fixture(autouse=True)
def _seeded_account_plans(request):
    """TopStep's plans are seeded by a data migration; a transactional test's flush removes them, so
    put them back (idempotently) for every database test that runs after one."""
    if not {"db", "transactional_db", "django_db_setup"} & set(request.fixturenames) and not (
        request.node.get_closest_marker("django_db")
    ):
        return
    request.getfixturevalue("transactional_db" if _wants_transaction(request) else "db")
    from django.apps import apps

    seed = importlib.import_module("accounts.migrations.0002_seed_account_plans").seed
    seed(apps, None)
    fees = importlib.import_module("accounts.migrations.0004_plan_evaluation_fee").seed_fees
    fees(apps, None)
    importlib.import_module("accounts.migrations.0005_express_payout_policy").seed_policy(
        apps, None
    )
    rules = importlib.import_module("accounts.migrations.0006_personal_dll_and_plan_rules")
    rules.apply_topstepx_rules(apps, None)


def _wants_transaction(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
