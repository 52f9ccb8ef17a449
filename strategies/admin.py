from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scoping import TenantScopedAdmin
from strategies import services
from strategies.models import (
    BacktestRun,
    BacktestSweep,
    StrategyConfig,
    StrategyDecision,
    StrategyRuntime,
)


@admin.register(StrategyConfig)
class StrategyConfigAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant", "kind", "account", "instrument", "is_enabled", "updated_at")
    list_filter = ("kind", "is_enabled", "tenant")
    search_fields = ("name", "account__name")
    list_select_related = ("tenant", "account", "instrument")
    raw_id_fields = ("account",)
    actions = ("enable_strategies", "disable_strategies")

    @admin.action(description="Enable selected strategies")
    def enable_strategies(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, is_enabled=True)

    @admin.action(description="Disable selected strategies")
    def disable_strategies(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, is_enabled=False)

    def _set_enabled(self, request: HttpRequest, queryset, *, is_enabled: bool) -> None:
        for config in queryset.select_related("tenant"):
            services.strategy_set_enabled(
                tenant=config.tenant, config=config, is_enabled=is_enabled, actor=request.user
            )
        self.message_user(
            request, f"{'Enabled' if is_enabled else 'Disabled'} {queryset.count()} strategies."
        )


@admin.register(BacktestRun)
class BacktestRunAdmin(TenantScopedAdmin):
    list_display = (
        "created_at",
        "tenant",
        "kind",
        "contract",
        "status",
        "progress_display",
        "net_pnl",
        "survived",
    )
    list_filter = ("status", "kind", "tenant")
    search_fields = ("public_id", "contract", "bars_source")
    readonly_fields = [f.name for f in BacktestRun._meta.fields if f.name not in ("id", "tenant")]
    date_hierarchy = "created_at"

    @admin.display(description="Progress")
    def progress_display(self, obj: BacktestRun) -> str:
        return f"{obj.progress_share:.0%}"

    @admin.display(description="Net P&L")
    def net_pnl(self, obj: BacktestRun) -> str:
        return (obj.metrics or {}).get("net_pnl_usd", "")

    @admin.display(boolean=True)
    def survived(self, obj: BacktestRun) -> bool | None:
        return (obj.metrics or {}).get("survived")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from the command line, the API or the web UI (validated there)


@admin.register(BacktestSweep)
class BacktestSweepAdmin(TenantScopedAdmin):
    list_display = (
        "created_at",
        "tenant",
        "kind",
        "cells_done",
        "cells_total",
        "rank_by",
        "finished_at",
    )
    list_filter = ("kind", "tenant")
    readonly_fields = [f.name for f in BacktestSweep._meta.fields if f.name not in ("id", "tenant")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StrategyRuntime)
class StrategyRuntimeAdmin(TenantScopedAdmin):
    """The live desks: read-only (the runtime owns them); the state blob is never shown."""

    list_display = ("account", "instrument", "tenant", "stepped_at", "bars_through", "last_error")
    list_filter = ("tenant",)
    list_select_related = ("tenant", "account", "instrument")
    fields = ("tenant", "account", "instrument", "stepped_at", "bars_through", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StrategyDecision)
class StrategyDecisionAdmin(TenantScopedAdmin):
    """The live journal: every decision with its reason and outcome; read-only."""

    list_display = ("decided_at", "tenant", "strategy_config", "action", "tag", "status", "reason")
    list_filter = ("status", "action", "tenant")
    search_fields = ("tag", "reason", "outcome")
    list_select_related = ("tenant", "strategy_config")
    readonly_fields = [f.name for f in StrategyDecision._meta.fields if f.name != "id"]
    date_hierarchy = "decided_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
