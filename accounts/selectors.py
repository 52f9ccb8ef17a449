"""Reads of tenants, members, accounts and audit entries. Every tenant read starts from for_tenant()."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import (
    AuditEntry,
    BrokerConnection,
    Membership,
    NotificationChannel,
    Tenant,
    TradingAccount,
)
from accounts.tenancy import tenant_pk


def membership_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """Which tenants a user belongs to: cross-tenant by design, filtered by the user."""
    if not user.is_authenticated:
        return Membership.all_tenants.none()
    return (
        Membership.all_tenants.filter(user=user).select_related("tenant").order_by("tenant__name")
    )


def membership_get(*, user: AbstractBaseUser, tenant: Tenant | int) -> Membership | None:
    return membership_list_for_user(user=user).filter(tenant_id=tenant_pk(tenant)).first()


def tenant_ids_for_user(*, user: AbstractBaseUser) -> list[int]:
    return list(membership_list_for_user(user=user).values_list("tenant_id", flat=True))


def trading_account_list(*, tenant: Tenant | int) -> QuerySet[TradingAccount]:
    return (
        TradingAccount.objects.for_tenant(tenant)
        .select_related("connection", "plan", "risk_profile")
        .order_by("name")
    )


def trading_account_get(*, tenant: Tenant | int, account_id: int) -> TradingAccount | None:
    return trading_account_list(tenant=tenant).filter(pk=account_id).first()


def trading_account_get_for_user(
    *, user: AbstractBaseUser, account_id: int
) -> TradingAccount | None:
    """An account the user may see, or None: unknown and forbidden look the same."""
    for tenant_id in tenant_ids_for_user(user=user):
        account = trading_account_get(tenant=tenant_id, account_id=account_id)
        if account is not None:
            return account
    return None


def broker_connection_list(*, tenant: Tenant | int) -> QuerySet[BrokerConnection]:
    return BrokerConnection.objects.for_tenant(tenant).order_by("name")


def notification_channel_list(*, tenant: Tenant | int) -> QuerySet[NotificationChannel]:
    return NotificationChannel.objects.for_tenant(tenant).order_by("name")


def audit_entry_list(*, tenant: Tenant | int) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.for_tenant(tenant).select_related("actor")
