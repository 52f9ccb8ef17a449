"""System checks: tenant-owned models are scoped (always), and no demo login in production.

The demo check reads the database, so Django runs it where a database is named: `migrate` (the
release step of every deploy) and `manage.py check --database default`.
"""

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core import checks
from django.db.utils import DatabaseError

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


@checks.register(checks.Tags.security, checks.Tags.database)
def demo_login_only_under_debug(app_configs=None, databases=None, **kwargs) -> list:
    from accounts.demo import DEMO_PASSWORD, DEMO_USERNAME

    if settings.DEBUG or not databases:
        return []
    try:
        user = get_user_model()._default_manager.filter(username=DEMO_USERNAME).first()
    except DatabaseError:
        return []  # not migrated yet: no user table, no demo login
    # check_password without a setter: never rewrites the hash while checking.
    if user is None or not check_password(DEMO_PASSWORD, user.password):
        return []
    return [
        checks.Error(
            f"The demo login ({DEMO_USERNAME} / {DEMO_PASSWORD}) exists with DJANGO_DEBUG off; "
            "its password is public.",
            hint=f"Delete the user {DEMO_USERNAME!r} or set it a secret password.",
            id="accounts.E002",
        )
    ]
