"""The admin as operations console: superusers see the fleet, other staff only their own tenants, and
staff write only where their membership role lets them (a viewer changes nothing)."""

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from accounts import selectors
from accounts.models import Role, Tenant
from accounts.services import audit_record, snapshot

WRITE_ROLES = (Role.OWNER, Role.TRADER)


def visible_tenant_ids(request: HttpRequest) -> list[int] | None:
    """None means every tenant (superuser)."""
    if request.user.is_superuser:
        return None
    return selectors.tenant_ids_for_user(user=request.user)


def writable_tenant_ids(
    request: HttpRequest, *, roles: Collection[str] = WRITE_ROLES
) -> list[int] | None:
    """The tenants where the staff member may write through the admin; None means every tenant."""
    if request.user.is_superuser:
        return None
    return selectors.tenant_ids_for_user(user=request.user, roles=roles)


def may_write(request: HttpRequest, tenant_id: int | None, *, roles: Collection[str]) -> bool:
    """tenant_id None asks whether the staff member may write to any tenant at all."""
    tenant_ids = writable_tenant_ids(request, roles=roles)
    if tenant_ids is None:
        return True
    return bool(tenant_ids) if tenant_id is None else tenant_id in tenant_ids


class RoleWriteMixin:
    """Add, change, delete and actions need Django's model permission and a writing role in the
    row's tenant (`write_roles`); the view permission is left alone, so a viewer still sees."""

    write_roles: Collection[str] = WRITE_ROLES
    tenant_lookup = "tenant_id__in"  # how an action's queryset is narrowed to writable tenants

    def row_tenant_id(self, obj: Any) -> int | None:
        return obj.tenant_id

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        allowed = super().has_add_permission(request, *args)
        return allowed and may_write(request, None, roles=self.write_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        tenant_id = None if obj is None else self.row_tenant_id(obj)
        return allowed and may_write(request, tenant_id, roles=self.write_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        tenant_id = None if obj is None else self.row_tenant_id(obj)
        return allowed and may_write(request, tenant_id, roles=self.write_roles)

    def get_actions(self, request: HttpRequest) -> dict:
        if not may_write(request, None, roles=self.write_roles):
            return {}  # the kill switch, flatten, enable... are writes too
        return super().get_actions(request)

    def get_action(self, action: Any) -> tuple[Callable, str, str] | None:
        """Every action runs on the selected rows of tenants where the user may write, only."""
        found = super().get_action(action)
        if found is None:
            return None
        func, name, description = found

        @wraps(func)
        def on_writable_rows(modeladmin: Any, request: HttpRequest, queryset: models.QuerySet):
            tenant_ids = writable_tenant_ids(request, roles=self.write_roles)
            if tenant_ids is not None:
                queryset = queryset.filter(**{self.tenant_lookup: tenant_ids})
            return func(modeladmin, request, queryset)

        return on_writable_rows, name, description


class TenantScopedAdmin(RoleWriteMixin, admin.ModelAdmin):
    """Filters rows, foreign-key choices and saves by the staff member's tenants, and audits changes."""

    list_select_related = ("tenant",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        queryset = self.model.all_tenants.get_queryset()
        tenant_ids = visible_tenant_ids(request)
        return queryset if tenant_ids is None else queryset.filter(tenant_id__in=tenant_ids)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        tenant_ids = writable_tenant_ids(request, roles=self.write_roles)
        related = db_field.related_model
        if tenant_ids is not None:
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk__in=tenant_ids)
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                kwargs["queryset"] = related.all_tenants.filter(tenant_id__in=tenant_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not may_write(request, obj.tenant_id, roles=self.write_roles):
            raise PermissionError("you cannot write to this tenant")
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
        if not may_write(request, obj.tenant_id, roles=self.write_roles):
            raise PermissionError("you cannot write to this tenant")
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


class SuperuserWritesMixin:
    """Fleet-wide rows that every tenant shares (instruments: every tenant's P&L uses their tick size
    and value; TopStep's plans): staff may look, only superusers write."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


class SuperuserOnlyMixin(SuperuserWritesMixin):
    """The fleet's machinery (users, groups, API tokens, beat schedules): other staff do not even see
    it, since a user row or a schedule is not any one tenant's."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


class ReadOnlyAdminMixin:
    """Broker-sourced or append-only rows: viewable, never edited through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
