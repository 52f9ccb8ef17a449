"""Tenant A can never see or touch tenant B through the ORM paths the code uses."""

import pytest
from django.apps import apps
from django.db import models

from accounts import selectors
from accounts.checks import tenant_models_are_scoped
from accounts.models import AuditEntry, BrokerConnection, TradingAccount
from accounts.tenancy import TenantManager, TenantOwned, TenantScopeError
from execution.models import Order
from execution.tests.factories import OrderFactory


def tenant_owned_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if issubclass(m, TenantOwned)]


@pytest.mark.parametrize("model", tenant_owned_models(), ids=lambda m: m._meta.label)
def test_unscoped_query_fails_closed(model):
    with pytest.raises(TenantScopeError):
        model.objects.all()


@pytest.mark.parametrize("bad", [None, "1", 1.0, True])
def test_for_tenant_refuses_anything_but_a_tenant(db, bad):
    with pytest.raises(TenantScopeError):
        TradingAccount.objects.for_tenant(bad)


def test_selectors_return_only_own_tenant_rows(account_a, account_b):
    assert list(selectors.trading_account_list(tenant=account_a.tenant)) == [account_a]
    assert selectors.trading_account_get(tenant=account_a.tenant, account_id=account_b.pk) is None


def test_user_cannot_resolve_another_tenants_account(alice, account_a, account_b):
    assert selectors.trading_account_get_for_user(user=alice, account_id=account_a.pk) == account_a
    assert selectors.trading_account_get_for_user(user=alice, account_id=account_b.pk) is None


def test_outsider_sees_no_account(charlie, account_a):
    assert selectors.trading_account_get_for_user(user=charlie, account_id=account_a.pk) is None


def test_orders_are_scoped(tenant_a, tenant_b):
    mine = OrderFactory(tenant=tenant_a)
    OrderFactory(tenant=tenant_b)
    assert list(Order.objects.for_tenant(tenant_a)) == [mine]


def test_assert_same_tenant_refuses_a_cross_tenant_link(account_a, account_b):
    with pytest.raises(TenantScopeError):
        account_a.assert_same_tenant(account_b.connection)


def test_every_tenant_model_uses_the_tenant_manager():
    assert tenant_models_are_scoped() == []
    assert all(isinstance(m.objects, TenantManager) for m in tenant_owned_models())


def test_system_check_flags_a_model_that_bypasses_scoping(monkeypatch):
    # A model with a tenant field whose default manager is a plain Manager: the leak we guard against.
    monkeypatch.setattr(BrokerConnection._meta, "managers_map", {"objects": models.Manager()})
    errors = tenant_models_are_scoped()
    assert [e.id for e in errors] == ["accounts.E001"]
    assert "BrokerConnection" in errors[0].msg


def test_audit_entries_are_append_only(account_a):
    entry = AuditEntry.all_tenants.create(tenant=account_a.tenant, actor_label="t", action="x")
    entry.action = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    assert AuditEntry.all_tenants.get(pk=entry.pk).action == "x"
