"""Strategy configurations: CRUD, enable/disable, moving to another account (paper/live), each
kind's parameter schema; and the live runtime's decisions (read-only).

Viewers read; owners and traders create, edit, enable and disable (TenantScopedViewSet's roles).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import TenantCreateMixin, TenantScopedViewSet
from accounts.models import Tenant
from strategies import selectors, services
from strategies.api import serializers as s
from strategies.models import (
    BacktestRun,
    EvaluationRun,
    StrategyConfig,
    StrategyDecision,
    StrategyKind,
)

PARAMS_ERROR = OpenApiResponse(
    description='Validation failed; parameter errors are under "params" as {field: message}.'
)


def _parameter_errors(exc: Exception) -> ValidationError | None:
    """The engine's ParameterError as a 400: {"params": {field: message}} (or {"kind": ...})."""
    from strategies.engine.params import ParameterError

    if not isinstance(exc, ParameterError):
        return None
    if set(exc.errors) == {"kind"}:
        return ValidationError({"kind": [exc.errors["kind"]]})
    return ValidationError({"params": {field: [message] for field, message in exc.errors.items()}})


class StrategyConfigViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    serializer_class = s.StrategyConfigSerializer
    input_serializer_class = s.StrategyConfigCreateSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[StrategyConfig]:
        return selectors.strategy_config_list(tenant=tenant)

    def handle_exception(self, exc: Exception) -> Response:
        return super().handle_exception(_parameter_errors(exc) or exc)

    @extend_schema(
        request=s.StrategyConfigCreateSerializer,
        responses={201: s.StrategyConfigSerializer, 400: PARAMS_ERROR},
        summary="Create a configuration (always disabled; enable it separately)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> StrategyConfig:
        return services.strategy_config_create(tenant=tenant, actor=actor, **data)

    @extend_schema(
        request=s.StrategyConfigUpdateSerializer,
        responses={200: s.StrategyConfigSerializer, 400: PARAMS_ERROR},
        summary="Rename or replace parameters",
    )
    def partial_update(self, request: Request, public_id: str) -> Response:
        config = self.get_object()
        context = {**self.get_serializer_context(), "config": config}
        serializer = s.StrategyConfigUpdateSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        config = services.strategy_config_update(
            tenant=self.tenant, config=config, actor=request.user, **serializer.validated_data
        )
        return self.respond(config)

    @extend_schema(
        responses={204: None, 400: OpenApiResponse(description="Enabled: disable it first.")}
    )
    def destroy(self, request: Request, public_id: str) -> Response:
        config = self.get_object()
        services.strategy_config_delete(tenant=self.tenant, config=config, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.StrategyConfigSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, public_id: str) -> Response:
        return self._set_enabled(is_enabled=True)

    @extend_schema(request=None, responses=s.StrategyConfigSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, public_id: str) -> Response:
        return self._set_enabled(is_enabled=False)

    @extend_schema(
        request=s.StrategyMoveAccountSerializer,
        responses={
            200: s.StrategyConfigSerializer,
            400: OpenApiResponse(
                description="Refused: the strategy is enabled, has open orders or decisions "
                "still being carried out, or the target account is inactive, the current one or "
                "already has a strategy of that name."
            ),
        },
        summary="Move to another account of the desk (the paper/live switch); disable it first",
    )
    @action(detail=True, methods=["post"], url_path="move-account")
    def move_account(self, request: Request, public_id: str) -> Response:
        config = self.get_object()
        account = self.validated(s.StrategyMoveAccountSerializer)["account"]
        config = services.strategy_move_account(
            tenant=self.tenant, config=config, account=account, actor=request.user
        )
        return self.respond(config)

    def _set_enabled(self, *, is_enabled: bool) -> Response:
        config = self.get_object()
        if is_enabled:
            # Stored parameters were valid when saved; the schema may have tightened since, and the
            # engine would then refuse them at the open. Say so now, while a person is looking.
            services.strategy_params_clean(kind=config.kind, params=config.params)
        config = services.strategy_set_enabled(
            tenant=self.tenant, config=config, is_enabled=is_enabled, actor=self.request.user
        )
        return self.respond(config)

    @extend_schema(
        request=None,
        responses=s.StrategyKindSerializer(many=True),
        summary="Every strategy kind with its parameters: type, default, limits, help",
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def kinds(self, request: Request) -> Response:
        from strategies.engine.params import schema_for

        data = [
            {"kind": kind.value, "label": kind.label, "params": schema_for(kind.value)}
            for kind in StrategyKind
        ]
        return Response(s.StrategyKindSerializer(data, many=True).data)


@extend_schema_view(list=extend_schema(parameters=[s.StrategyDecisionFilterSerializer]))
class StrategyDecisionViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """The live runtime's decisions, newest first: the strategy manager's reasons (status "noted")
    and the orders it sent (place, cancel, move stop, flatten) with what came of them. Read-only:
    the runtime writes them."""

    serializer_class = s.StrategyDecisionSerializer
    filter_serializer_class = s.StrategyDecisionFilterSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[StrategyDecision]:
        return selectors.strategy_decision_list(tenant=tenant, **self.list_filters())


class BacktestLimitExceeded(APIException):
    """The desk's limit of unfinished backtests (settings.BACKTEST_MAX_QUEUED_PER_TENANT)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "backtest_limit"


class BacktestRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    """Backtests: start one (a worker runs it), follow its progress, read its metrics and trades."""

    serializer_class = s.BacktestRunSerializer
    input_serializer_class = s.BacktestRunCreateSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[BacktestRun]:
        return selectors.backtest_run_list(tenant=tenant)

    def handle_exception(self, exc: Exception) -> Response:
        from strategies.backtests import BacktestInputError, BacktestLimitReached

        if isinstance(exc, BacktestLimitReached):
            exc = BacktestLimitExceeded(str(exc))
        elif isinstance(exc, BacktestInputError):
            exc = ValidationError({"non_field_errors": [str(exc)]})
        return super().handle_exception(_parameter_errors(exc) or exc)

    @extend_schema(
        request=s.BacktestRunCreateSerializer,
        responses={
            201: s.BacktestRunSerializer,
            400: PARAMS_ERROR,
            429: OpenApiResponse(description="The desk's limit of unfinished backtests."),
        },
        summary="Start a backtest (queued; poll it for progress)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> BacktestRun:
        from strategies.backtests import backtest_create

        data = dict(data)
        return backtest_create(tenant=tenant, actor=actor, bars_source=data.pop("bars"), **data)

    @extend_schema(
        request=None,
        responses=OpenApiResponse(description="Trades, equity curve, daily P&L and decisions."),
        summary="The full result of a finished run",
    )
    @action(detail=True, methods=["get"])
    def result(self, request: Request, public_id: str) -> Response:
        run = selectors.backtest_run_get(tenant=self.tenant, run_id=self.get_object().pk)
        return Response({"status": run.status, "result": run.result})


class EvaluationRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantCreateMixin, TenantScopedViewSet
):
    """The Evaluation Lab: will a strategy pass a plan's evaluation, how soon, how close does it
    come to failing. Start one (a worker runs it), follow its progress, read its report."""

    serializer_class = s.EvaluationRunSerializer
    input_serializer_class = s.EvaluationRunCreateSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[EvaluationRun]:
        return selectors.evaluation_run_list(tenant=tenant)

    def handle_exception(self, exc: Exception) -> Response:
        from strategies.backtests import BacktestInputError

        if isinstance(exc, BacktestInputError):
            exc = ValidationError({"non_field_errors": [str(exc)]})
        return super().handle_exception(_parameter_errors(exc) or exc)

    @extend_schema(
        request=s.EvaluationRunCreateSerializer,
        responses={201: s.EvaluationRunSerializer, 400: PARAMS_ERROR},
        summary="Start an evaluation (queued; poll it for progress)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, *, tenant: Tenant, actor: Any, data: dict[str, Any]) -> EvaluationRun:
        from strategies.evaluations import evaluation_create

        data = dict(data)
        return evaluation_create(tenant=tenant, actor=actor, bars_source=data.pop("bars"), **data)

    @extend_schema(
        request=None,
        responses=OpenApiResponse(
            description=(
                "history and monte_carlo: attempts, passed, failed, unfinished, pass_rate with "
                "its 95% Wilson interval, days_to_pass (min, q1, median, q3, max) and its "
                "histogram, failure_reasons, min_headroom_usd (end of day), expected resets and "
                "cost_per_pass_usd (the plan's fee); monte_carlo.fan: percentiles of the profit "
                "and the floor per session; attempts: one row per start day. "
                "express_plan: the Express Funded plan a pass leads to (code, rules with the "
                "scaling plan, sessions traded after the pass, monte_carlo_paths that go on into "
                "it, payout_policy: winning_days, winning_day_usd, consistency_days, "
                "consistency_share, balance_share, cap_usd, source), null when the plan table "
                "has none. history.express and monte_carlo.express: runs, with_payout and "
                "with_payout_share, payouts_per_run, days_to_first_payout, payout_usd and "
                "paid_per_run_usd (min, q1, median, q3, max), mean_paid_per_run_usd, "
                "net_per_pass_usd (less the expected evaluation cost of a pass), payout_paths "
                "and first_payout_paths (winning_days, consistency), failed, "
                "failed_before_payout, failure_reasons, funded_at_end. Each passed attempt "
                "row's express: outcome (failed or funded), sessions, reason, "
                "days_to_first_payout, paid_usd, payouts (date, session, amount_usd, path)."
            )
        ),
        summary="The report of a finished evaluation",
    )
    @action(detail=True, methods=["get"])
    def report(self, request: Request, public_id: str) -> Response:
        run = selectors.evaluation_run_get(tenant=self.tenant, run_id=self.get_object().pk)
        return Response({"status": run.status, "report": run.report})
