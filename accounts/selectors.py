"""Reads of tenants, members, accounts and audit entries. Every tenant read starts from for_tenant()."""

import uuid
from collections.abc import Collection
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import (
    AccountPlan,
    AuditEntry,
    BrokerConnection,
    Invitation,
    Membership,
    NotificationChannel,
    Program,
    Tenant,
    TradingAccount,
)
from accounts.tenancy import tenant_pk
from markets.sessions import globex_session


def membership_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """Which tenants a user belongs to: cross-tenant by design, filtered by the user."""
    if not user.is_authenticated:
        return Membership.all_tenants.none()
    return (
        Membership.all_tenants.filter(user=user).select_related("tenant").order_by("tenant__name")
    )


def membership_default_for_user(*, user: AbstractBaseUser) -> Membership | None:
    """The desk a session starts on: the one the user joined first (stable when they join more)."""
    return membership_list_for_user(user=user).order_by("created_at", "pk").first()


def membership_get(*, user: AbstractBaseUser, tenant: Tenant | int) -> Membership | None:
    return membership_list_for_user(user=user).filter(tenant_id=tenant_pk(tenant)).first()


def tenant_ids_for_user(
    *, user: AbstractBaseUser, roles: Collection[str] | None = None
) -> list[int]:
    """The user's tenants; with roles, only those where the user holds one of them."""
    memberships = membership_list_for_user(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return list(memberships.values_list("tenant_id", flat=True))


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


def broker_connection_get(*, tenant: Tenant | int, connection_id: int) -> BrokerConnection | None:
    return broker_connection_list(tenant=tenant).filter(pk=connection_id).first()


def notification_channel_list(*, tenant: Tenant | int) -> QuerySet[NotificationChannel]:
    return NotificationChannel.objects.for_tenant(tenant).order_by("name")


def audit_entry_list(*, tenant: Tenant | int) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.for_tenant(tenant).select_related("actor")


# --- Added for the REST API (accounts/api) -----------------------------------------------------


def membership_get_by_tenant_public_id(
    *, user: AbstractBaseUser, tenant_public_id: uuid.UUID
) -> Membership | None:
    """The user's membership in the tenant with that public id, or None (unknown = not a member)."""
    return membership_list_for_user(user=user).filter(tenant__public_id=tenant_public_id).first()


def invitation_list_pending(*, tenant: Tenant | int) -> QuerySet[Invitation]:
    """Invitations still waiting for their recipient (not accepted, revoked or expired)."""
    return Invitation.objects.for_tenant(tenant).filter(
        accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    )


def invitation_get(*, tenant: Tenant | int, public_id: uuid.UUID) -> Invitation | None:
    return Invitation.objects.for_tenant(tenant).filter(public_id=public_id).first()


def membership_list(*, tenant: Tenant | int) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__username")


def trading_date_bounds(
    *, date_from: date | None, date_to: date | None
) -> tuple[datetime | None, datetime | None]:
    """Instants bounding trading dates `date_from`..`date_to` (inclusive; either may be open).

    A trading date D runs from the Globex open the evening before to the next open (18:00 ET), the
    same rule as markets.sessions.trading_date, so an instant falls inside exactly when its
    trading_date() is in the range. The end bound is exclusive.
    """
    start = globex_session(date_from)[0] if date_from is not None else None
    end = globex_session(date_to + timedelta(days=1))[0] if date_to is not None else None
    return start, end


def audit_entry_list_filtered(
    *,
    tenant: Tenant | int,
    action: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries, newest first; `action` matches a prefix ("strategy." finds enable and disable)."""
    queryset = audit_entry_list(tenant=tenant).order_by("-at", "-pk")
    if action:
        queryset = queryset.filter(action__startswith=action)
    start, end = trading_date_bounds(date_from=date_from, date_to=date_to)
    if start is not None:
        queryset = queryset.filter(at__gte=start)
    if end is not None:
        queryset = queryset.filter(at__lt=end)
    return queryset


def fleet_hub_logins() -> dict[int, tuple[BrokerConnection, list[int]]]:
    """Every broker login with active accounts, across tenants on purpose (the hubs process serves
    the whole fleet): connection id -> (connection, its ProjectX account ids)."""
    logins: dict[int, tuple[BrokerConnection, list[int]]] = {}
    accounts = (
        TradingAccount.all_tenants.filter(is_active=True)
        .select_related("connection")
        .order_by("connection_id", "projectx_account_id")
    )
    for account in accounts:
        entry = logins.setdefault(account.connection_id, (account.connection, []))
        entry[1].append(account.projectx_account_id)
    return logins


def copier_followers(*, lead: TradingAccount) -> QuerySet[TradingAccount]:
    """The active accounts that copy `lead`'s strategy orders (its copier desk), in order."""
    return (
        TradingAccount.objects.for_tenant(lead.tenant_id)
        .filter(copies_account=lead, is_active=True)
        .select_related("connection", "tenant")
        .order_by("pk")
    )


def express_plan_after(*, plan: AccountPlan) -> AccountPlan | None:
    """The Express Funded plan a passed evaluation of ``plan`` leads to (same account size)."""
    return (
        AccountPlan.objects.filter(program=Program.EXPRESS, size_usd=plan.size_usd)
        .order_by("code")
        .first()
    )
