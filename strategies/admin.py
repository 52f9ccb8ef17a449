from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scoping import TenantScopedAdmin
from strategies import services
from strategies.models import StrategyConfig


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
