from django.contrib import admin
from django.urls import include, path

from analytics import views as analytics_views

admin.site.site_header = "Trading operations console"
admin.site.site_title = "Trading operations"

urlpatterns = [
    path("healthz", analytics_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("chatops.urls")),  # Discord's interactions endpoint and linking
    path("api/", include("tradingsite.api_urls")),  # REST API v1, OpenAPI schema and docs
    path("account/api-tokens/", include("apiauth.urls")),  # the user's API sign-ins
    path("", include("web.urls")),  # the web UI (dashboard, login, settings ...): keep it last
]
