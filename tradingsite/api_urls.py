"""The REST API: `/api/v1/` (versioned resources), `/api/schema/` (OpenAPI 3) and `/api/docs/`.

Included from tradingsite/urls.py under `api/`. Every v1 resource is tenant-scoped through
accounts.api.base.TenantScopedViewSet; pick the tenant with the `X-Tenant` header (its public id).
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from accounts.api import views as accounts_views
from accounts.api.docs import ApiDocsView
from analytics.api import views as analytics_views
from execution.api import views as execution_views
from strategies.api import views as strategies_views

router = DefaultRouter()
router.register("accounts", accounts_views.TradingAccountViewSet, basename="account")
router.register(
    "broker-connections", accounts_views.BrokerConnectionViewSet, basename="broker-connection"
)
router.register("members", accounts_views.MemberViewSet, basename="member")
router.register("invitations", accounts_views.InvitationViewSet, basename="invitation")
router.register("audit-log", accounts_views.AuditEntryViewSet, basename="audit-entry")
router.register("strategies", strategies_views.StrategyConfigViewSet, basename="strategy")
router.register(
    "strategy-decisions", strategies_views.StrategyDecisionViewSet, basename="strategy-decision"
)
router.register("backtests", strategies_views.BacktestRunViewSet, basename="backtest")
router.register("evaluations", strategies_views.EvaluationRunViewSet, basename="evaluation")
router.register("orders", execution_views.OrderViewSet, basename="order")
router.register("fills", execution_views.FillViewSet, basename="fill")
router.register("positions", execution_views.PositionViewSet, basename="position")
router.register("account-days", execution_views.AccountDayViewSet, basename="account-day")
router.register(
    "analytics/accounts", analytics_views.AccountAnalyticsViewSet, basename="account-analytics"
)

v1 = [
    path("auth/", include("apiauth.api_urls")),  # tokens: obtain, refresh, list, revoke
    path("me/", accounts_views.MeView.as_view(), name="me"),
    path(
        "invitations/accept/",
        accounts_views.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    path("", include(router.urls)),
]

app_name = "api"
urlpatterns = [
    path("v1/", include((v1, "v1"))),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", ApiDocsView.as_view(), name="docs"),
]
