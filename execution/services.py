"""Writes for execution: account locks (kill switch), flatten and cancel requests.

Requests are audited and queued on the critical queue after commit; the broker work itself runs in the
task (execution/tasks.py), which calls the broker-facing services below.
"""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant, TradingAccount
from accounts.services import audit_record, risk_profile_apply_pending, snapshot
from execution.models import AccountDay
from execution.selectors import risk_limits_for_account
from markets.sessions import trading_date
from notifications.services import notify
from tradingsite.dispatch import Policy, enqueue_on_commit


def account_day_get_or_open(*, account: TradingAccount, session_date=None) -> AccountDay:
    """Today's row for the account, opened from the latest known balance if missing."""
    session_date = session_date or trading_date(timezone.now())
    day = (
        AccountDay.objects.for_tenant(account.tenant_id)
        .filter(account=account, session_date=session_date)
        .first()
    )
    if day is not None:
        return day
    # A new session's first row: loosenings that waited for it apply (if the roll has not).
    risk_profile_apply_pending(profile=account.risk_profile, session_date=session_date)
    previous = (
        AccountDay.objects.for_tenant(account.tenant_id)
        .filter(account=account, session_date__lt=session_date)
        .order_by("-session_date")
        .first()
    )
    balance = previous.balance_usd if previous else account.starting_balance_usd
    profile = account.risk_profile
    mll_floor = previous.mll_floor_usd if previous else balance - profile.max_loss_limit_usd
    daily_limit = risk_limits_for_account(account=account).daily_loss_in_force_usd
    day, _ = AccountDay.all_tenants.get_or_create(
        account=account,
        session_date=session_date,
        defaults={
            "tenant_id": account.tenant_id,
            "start_balance_usd": balance,
            "balance_usd": balance,
            "high_water_usd": previous.high_water_usd if previous else balance,
            "mll_floor_usd": mll_floor,
            "daily_loss_floor_usd": None if daily_limit is None else balance - daily_limit,
        },
    )
    return day


@transaction.atomic
def account_lock_for_day(
    *,
    tenant: Tenant,
    account: TradingAccount,
    actor: AbstractBaseUser | None,
    reason: str,
    session_date: date | None = None,
    replaces_reason: bool = False,
    action: str = "account.lock_for_day",
    actor_label: str = "",
) -> AccountDay:
    """Kill switch: no new orders for the rest of the trading day, then flatten (cancel everything
    working, close every position). The one place a day gets locked: the operator's kill switch and
    the risk watch's limits alike. A locked day keeps its first reason unless `replaces_reason` (a
    daily-loss lock upgraded to a max-loss failure)."""
    account.require_tenant(tenant)
    day = account_day_get_or_open(account=account, session_date=session_date)
    day = AccountDay.all_tenants.select_for_update().get(pk=day.pk)
    before = snapshot(day)
    if not day.is_locked or replaces_reason:
        day.is_locked, day.locked_reason = True, reason[:200]
        day.locked_at = day.locked_at or timezone.now()
        day.save(update_fields=["is_locked", "locked_reason", "locked_at", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor,
        actor_label=actor_label,
        action=action,
        target=account,
        before=before,
        after=snapshot(day),
    )
    account_flatten_request(tenant=tenant, account=account, actor=actor, reason=f"lock: {reason}")
    return day


def account_flatten_request(
    *, tenant: Tenant, account: TradingAccount, actor: AbstractBaseUser | None, reason: str
) -> None:
    account.require_tenant(tenant)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="account.flatten_requested",
        target=account,
        after={"reason": reason},
    )
    enqueue_on_commit(
        "execution.account_flatten",
        policy=Policy.RISK_REDUCING,
        tenant_id=tenant.pk,
        account_id=account.pk,
        reason=reason,
    )


def account_cancel_open_orders_request(
    *, tenant: Tenant, account: TradingAccount, actor: AbstractBaseUser | None
) -> None:
    account.require_tenant(tenant)
    audit_record(
        tenant=tenant, actor=actor, action="account.cancel_open_orders_requested", target=account
    )
    enqueue_on_commit(
        "execution.account_cancel_open_orders",
        policy=Policy.RISK_REDUCING,
        tenant_id=tenant.pk,
        account_id=account.pk,
    )


@transaction.atomic
def copier_follower_cut_out(
    *, tenant: Tenant, follower: TradingAccount, session_date: date, reason: str
) -> bool:
    """Cut a follower out of its copier desk for the rest of `session_date` (it hit a limit of its
    own); the lead and the other followers go on. Audited and told to the trader, once a day."""
    follower.require_tenant(tenant)
    cut = (
        TradingAccount.objects.for_tenant(tenant)
        .filter(pk=follower.pk)
        .exclude(copier_cut_out_on=session_date)
        .update(copier_cut_out_on=session_date, copier_cut_out_reason=reason)
    )
    if not cut:
        return False
    lead = follower.copies_account
    audit_record(
        tenant=tenant,
        actor=None,
        actor_label="copier",
        action="trading_account.copier_cut_out",
        target=follower,
        after={"session_date": session_date.isoformat(), "reason": reason},
    )
    notify(
        tenant_id=tenant.pk,
        event="risk",
        title=f"{follower.name}: cut out of the copier desk of {lead.name if lead else '?'}",
        body=f"no more copied entries until the next session: {reason}",
        fields={"Session": session_date.isoformat(), "Lead": lead.name if lead else "?"},
        account_id=follower.pk,
        dedupe_key=f"copier-cut-out:{follower.pk}:{session_date.isoformat()}",
    )
    return True
