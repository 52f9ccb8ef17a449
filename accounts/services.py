"""Writes for tenants, members, broker connections, trading accounts, risk profiles and the audit log.

Every service takes the tenant first, checks that related rows share it, and records an audit entry.
"""

import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts import paper
from accounts.crypto import decrypt_secret, encrypt_secret
from accounts.models import (
    AccountPlan,
    AuditEntry,
    BrokerConnection,
    GatewayEnvironment,
    Membership,
    NotificationChannel,
    RiskProfile,
    Role,
    Tenant,
    TradingAccount,
)
from execution import risk
from execution.realtime import close_member_sockets
from markets import calendar
from markets.sessions import trading_date

# Fields that hold secrets never enter an audit row, a log or an API response.
SECRET_FIELDS = frozenset({"api_key_encrypted", "url_encrypted", "password"})


def snapshot(instance: Any) -> dict[str, Any]:
    """A JSON-safe picture of a row for the audit log, secrets left out."""
    data = model_to_dict(instance)
    return {k: _json_safe(v) for k, v in data.items() if k not in SECRET_FIELDS}


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def audit_record(
    *,
    tenant: Tenant | int,
    actor: AbstractBaseUser | None,
    action: str,
    target: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    actor_label: str = "",
) -> AuditEntry:
    tenant_id = getattr(tenant, "pk", tenant)
    label = actor_label or (actor.get_username() if actor is not None else "system")
    return AuditEntry.all_tenants.create(
        tenant_id=tenant_id,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=label,
        action=action,
        object_type=type(target).__name__ if target is not None else "",
        object_id=str(getattr(target, "pk", "") or ""),
        before=before,
        after=after,
    )


@transaction.atomic
def tenant_create(*, name: str, slug: str, owner: AbstractBaseUser) -> Tenant:
    tenant = Tenant.objects.create(name=name, slug=slug)
    Membership(tenant=tenant, user=owner, role=Role.OWNER).save()
    audit_record(
        tenant=tenant, actor=owner, action="tenant.create", target=tenant, after=snapshot(tenant)
    )
    return tenant


@transaction.atomic
def membership_add(
    *, tenant: Tenant, user: AbstractBaseUser, role: str, actor: AbstractBaseUser | None
) -> Membership:
    if role not in Role.values:
        raise ValidationError(
            {"role": f"unknown role {role!r}; choose one of {', '.join(Role.values)}"}
        )
    membership = Membership(tenant=tenant, user=user, role=role)
    membership.full_clean(exclude=["tenant", "user"])
    membership.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="membership.add",
        target=membership,
        after=snapshot(membership),
    )
    return membership


@transaction.atomic
def broker_connection_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    name: str,
    username: str,
    api_key: str,
    environment: str = GatewayEnvironment.SIMULATOR,
) -> BrokerConnection:
    if environment == GatewayEnvironment.SIMULATOR:
        paper.simulator_login_check(tenant=tenant, username=username)
    connection = BrokerConnection(
        tenant=tenant,
        name=name,
        username=username,
        environment=environment,
        api_key_encrypted=encrypt_secret(api_key),
    )
    connection.full_clean(exclude=["tenant"])
    connection.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="broker_connection.create",
        target=connection,
        after=snapshot(connection),
    )
    return connection


@transaction.atomic
def broker_connection_set_api_key(
    *, tenant: Tenant, connection: BrokerConnection, api_key: str, actor: AbstractBaseUser | None
) -> BrokerConnection:
    connection.require_tenant(tenant)
    connection.api_key_encrypted = encrypt_secret(api_key)
    connection.last_verified_at = None
    connection.save(update_fields=["api_key_encrypted", "last_verified_at"])
    audit_record(
        tenant=tenant, actor=actor, action="broker_connection.set_api_key", target=connection
    )
    return connection


def broker_connection_api_key(*, connection: BrokerConnection) -> str:
    """The decrypted API key, for the gateway client only. Never log or return it."""
    return decrypt_secret(connection.api_key_encrypted)


