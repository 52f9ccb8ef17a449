"""Backstop: `manage.py check` fails if a model with a tenant field is not scoped by TenantManager."""

from django.apps import apps
from django.core import checks

from accounts.tenancy import TenantManager

# Tenant-owned on purpose but read through a different path; none today.
EXEMPT: set[str] = set()


@checks.register(checks.Tags.models)
def tenant_models_are_scoped(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for model in apps.get_models():
        label = model._meta.label
        has_tenant = any(f.name == "tenant" for f in model._meta.get_fields())
        if not has_tenant or label in EXEMPT:
            continue
        if not isinstance(model._meta.managers_map.get("objects"), TenantManager):
            errors.append(
                checks.Error(
                    f"{label} has a tenant field but its `objects` is not a TenantManager",
                    hint="Subclass accounts.tenancy.TenantOwned.",
                    obj=model,
                    id="accounts.E001",
                )
            )
    return errors
