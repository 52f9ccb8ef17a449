from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from accounts.crypto import encrypt_secret
from accounts.models import (
    AccountPlan,
    BrokerConnection,
    Membership,
    RiskProfile,
    Role,
    Tenant,
    TradingAccount,
)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests")


class TenantOwnedFactory(DjangoModelFactory):
    """Creates through `all_tenants`: `objects` refuses unscoped use, factories included."""

    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class):
        return model_class.all_tenants


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Desk {n}")
    slug = factory.Sequence(lambda n: f"desk-{n}")


class MembershipFactory(TenantOwnedFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


class BrokerConnectionFactory(TenantOwnedFactory):
    class Meta:
        model = BrokerConnection

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Login {n}")
    username = factory.Sequence(lambda n: f"px-user-{n}")
    api_key_encrypted = factory.LazyFunction(lambda: encrypt_secret("secret-api-key"))


def plan(code: str = "combine-50k", **fields: object) -> AccountPlan:
    """The seeded plan; re-created for transactional tests, whose flush removes migration data.
    As seeded for TopstepX: no firm daily loss limit, end-of-day MLL, micros as full contracts.
    Another code with `daily_loss_limit_usd=...` makes another platform's plan (a firm DLL)."""
    plan, _ = AccountPlan.objects.get_or_create(
        code=code,
        defaults={
            "program": "combine",
            "size_usd": Decimal(50_000),
            "profit_target_usd": Decimal(3_000),
            "daily_loss_limit_usd": None,
            "max_loss_limit_usd": Decimal(2_000),
            "max_contracts": 5,
            **fields,
        },
    )
    return plan


class TradingAccountFactory(TenantOwnedFactory):
    class Meta:
        model = TradingAccount
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    connection = factory.SubFactory(
        BrokerConnectionFactory, tenant=factory.SelfAttribute("..tenant")
    )
    projectx_account_id = factory.Sequence(lambda n: 1000 + n)
    name = factory.Sequence(lambda n: f"TC-50K-{n}")
    plan = factory.LazyFunction(plan)
    starting_balance_usd = Decimal("50000.00")
    risk_profile = factory.RelatedFactory(
        "accounts.tests.factories.RiskProfileFactory",
        factory_related_name="account",
        tenant=factory.SelfAttribute("..tenant"),
    )


class RiskProfileFactory(TenantOwnedFactory):
    class Meta:
        model = RiskProfile

    tenant = factory.SubFactory(TenantFactory)
    # a trader who set a personal daily loss limit of $1,000 that liquidates and blocks
    is_daily_loss_enforced = True
    daily_loss_limit_usd = Decimal("1000.00")
    max_loss_limit_usd = Decimal("2000.00")
    mll_lock_balance_usd = Decimal("50000.00")
    max_contracts = 5
