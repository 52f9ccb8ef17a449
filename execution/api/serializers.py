"""Output shapes for orders, fills, positions and account days, and the query filters of their lists.

Related rows are named by public UUID where they have one (account, order, strategy) and by contract id
for instruments (shared reference data). Decimals stay strings (DRF's COERCE_DECIMAL_TO_STRING).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from accounts.api.serializers import TradingDatesFilterSerializer
from execution import risk
from execution.models import (
    AccountDay,
    Fill,
    Order,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)


class InstrumentBriefSerializer(serializers.Serializer):
    symbol = serializers.CharField(read_only=True)
    contract_id = serializers.CharField(read_only=True)


@extend_schema_field(
    {"type": "string", "description": "One of: " + ", ".join(OrderRole.values) + "."}
)
class OrderRoleField(serializers.CharField):
    """A plain string in the schema: drf-spectacular names enums by field name, and an enum here
    would collide with the membership `role` enum."""


@extend_schema_field({"type": "string", "readOnly": True})
class ChoiceLabelField(serializers.ReadOnlyField):
    """A choice's label, read from the value (sourcing `get_FOO_display` makes DRF inspect the
    method's signature on every row, which was a third of the order list's time)."""

    def __init__(self, *, choices: list[tuple[Any, str]], **kwargs: Any) -> None:
        self.labels = dict(choices)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return self.labels.get(value, str(value))


class OrderSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    role = OrderRoleField(
        read_only=True, help_text="Why the order exists: entry, bracket leg, exit."
    )
    account = serializers.UUIDField(source="account.public_id", read_only=True)
    instrument = InstrumentBriefSerializer(read_only=True)
    strategy = serializers.UUIDField(
        source="strategy_config.public_id", read_only=True, allow_null=True, default=None
    )
    order_type_display = ChoiceLabelField(choices=OrderType.choices, source="order_type")
    side_display = ChoiceLabelField(choices=OrderSide.choices, source="side")

    class Meta:
        model = Order
        fields = (
            "id",
            "account",
            "instrument",
            "strategy",
            "custom_tag",
            "broker_order_id",
            "order_type",
            "order_type_display",
            "side",
            "side_display",
            "size",
            "limit_price",
            "stop_price",
            "trail_ticks",
            "stop_loss_ticks",
            "take_profit_ticks",
            "role",
            "oco_group",
            "status",
            "filled_size",
            "average_fill_price",
            "rejection_reason",
            "created_at",
            "submitted_at",
            "acknowledged_at",
            "closed_at",
        )
        read_only_fields = fields


class FillSerializer(serializers.ModelSerializer):
    account = serializers.UUIDField(source="account.public_id", read_only=True)
    order = serializers.UUIDField(
        source="order.public_id", read_only=True, allow_null=True, default=None
    )
    strategy = serializers.UUIDField(
        source="strategy_config.public_id", read_only=True, allow_null=True, default=None
    )
    instrument = InstrumentBriefSerializer(read_only=True)

    class Meta:
        model = Fill
        fields = (
            "account",
            "order",
            "strategy",
            "instrument",
            "broker_trade_id",
            "side",
            "size",
            "price",
            "fees_usd",
            "realized_pnl_usd",
            "executed_at",
        )
        read_only_fields = fields


class PositionSerializer(serializers.ModelSerializer):
    account = serializers.UUIDField(source="account.public_id", read_only=True)
    instrument = InstrumentBriefSerializer(read_only=True)

    class Meta:
        model = Position
        fields = (
            "account",
            "instrument",
            "net_size",
            "average_price",
            "unrealized_pnl_usd",
            "opened_at",
            "updated_at",
        )
        read_only_fields = fields


class AccountDaySerializer(serializers.ModelSerializer):
    account = serializers.UUIDField(source="account.public_id", read_only=True)
    net_pnl_usd = serializers.DecimalField(max_digits=15, decimal_places=2, read_only=True)

    class Meta:
        model = AccountDay
        fields = (
            "account",
            "session_date",
            "start_balance_usd",
            "balance_usd",
            "realized_pnl_usd",
            "unrealized_pnl_usd",
            "fees_usd",
            "net_pnl_usd",
            "high_water_usd",
            "mll_floor_usd",
            "daily_loss_floor_usd",
            "is_locked",
            "locked_reason",
            "locked_at",
            "updated_at",
        )
        read_only_fields = fields


# --- List filters (query parameters) ---------------------------------------------------------------
class AccountFilterSerializer(serializers.Serializer):
    account = serializers.UUIDField(
        required=False, source="account_public_id", help_text="A trading account's id."
    )


class OrderFilterSerializer(AccountFilterSerializer, TradingDatesFilterSerializer):
    status = serializers.MultipleChoiceField(
        choices=OrderStatus.choices,
        required=False,
        source="statuses",
        help_text="Repeat the parameter for several statuses.",
    )


class FillFilterSerializer(AccountFilterSerializer, TradingDatesFilterSerializer):
    pass


class AccountDayFilterSerializer(AccountFilterSerializer, TradingDatesFilterSerializer):
    pass


class QueryBooleanField(serializers.BooleanField):
    """A boolean query parameter whose absence means "no filter", not False (DRF's HTML default)."""

    default_empty_html = empty


class PositionFilterSerializer(AccountFilterSerializer):
    is_open = QueryBooleanField(
        required=False, allow_null=True, default=None, help_text="Only open (or only flat) rows."
    )


# --- Account rules -------------------------------------------------------------------------------
USD_FIELD = {"max_digits": 15, "decimal_places": 2, "read_only": True}


class ConsistencySerializer(serializers.Serializer):
    share = serializers.DecimalField(max_digits=4, decimal_places=3, read_only=True)
    total_profit_usd = serializers.DecimalField(**USD_FIELD)
    best_day_usd = serializers.DecimalField(**USD_FIELD)
    best_day_share = serializers.DecimalField(
        max_digits=9, decimal_places=4, read_only=True, allow_null=True
    )
    is_consistent = serializers.BooleanField(read_only=True)
    day_cap_usd = serializers.DecimalField(
        **USD_FIELD, help_text="Today's profit must stay below this to keep consistency."
    )
    remaining_today_usd = serializers.DecimalField(**USD_FIELD)


class AccountRulesSerializer(serializers.Serializer):
    """execution.selectors.AccountRules: which account rules apply, and the consistency target."""

    plan_code = serializers.CharField(read_only=True)
    firm_daily_loss_limit_usd = serializers.DecimalField(**USD_FIELD, allow_null=True)
    personal_daily_loss_limit_usd = serializers.DecimalField(**USD_FIELD, allow_null=True)
    personal_daily_loss_action = serializers.ChoiceField(
        choices=[a.value for a in risk.DailyLossAction], read_only=True
    )
    mll_mode = serializers.ChoiceField(choices=[m.value for m in risk.MllMode], read_only=True)
    max_loss_limit_usd = serializers.DecimalField(**USD_FIELD)
    micro_ratio = serializers.IntegerField(read_only=True)
    max_contracts_today = serializers.IntegerField(read_only=True)
    is_consistency_guarded = serializers.BooleanField(read_only=True)
    consistency = ConsistencySerializer(read_only=True, allow_null=True)
    rules_source = serializers.CharField(read_only=True)
