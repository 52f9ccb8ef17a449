"""Per-account analytics: P&L by trading date (AccountDay rows and fills) and totals."""

from __future__ import annotations

from dataclasses import asdict

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.api.base import TenantScopedViewSet
from accounts.models import Tenant, TradingAccount
from analytics.api import serializers as s
from execution import selectors as execution_selectors


class AccountAnalyticsViewSet(TenantScopedViewSet):
    """Read-only analytics over one trading account (any member may read)."""

    serializer_class = s.AccountSummarySerializer
    schema_model = TradingAccount

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet[TradingAccount]:
        return account_selectors.trading_account_list(tenant=tenant)

    @extend_schema(
        parameters=[s.SummaryFilterSerializer],
        responses=s.AccountSummarySerializer,
        summary="P&L per trading date and totals (default: the last 30 trading dates)",
    )
    @action(detail=True, methods=["get"])
    def summary(self, request: Request, public_id: str) -> Response:
        account = self.get_object()
        filters = s.SummaryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        days = execution_selectors.account_pnl_by_day(
            tenant=self.tenant, account=account, **filters.validated_data
        )
        data = {
            "account": account.public_id,
            **filters.validated_data,
            "days": days,
            "totals": asdict(execution_selectors.pnl_totals(days)),
        }
        return Response(s.AccountSummarySerializer(data).data)
