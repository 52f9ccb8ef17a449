"""Strategy configurations: output, create and update inputs, and the parameter schema per kind.

Parameters are validated by the engine's schema (strategies/engine/params.py) in the service; its
ParameterError becomes a 400 whose `params` entry maps each bad field to its message.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts import selectors as account_selectors
from accounts.api.fields import ReferenceSlugField, TenantRelatedField
from accounts.api.serializers import TradingDatesFilterSerializer
from execution import selectors as execution_selectors
from strategies import selectors
from strategies.models import (
    BacktestRun,
    DecisionStatus,
    EvaluationRun,
    StrategyConfig,
    StrategyDecision,
    StrategyKind,
)


class StrategyConfigSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    account = serializers.UUIDField(source="account.public_id", read_only=True)
    instrument = serializers.CharField(source="instrument.contract_id", read_only=True)

    class Meta:
        model = StrategyConfig
        fields = (
            "id",
            "name",
            "kind",
            "account",
            "instrument",
            "params",
            "is_enabled",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ParamsField(serializers.JSONField):
    """A JSON object of parameter values; the kind's schema checks each one in the service."""

    default_error_messages = {"not_object": "Must be a JSON object of parameter values."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        return value


class StrategyConfigCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=StrategyKind.choices)
    account = TenantRelatedField(selector=account_selectors.trading_account_list)
    instrument = ReferenceSlugField(
        slug_field="contract_id",
        queryset=execution_selectors.instrument_list_active(),
        help_text="ProjectX contract id, e.g. CON.F.US.EP.Z25.",
    )
    params = ParamsField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        taken = selectors.strategy_config_list(tenant=self.context["tenant"]).filter(
            account=attrs["account"], name=attrs["name"]
        )
        if taken.exists():
            raise serializers.ValidationError(
                {"name": "This account already has a strategy so named."}
            )
        return attrs


class StrategyConfigUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    params = ParamsField(
        required=False, help_text="Replaces every parameter; omitted ones take their defaults."
    )

    def validate_name(self, value: str) -> str:
        config = self.context["config"]
        taken = (
            selectors.strategy_config_list(tenant=self.context["tenant"])
            .filter(account_id=config.account_id, name=value)
            .exclude(pk=config.pk)
        )
        if taken.exists():
            raise serializers.ValidationError("This account already has a strategy so named.")
        return value


class StrategyMoveAccountSerializer(serializers.Serializer):
    account = TenantRelatedField(
        selector=account_selectors.trading_account_list,
        help_text="The trading account to move the strategy to: a simulator (paper) or live one.",
    )


class ParamSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["int", "decimal", "time", "bool"])
    default = serializers.JSONField()
    min = serializers.JSONField(allow_null=True)
    max = serializers.JSONField(allow_null=True)
    help = serializers.CharField()


class StrategyKindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    params = ParamSpecSerializer(many=True)


class BacktestRunSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    bars = serializers.CharField(
        source="bars_name", read_only=True, help_text="The bars file name, or cached:<contract id>."
    )
    progress = serializers.FloatField(source="progress_share", read_only=True)

    class Meta:
        model = BacktestRun
        fields = (
            "id", "kind", "params", "contract", "bars", "first_date", "last_date", "plan_code",
            "commission_usd", "slippage_ticks", "status", "progress", "progress_done",
            "progress_total", "metrics", "error", "created_at", "started_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields


class BacktestRunCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StrategyKind.choices)
    params = ParamsField(required=False, default=dict)
    contract = serializers.CharField(max_length=12, help_text="ES, NQ, MES ...")
    bars = serializers.CharField(
        max_length=200, help_text="A file of the market-data folder, or cached:<contract id>."
    )
    first_date = serializers.DateField(required=False, allow_null=True)
    last_date = serializers.DateField(required=False, allow_null=True)
    plan_code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="An account plan (e.g. combine-50k) whose rules apply; blank: no account rules.",
    )
    commission_usd = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    slippage_ticks = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)


class EvaluationRunSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    bars = serializers.CharField(source="bars_name", read_only=True, help_text="The bars file.")
    progress = serializers.FloatField(source="progress_share", read_only=True)

    class Meta:
        model = EvaluationRun
        fields = (
            "id", "kind", "params", "contract", "bars", "plan_code", "start_every", "paths",
            "horizon", "block", "seed", "status", "stage", "progress", "progress_done",
            "progress_total", "error", "created_at", "started_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields


class EvaluationRunCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StrategyKind.choices)
    params = ParamsField(required=False, default=dict)
    contract = serializers.CharField(max_length=12, help_text="ES, NQ, MES ...")
    bars = serializers.CharField(max_length=200, help_text="A file of the market-data folder.")
    plan_code = serializers.CharField(
        max_length=40,
        help_text="A plan with a profit target (a Trading Combine, e.g. combine-50k).",
    )
    start_every = serializers.IntegerField(
        min_value=1, max_value=1000, default=1, help_text="Start an attempt every N sessions."
    )
    paths = serializers.IntegerField(
        min_value=0, max_value=100_000, default=10_000, help_text="Monte Carlo paths (0: none)."
    )
    horizon = serializers.IntegerField(
        min_value=1, max_value=5000, default=250, help_text="Sessions per Monte Carlo path."
    )
    block = serializers.IntegerField(
        min_value=1, max_value=250, default=5, help_text="Sessions per bootstrap block."
    )
    seed = serializers.IntegerField(min_value=0, default=0)


class StrategyDecisionSerializer(serializers.ModelSerializer):
    """One decision of the live runtime. ``account`` and ``instrument`` are those of the desk that
    decided (kept when the strategy later moves); ``strategy`` is null for a desk-wide note."""

    strategy = serializers.UUIDField(
        source="strategy_config.public_id", read_only=True, allow_null=True, default=None
    )
    strategy_name = serializers.CharField(
        source="strategy_config.name", read_only=True, allow_null=True, default=None
    )
    account = serializers.UUIDField(source="runtime.account.public_id", read_only=True)
    instrument = serializers.CharField(
        source="runtime.instrument.contract_id", read_only=True, help_text="ProjectX contract id."
    )
    intent = serializers.JSONField(
        read_only=True, help_text="The order intent carried out (null for a noted decision)."
    )

    class Meta:
        model = StrategyDecision
        fields = (
            "strategy", "strategy_name", "account", "instrument", "decided_at", "action", "tag",
            "reason", "intent", "status", "outcome", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class StrategyDecisionFilterSerializer(TradingDatesFilterSerializer):
    strategy = serializers.UUIDField(
        required=False, source="strategy_public_id", help_text="A strategy configuration's id."
    )
    account = serializers.UUIDField(
        required=False, source="account_public_id", help_text="A trading account's id."
    )
    status = serializers.MultipleChoiceField(
        choices=DecisionStatus.choices,
        required=False,
        source="statuses",
        help_text="Repeat the parameter for several statuses.",
    )
