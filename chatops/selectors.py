"""Reads for Discord control. A Discord user sees only what their platform user's memberships allow."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from accounts import selectors as account_selectors
from accounts.models import AuditEntry, Membership, Tenant, TradingAccount
from chatops.models import DeskPause, DiscordLink, PendingConfirmation
from strategies.models import StrategyConfig

DISCORD_ACTION_PREFIX = "discord."


def link_get_for_discord_user(*, discord_user_id: str) -> DiscordLink | None:
    """The active platform user behind a Discord user; a deactivated user has no link."""
    return (
        DiscordLink.objects.select_related("user")
        .filter(discord_user_id=discord_user_id, user__is_active=True)
        .first()
    )


def link_get_for_user(*, user: AbstractBaseUser) -> DiscordLink | None:
    return DiscordLink.objects.filter(user=user).first()


def membership_list(*, user: AbstractBaseUser, desk: str = "") -> list[Membership]:
    """The user's desks, or the one named by slug (none if they are not a member of it)."""
    memberships = account_selectors.membership_list_for_user(user=user)
    if desk:
        memberships = memberships.filter(tenant__slug=desk.strip().lower())
    return list(memberships)


def _by_name_or_id(rows: QuerySet, reference: str) -> QuerySet:
    reference = reference.strip()
    match = Q(name__iexact=reference)
    if reference.isdigit():
        match |= Q(pk=int(reference))
    return rows.filter(match)


def account_find(
    *, memberships: list[Membership], reference: str
) -> list[tuple[Membership, TradingAccount]]:
    """Accounts named `reference` (or with that id) in the given desks, each with its membership."""
    found = []
    for membership in memberships:
        rows = account_selectors.trading_account_list(tenant=membership.tenant_id)
        found += [(membership, account) for account in _by_name_or_id(rows, reference)]
    return found


def strategy_find(
    *, memberships: list[Membership], reference: str
) -> list[tuple[Membership, StrategyConfig]]:
    found = []
    for membership in memberships:
        rows = StrategyConfig.objects.for_tenant(membership.tenant_id).select_related("account")
        found += [(membership, config) for config in _by_name_or_id(rows, reference)]
    return found


def strategy_list_enabled(*, tenant: Tenant | int) -> QuerySet[StrategyConfig]:
    return StrategyConfig.objects.for_tenant(tenant).filter(is_enabled=True).order_by("pk")


def desk_pause_latest_open(*, tenant: Tenant | int) -> DeskPause | None:
    return (
        DeskPause.objects.for_tenant(tenant)
        .filter(resumed_at__isnull=True)
        .order_by("-paused_at", "-pk")
        .first()
    )


def confirmation_get(*, tenant: Tenant | int, token: str) -> PendingConfirmation | None:
    return (
        PendingConfirmation.objects.for_tenant(tenant)
        .select_related("account", "user")
        .filter(token=token)
        .first()
    )


def discord_action_list(
    *, tenant: Tenant | int, user: AbstractBaseUser | None = None
) -> QuerySet[AuditEntry]:
    """What was done from Discord on the desk (all of it, or one user's), newest first."""
    entries = account_selectors.audit_entry_list(tenant=tenant).filter(
        action__startswith=DISCORD_ACTION_PREFIX
    )
    if user is not None:
        entries = entries.filter(actor=user)
    return entries.order_by("-at", "-pk")


def account_find_all(*, membership: Membership) -> QuerySet[TradingAccount]:
    return account_selectors.trading_account_list(tenant=membership.tenant_id).filter(
        is_active=True
    )
