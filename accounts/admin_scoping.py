"""The admin as operations console: superusers see the fleet, other staff only their own tenants."""

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from accounts import selectors
from accounts.models import Tenant
from accounts.services import audit_record, snapshot


def visible_tenant_ids(request: HttpRequest) -> list[int] | None:
    """None means every tenant (superuser)."""
    if request.user.is_superuser:
        return None
    return selectors.tenant_ids_for_user(user=request.user)


class TenantScopedAdmin(admin.ModelAdmin):
    """Filters rows, foreign-key choices and saves by the staff member's tenants, and audits changes."""

    list_select_related = ("tenant",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = self.model.all_tenants.get_queryset()
        tenant_ids = visible_tenant_ids(request)
        return queryset if tenant_ids is None else queryset.filter(tenant_id__in=tenant_ids)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        tenant_ids = visible_tenant_ids(request)
        related = db_field.related_model
        if tenant_ids is not None:
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk__in=tenant_ids)
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                kwargs["queryset"] = related.all_tenants.filter(tenant_id__in=tenant_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        tenant_ids = visible_tenant_ids(request)
        if tenant_ids is not None and obj.tenant_id not in tenant_ids:
            raise PermissionError("you cannot write to another tenant")
        before = snapshot(type(obj).all_tenants.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        action = f"{obj._meta.model_name}.{'change' if change else 'add'}.admin"
        audit_record(
            tenant=obj.tenant_id,
            actor=request.user,
            action=action,
            target=obj,
            before=before,
            after=snapshot(obj),
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            tenant=obj.tenant_id,
            actor=request.user,
            action=f"{obj._meta.model_name}.delete.admin",
            target=obj,
            before=snapshot(obj),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdminMixin:
    """Broker-sourced or append-only rows: viewable, never edited through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
