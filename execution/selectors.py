"""Reads of orders, fills, positions and account days; every one starts from for_tenant()."""

from datetime import date

from django.db.models import QuerySet

from accounts.models import Tenant, TradingAccount
from execution.models import OPEN_STATUSES, AccountDay, Fill, Instrument, Order, Position


def instrument_get(*, contract_id: str) -> Instrument | None:
    return Instrument.objects.filter(contract_id=contract_id).first()


def instrument_for_symbol(*, symbol: str) -> Instrument | None:
    return Instrument.objects.filter(symbol=symbol, is_active=True).order_by("-pk").first()


def order_list(*, tenant: Tenant | int, account: TradingAccount | None = None) -> QuerySet[Order]:
    queryset = Order.objects.for_tenant(tenant).select_related("instrument", "account")
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("-created_at")


def order_list_open(*, tenant: Tenant | int, account: TradingAccount) -> QuerySet[Order]:
    return order_list(tenant=tenant, account=account).filter(status__in=OPEN_STATUSES)


def order_get(*, tenant: Tenant | int, order_id: int) -> Order | None:
    return order_list(tenant=tenant).filter(pk=order_id).first()


def fill_list(*, tenant: Tenant | int, account: TradingAccount | None = None) -> QuerySet[Fill]:
    queryset = Fill.objects.for_tenant(tenant).select_related("instrument", "order")
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("-executed_at")


def position_list_open(*, tenant: Tenant | int, account: TradingAccount) -> QuerySet[Position]:
    return (
        Position.objects.for_tenant(tenant)
        .filter(account=account)
        .exclude(net_size=0)
        .select_related("instrument")
    )


def account_day_get(
    *, tenant: Tenant | int, account: TradingAccount, session_date: date
) -> AccountDay | None:
    return (
        AccountDay.objects.for_tenant(tenant)
        .filter(account=account, session_date=session_date)
        .first()
    )
