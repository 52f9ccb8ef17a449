"""Read-only lists of orders, fills, positions and account days, filtered and paginated.

Orders are written by the strategy engine and the broker sync (execution.services), never through
the API; traders act on accounts (flatten, lock) and strategies instead.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins

from accounts.api.base import TenantScopedViewSet
from accounts.models import Tenant
from execution import selectors
from execution.api import serializers as s


@extend_schema_view(list=extend_schema(parameters=[s.OrderFilterSerializer]))
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    serializer_class = s.OrderSerializer
    filter_serializer_class = s.OrderFilterSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.order_list_filtered(tenant=tenant, **self.list_filters())


@extend_schema_view(list=extend_schema(parameters=[s.FillFilterSerializer]))
class FillViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    serializer_class = s.FillSerializer
    filter_serializer_class = s.FillFilterSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.fill_list_filtered(tenant=tenant, **self.list_filters())


@extend_schema_view(list=extend_schema(parameters=[s.PositionFilterSerializer]))
class PositionViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    serializer_class = s.PositionSerializer
    filter_serializer_class = s.PositionFilterSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.position_list_filtered(tenant=tenant, **self.list_filters())


@extend_schema_view(list=extend_schema(parameters=[s.AccountDayFilterSerializer]))
class AccountDayViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """Each account's state per trading date: balances, P&L, loss floors and the day lock."""

    serializer_class = s.AccountDaySerializer
    filter_serializer_class = s.AccountDayFilterSerializer

    def scoped_queryset(self, *, tenant: Tenant) -> QuerySet:
        return selectors.account_day_list_filtered(tenant=tenant, **self.list_filters())
