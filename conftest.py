"""Shared fixtures: two tenants with an owner each (alice in A, bob in B) and an outsider (charlie)."""

import pytest

from accounts.tests.factories import MembershipFactory, TradingAccountFactory, UserFactory


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
