from django.contrib import admin

from accounts.admin_scoping import ReadOnlyAdminMixin, SuperuserWritesMixin, TenantScopedAdmin
from execution.models import (
    AccountDay,
    BarCoverage,
    CachedBar,
    DailyStep,
    Fill,
    Instrument,
    Order,
    OvernightRange,
    Position,
)


@admin.register(Instrument)
class InstrumentAdmin(SuperuserWritesMixin, admin.ModelAdmin):
    list_display = (
        "symbol",
        "name",
        "contract_id",
        "tick_size",
        "tick_value_usd",
        "fee_per_side_usd",
        "is_active",
    )
    list_filter = ("is_active", "symbol")
    search_fields = ("symbol", "name", "contract_id")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """Orders come from the order service and the broker; operators act through the account actions."""

    list_display = (
        "created_at",
        "tenant",
        "account",
        "instrument",
        "role",
        "side",
        "order_type",
        "size",
        "limit_price",
        "stop_price",
        "status",
        "filled_size",
        "broker_order_id",
    )
    list_filter = ("status", "role", "order_type", "side", "tenant")
    search_fields = ("custom_tag", "broker_order_id", "account__name")
    list_select_related = ("tenant", "account", "instrument")
    date_hierarchy = "created_at"


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = (
        "executed_at",
        "tenant",
        "account",
        "instrument",
        "side",
        "size",
        "price",
        "fees_usd",
        "realized_pnl_usd",
    )
    list_filter = ("side", "tenant")
    search_fields = ("broker_trade_id", "account__name")
    list_select_related = ("tenant", "account", "instrument")
    date_hierarchy = "executed_at"


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = (
        "account",
        "tenant",
        "instrument",
        "net_size",
        "average_price",
        "unrealized_pnl_usd",
        "updated_at",
    )
    list_filter = ("tenant",)
    search_fields = ("account__name",)
    list_select_related = ("tenant", "account", "instrument")


@admin.register(AccountDay)
class AccountDayAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = (
        "session_date",
        "account",
        "tenant",
        "start_balance_usd",
        "balance_usd",
        "realized_pnl_usd",
        "unrealized_pnl_usd",
        "mll_floor_usd",
        "is_locked",
    )
    list_filter = ("is_locked", "session_date", "tenant")
    search_fields = ("account__name",)
    list_select_related = ("tenant", "account")


@admin.register(OvernightRange)
class OvernightRangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "session_date",
        "instrument",
        "low_price",
        "high_price",
        "bar_count",
        "is_complete",
    )
    list_filter = ("instrument", "is_complete")
    date_hierarchy = "session_date"


@admin.register(CachedBar)
class CachedBarAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("contract_id", "unit", "unit_number", "started_at", "close_price", "volume")
    list_filter = ("contract_id", "unit")
    date_hierarchy = "started_at"


@admin.register(BarCoverage)
class BarCoverageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("contract_id", "unit", "unit_number", "start_at", "end_at")
    list_filter = ("contract_id", "unit")


@admin.register(DailyStep)
class DailyStepAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    """What the trading day did for each account (end-of-day flatten, day roll), once per date."""

    list_display = ("session_date", "account", "tenant", "step", "done_at")
    list_filter = ("step", "session_date", "tenant")
    list_select_related = ("tenant", "account")