@transaction.atomic
def trading_account_create(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    connection: BrokerConnection,
    projectx_account_id: int,
    name: str,
    plan: AccountPlan,
    starting_balance_usd: Decimal | None = None,
) -> TradingAccount:
    account = TradingAccount(
        tenant=tenant,
        connection=connection,
        projectx_account_id=projectx_account_id,
        name=name,
        plan=plan,
        starting_balance_usd=starting_balance_usd
        if starting_balance_usd is not None
        else plan.size_usd,
    )
    account.assert_same_tenant(connection)
    # the login's row lock serialises account creation per trader: the Express count holds
    list(BrokerConnection.objects.for_tenant(tenant).select_for_update().filter(pk=connection.pk))
    if connection.is_simulated:
        paper.simulator_account_check(tenant=tenant, projectx_account_id=projectx_account_id)
    account.full_clean(exclude=["tenant", "connection", "plan"])
    account.save()
    profile = risk_profile_default(account=account)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="trading_account.create",
        target=account,
        after={**snapshot(account), "risk_profile": snapshot(profile)},
    )
    return account


@transaction.atomic
def paper_account_provision(
    *, tenant: Tenant, actor: AbstractBaseUser | None, plan: AccountPlan | None = None
) -> TradingAccount:
    """A new paper account for the tenant, on its own simulator login (created at the simulator,
    with an API key only the platform holds, on the tenant's first request)."""
    # One provisioning per tenant at a time: a second first-use would re-key the simulator user
    # under the first's feet (creating a simulator user again replaces its key).
    list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk", flat=True))
    name = paper.paper_login_name(tenant)
    connection = (
        BrokerConnection.objects.for_tenant(tenant)
        .filter(environment=GatewayEnvironment.SIMULATOR, username=name)
        .first()
    )
    if connection is None:
        api_key = secrets.token_urlsafe(32)
        remote = paper.simulator_user_create(name=name, api_key=api_key)
        connection = broker_connection_create(
            tenant=tenant,
            actor=actor,
            name="Paper trading",
            username=name,
            api_key=api_key,
            environment=GatewayEnvironment.SIMULATOR,
        )
    else:
        remote = paper.simulator_account_add(user=name)
    return trading_account_create(
        tenant=tenant,
        actor=actor,
        connection=connection,
        projectx_account_id=int(remote["id"]),
        name=str(remote["name"])[:120],
        plan=plan or AccountPlan.objects.get(code="practice-50k"),
        starting_balance_usd=Decimal(str(remote["balance"])).quantize(Decimal("0.01")),
    )


def risk_profile_default(*, account: TradingAccount) -> RiskProfile:
    """The account's limits, defaulted from its plan (TopStep's published numbers). No personal
    daily loss limit: the plan's firm one, if it has one, applies on its own."""
    plan = account.plan
    profile = RiskProfile(
        tenant_id=account.tenant_id,
        account=account,
        is_daily_loss_enforced=False,
        daily_loss_limit_usd=None,
        max_loss_limit_usd=plan.max_loss_limit_usd,
        mll_mode=plan.mll_mode,
        mll_lock_balance_usd=account.starting_balance_usd,
        max_contracts=plan.max_contracts,
        micro_ratio=plan.micro_ratio,
    )
    profile.save()
    return profile


RISK_PROFILE_EDITABLE = (
    "is_daily_loss_enforced",
    "daily_loss_limit_usd",
    "daily_loss_action",
    "is_consistency_guarded",
    "max_loss_limit_usd",
    "mll_mode",
    "mll_lock_balance_usd",
    "max_contracts",
    "micro_ratio",
    "flat_by_et",
    "warning_share",
    "max_losing_trades",
    "max_drawdown_usd",
    "loss_streak",
    "cooldown_minutes",
)


@transaction.atomic
def risk_profile_update(
    *,
    tenant: Tenant,
    profile: RiskProfile,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
    **changes: Any,
) -> RiskProfile:
    """Change an account's limits. Tightening applies at once; a loosening made while a session
    is open waits in `pending_changes` for the next session (so no one loosens a limit on tilt;
    `risk.loosens` decides per field). A tightening of a field drops its pending loosening."""
    unknown = set(changes) - set(RISK_PROFILE_EDITABLE)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "not an editable risk setting"))
    profile.require_tenant(tenant)
    now = now or timezone.now()
    before = snapshot(profile)
    old = {name: getattr(profile, name) for name in changes}
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.full_clean(exclude=["tenant", "account"])  # the limits as asked must be valid
    pending = dict(profile.pending_changes)
    session = _open_session(now)
    for name, value in changes.items():
        pending.pop(name, None)
        if session is not None and risk.loosens(name, old[name], value):
            pending[name] = _json_safe(value)
            setattr(profile, name, old[name])
    profile.pending_changes = pending
    if not pending:
        profile.pending_from = None
    elif session is not None:
        profile.pending_from = calendar.next_trading_day(session)
    profile.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="risk_profile.update",
        target=profile,
        before=before,
        after=snapshot(profile),
    )
    return profile


