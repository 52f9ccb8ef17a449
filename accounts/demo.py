"""The demo desk that `make run` creates: a tenant, a trader who can use the admin, a simulator login,
and, once a worker reaches the simulator, its paper account with an Overnight Range Breakout on ES
(switched off: one click on the Strategies page arms it).

Idempotent: running it again changes nothing that exists (the password is reset to the documented one).
Development only: the desk's simulator login is the simulator's shared `demo` user, whose API key is
public, so outside DEBUG it is refused (accounts/paper.py); tenants get paper logins of their own.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from accounts import paper, services
from accounts.models import (
    BrokerConnection,
    GatewayEnvironment,
    Membership,
    Role,
    Tenant,
    TradingAccount,
)
from tradingsite.dispatch import Policy, enqueue_on_commit

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (documented demo login, local only)
DEMO_BROKER_USER = paper.SHARED_DEMO_LOGIN
DEMO_BROKER_API_KEY = "demo-api-key"  # the simulator's default demo user
DESK_STAFF_GROUP = "Desk staff"
DESK_STAFF_APPS = ("accounts", "execution", "strategies")
DEMO_STRATEGY_SYMBOL = "ES"


@dataclass(frozen=True)
class DemoDesk:
    tenant: Tenant
    connection: BrokerConnection
    created: bool


def desk_staff_group() -> Group:
    """Staff who run their own desk in the admin: every permission on our apps, scoped by tenant."""
    group, _ = Group.objects.get_or_create(name=DESK_STAFF_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=DESK_STAFF_APPS))
    return group


@transaction.atomic
def demo_desk_seed() -> DemoDesk:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com", "is_staff": True}
    )
    user.set_password(DEMO_PASSWORD)
    user.is_staff = True
    user.save()
    user.groups.add(desk_staff_group())

    tenant = Tenant.objects.filter(slug="demo-desk").first()
    created = tenant is None
    if created:
        tenant = services.tenant_create(name="Demo Desk", slug="demo-desk", owner=user)
    elif not Membership.objects.for_tenant(tenant).filter(user=user).exists():
        services.membership_add(tenant=tenant, user=user, role=Role.OWNER, actor=None)

    connection = (
        BrokerConnection.objects.for_tenant(tenant)
        .filter(environment=GatewayEnvironment.SIMULATOR, username=DEMO_BROKER_USER)
        .first()
    )
    if connection is None:
        connection = services.broker_connection_create(
            tenant=tenant,
            actor=user,
            name="Simulator (paper trading)",
            username=DEMO_BROKER_USER,
            api_key=DEMO_BROKER_API_KEY,
            environment=GatewayEnvironment.SIMULATOR,
        )
    # Accounts and contracts come from the simulator once a worker can reach it (it retries while
    # the simulator starts), and with them the demo's strategy.
    enqueue_on_commit(
        "accounts.demo_desk_connect",
        policy=Policy.RETRY,
        tenant_id=tenant.pk,
        connection_id=connection.pk,
    )
    return DemoDesk(tenant=tenant, connection=connection, created=created)


def demo_desk_connect(*, connection: BrokerConnection) -> TradingAccount | None:
    """Sync the demo login's accounts and contracts from the simulator, then give its paper account
    the breakout (switched off) unless that account already has one. Returns the paper account."""
    from execution import broker

    accounts = broker.connection_sync(connection=connection)
    if not accounts:
        return None
    account = min(accounts, key=lambda a: a.projectx_account_id)
    demo_breakout_ensure(account=account)
    return account


@transaction.atomic
def demo_breakout_ensure(*, account: TradingAccount) -> None:
    """An Overnight Range Breakout with its defaults on the account's ES front month, disabled."""
    from execution.selectors import instrument_list_active
    from strategies.models import StrategyConfig, StrategyKind
    from strategies.services import strategy_config_create

    tenant, kind = account.tenant, StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    has_one = StrategyConfig.objects.for_tenant(tenant).filter(account=account, kind=kind).exists()
    # The newest ES contract the broker listed is the front month (older ones stay after a roll).
    instrument = (
        instrument_list_active().filter(symbol=DEMO_STRATEGY_SYMBOL).order_by("-pk").first()
    )
    if has_one or instrument is None:
        return
    strategy_config_create(
        tenant=tenant,
        actor=None,
        account=account,
        instrument=instrument,
        name=kind.label,
        kind=kind.value,
    )
