"""Input and output shapes for accounts: the user, members, broker logins, trading accounts, risk, audit.

Secrets (broker API keys) are write-only inputs: no output serializer has a field that could carry one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import selectors
from accounts.api.fields import ReferenceSlugField, TenantRelatedField
from accounts.models import (
    AccountPlan,
    AuditEntry,
    BrokerConnection,
    GatewayEnvironment,
    Invitation,
    Membership,
    RiskProfile,
    Role,
    TradingAccount,
)
from accounts.services import RISK_PROFILE_EDITABLE


# --- The user and their tenants ----------------------------------------------------------------
class MembershipOfUserSerializer(serializers.ModelSerializer):
    tenant = serializers.UUIDField(source="tenant.public_id", read_only=True)
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    tenant_slug = serializers.CharField(source="tenant.slug", read_only=True)

    class Meta:
        model = Membership
        fields = ("tenant", "tenant_name", "tenant_slug", "role")
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    email_verified = serializers.BooleanField(read_only=True)
    current_tenant = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="What X-Tenant defaults to (null: several tenants, so requests must name one).",
    )
    memberships = MembershipOfUserSerializer(many=True, read_only=True)


# --- Members -------------------------------------------------------------------------------------
class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ("username", "email", "role", "created_at")
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "created_at", "expires_at")
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="The secret from the emailed link.")
    decline = serializers.BooleanField(default=False)


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


# --- Broker connections ------------------------------------------------------------------------
class BrokerConnectionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = BrokerConnection
        fields = ("id", "name", "environment", "username", "created_at", "last_verified_at")
        read_only_fields = fields


class BrokerConnectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    environment = serializers.ChoiceField(
        choices=GatewayEnvironment.choices, default=GatewayEnvironment.SIMULATOR
    )
    username = serializers.CharField(max_length=150)
    api_key = serializers.CharField(
        write_only=True,
        trim_whitespace=True,
        min_length=8,
        max_length=512,
        style={"input_type": "password"},
        help_text="ProjectX API key. Encrypted at rest; never returned by any endpoint.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        taken = selectors.broker_connection_list(tenant=self.context["tenant"]).filter(
            environment=attrs["environment"], username=attrs["username"]
        )
        if taken.exists():
            raise serializers.ValidationError(
                {"username": "This login is already connected in that environment."}
            )
        return attrs


class ApiKeySerializer(serializers.Serializer):
    api_key = serializers.CharField(
        write_only=True, min_length=8, max_length=512, style={"input_type": "password"}
    )


# --- Trading accounts and risk -----------------------------------------------------------------
@extend_schema_field(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "15:55"}
)
class WallClockTimeField(serializers.TimeField):
    """A zone-less exchange wall-clock time, "HH:MM" (OpenAPI's `format: time` demands an offset)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class RiskProfileSerializer(serializers.ModelSerializer):
    """Output, and input for PATCH: only the editable limits (accounts.services.RISK_PROFILE_EDITABLE)."""

    flat_by_et = WallClockTimeField(
        required=False, help_text="End-of-day flatten, New York time (at most 16:09)."
    )

    class Meta:
        model = RiskProfile
        # A loosening made while a session is open waits in pending_changes until pending_from.
        fields = (*RISK_PROFILE_EDITABLE, "pending_changes", "pending_from", "updated_at")
        read_only_fields = ("pending_changes", "pending_from", "updated_at")


class ConnectionBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = BrokerConnection
        fields = ("id", "name", "environment")
        read_only_fields = fields


class TradingAccountSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    plan = serializers.SlugRelatedField(slug_field="code", read_only=True)
    connection = ConnectionBriefSerializer(read_only=True)
    is_simulated = serializers.BooleanField(read_only=True)
    risk_profile = RiskProfileSerializer(read_only=True, allow_null=True)
    copies_account = TenantRelatedField(
        selector=selectors.trading_account_list, read_only=True, allow_null=True
    )

    class Meta:
        model = TradingAccount
        fields = (
            "id",
            "name",
            "projectx_account_id",
            "plan",
            "starting_balance_usd",
            "is_active",
            "is_simulated",
            "connection",
            "risk_profile",
            "copies_account",
            "copier_cut_out_on",
            "copier_cut_out_reason",
            "created_at",
        )
        read_only_fields = fields


class CopierSerializer(serializers.Serializer):
    """The lead whose strategy orders this account copies; null stops copying."""

    lead = TenantRelatedField(selector=selectors.trading_account_list, allow_null=True)


class TradingAccountCreateSerializer(serializers.Serializer):
    connection = TenantRelatedField(selector=selectors.broker_connection_list)
    projectx_account_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    name = serializers.CharField(max_length=120)
    plan = ReferenceSlugField(slug_field="code", queryset=AccountPlan.objects.all())
    starting_balance_usd = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        taken = selectors.trading_account_list(tenant=self.context["tenant"]).filter(
            connection=attrs["connection"], projectx_account_id=attrs["projectx_account_id"]
        )
        if taken.exists():
            raise serializers.ValidationError(
                {"projectx_account_id": "This account is already registered on that connection."}
            )
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="requested via API")


class LockSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class FlattenAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField(read_only=True)


# --- Audit ---------------------------------------------------------------------------------------
class UnavailableSerializer(serializers.Serializer):
    detail = serializers.CharField()


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = ("at", "actor_label", "action", "object_type", "object_id", "before", "after")
        read_only_fields = fields


# Trading dates outside this span are typos; refusing them also keeps date arithmetic in range.
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)


def _plausible_date(value: date) -> None:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise serializers.ValidationError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")


class TradingDatesFilterSerializer(serializers.Serializer):
    """Trading dates (a date D runs 18:00 ET the evening before to 18:00 ET on D), inclusive."""

    date_from = serializers.DateField(
        required=False, validators=[_plausible_date], help_text="First trading date, inclusive."
    )
    date_to = serializers.DateField(
        required=False, validators=[_plausible_date], help_text="Last trading date, inclusive."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("date_from"), attrs.get("date_to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"date_to": "must not be before date_from"})
        return attrs


class AuditFilterSerializer(TradingDatesFilterSerializer):
    action = serializers.CharField(
        required=False, max_length=80, help_text='Prefix, e.g. "strategy." or "account.lock".'
    )