def _open_session(now: datetime) -> date | None:
    """The trading date whose session is open at `now` (halts included), or None."""
    day = trading_date(now)
    found = calendar.session(day)
    return day if found is not None and found.open_at <= now < found.close_at else None


@transaction.atomic
def risk_profile_apply_pending(*, profile: RiskProfile, session_date: date) -> RiskProfile:
    """Apply the loosenings that wait for `session_date` (the day roll calls this)."""
    if not profile.pending_changes or profile.pending_from is None:
        return profile
    if profile.pending_from > session_date:
        return profile
    before = snapshot(profile)
    for name, value in profile.pending_changes.items():
        setattr(profile, name, profile._meta.get_field(name).to_python(value))
    profile.pending_changes, profile.pending_from = {}, None
    profile.full_clean(exclude=["tenant", "account"])
    profile.save()
    audit_record(
        tenant=profile.tenant_id,
        actor=None,
        actor_label="trading day",
        action="risk_profile.pending_applied",
        target=profile,
        before=before,
        after=snapshot(profile),
    )
    return profile


@transaction.atomic
def copier_follow(
    *,
    tenant: Tenant,
    actor: AbstractBaseUser | None,
    follower: TradingAccount,
    lead: TradingAccount | None,
) -> TradingAccount:
    """Make `follower` copy `lead`'s strategy orders (None: stop copying). The rules are the
    model's (`TradingAccount._clean_copier`); a follower cut out earlier is back in."""
    follower.require_tenant(tenant)
    if lead is not None:
        lead.require_tenant(tenant)
    # one change per desk at a time: the count of followers is read under the lead's row lock
    locked = lead or follower
    list(TradingAccount.objects.for_tenant(tenant).select_for_update().filter(pk=locked.pk))
    before = snapshot(follower)
    follower.copies_account = lead
    follower.copier_cut_out_on, follower.copier_cut_out_reason = None, ""
    follower.full_clean(exclude=["tenant", "connection", "plan"])
    follower.save(update_fields=["copies_account", "copier_cut_out_on", "copier_cut_out_reason"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="trading_account.copier",
        target=follower,
        before=before,
        after=snapshot(follower),
    )
    return follower


@transaction.atomic
def notification_channel_create(
    *, tenant: Tenant, actor: AbstractBaseUser | None, name: str, url: str, events: list[str]
) -> NotificationChannel:
    channel = NotificationChannel(
        tenant=tenant, name=name, url_encrypted=encrypt_secret(url), events=events
    )
    channel.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="notification_channel.create",
        target=channel,
        after=snapshot(channel),
    )
    return channel


# --- Added for the REST API (accounts/api) -----------------------------------------------------


def _refuse_losing_last_owner(*, tenant: Tenant, membership: Membership) -> None:
    """A tenant always keeps an owner: only owners manage members, logins and risk limits."""
    if membership.role != Role.OWNER:
        return
    # Lock the owner rows (FOR UPDATE cannot wrap COUNT) so two concurrent demotions cannot both pass.
    owners = Membership.objects.for_tenant(tenant).select_for_update().filter(role=Role.OWNER)
    if len(owners.values_list("pk", flat=True)) <= 1:
        raise ValidationError({"role": "a tenant must keep at least one owner"})


@transaction.atomic
def membership_set_role(
    *, tenant: Tenant, membership: Membership, role: str, actor: AbstractBaseUser | None
) -> Membership:
    membership.require_tenant(tenant)
    if role not in Role.values:
        raise ValidationError(
            {"role": f"unknown role {role!r}; choose one of {', '.join(Role.values)}"}
        )
    before = snapshot(membership)
    if role != membership.role:
        _refuse_losing_last_owner(tenant=tenant, membership=membership)
        membership.role = role
        membership.save(update_fields=["role"])
    audit_record(
        tenant=tenant,
        actor=actor,
        action="membership.set_role",
        target=membership,
        before=before,
        after=snapshot(membership),
    )
    return membership


@transaction.atomic
def membership_remove(
    *, tenant: Tenant, membership: Membership, actor: AbstractBaseUser | None
) -> None:
    membership.require_tenant(tenant)
    _refuse_losing_last_owner(tenant=tenant, membership=membership)
    before = snapshot(membership)
    audit_record(
        tenant=tenant, actor=actor, action="membership.remove", target=membership, before=before
    )
    membership.delete()
    close_member_sockets(tenant_id=tenant.pk, user_id=membership.user_id)
