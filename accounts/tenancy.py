"""Tenant scoping: make a cross-tenant leak impossible to write by accident.

Rows that belong to a tenant carry `tenant`. Their `objects` manager refuses to query without a tenant
(fail closed); cross-tenant access goes through the deliberately different name `all_tenants`.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class TenantScopeError(Exception):
    """A tenant-owned model was queried without saying which tenant."""


def tenant_pk(tenant: Any) -> int:
    """Accept a Tenant or its primary key; refuse anything else (None included)."""
    pk = getattr(tenant, "pk", tenant)
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise TenantScopeError(f"a tenant or tenant id is required, got {tenant!r}")
    return pk


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Any) -> TenantQuerySet:
        return self.filter(tenant_id=tenant_pk(tenant))


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """`Model.objects`: every query must start with `.for_tenant(tenant)`."""

    def get_queryset(self) -> TenantQuerySet:
        raise TenantScopeError(f"use {self.model.__name__}.objects.for_tenant(tenant)")

    def for_tenant(self, tenant: Any) -> TenantQuerySet:
        return super().get_queryset().for_tenant(tenant)


class TenantOwned(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.PROTECT, related_name="+")

    objects = TenantManager()
    all_tenants = models.Manager()  # noqa: DJ012  (admin, migrations, fleet jobs: cross-tenant on purpose)

    class Meta:
        abstract = True
        # Django internals (related managers, admin, DRF validators) need an unfiltered default.
        # A child that declares Meta must subclass TenantOwned.Meta.
        default_manager_name = "all_tenants"

    def require_tenant(self, tenant: Any) -> None:
        """Services take the tenant from the request: refuse a row of another one. PermissionError,
        which the API answers with 404 (missing and forbidden look the same)."""
        if self.tenant_id != tenant_pk(tenant):  # type: ignore[attr-defined]
            raise PermissionError(f"{self._meta.verbose_name} belongs to another tenant")

    def assert_same_tenant(self, *others: models.Model) -> None:
        """Related rows must share the tenant; called by services before saving links."""
        for other in others:
            if other is not None and other.tenant_id != self.tenant_id:  # type: ignore[attr-defined]
                raise TenantScopeError(
                    f"{type(other).__name__} {other.pk} belongs to another tenant than "
                    f"{type(self).__name__}"
                )
