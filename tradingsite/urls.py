from django.contrib import admin
from django.urls import include, path

from accounts.login_forms import ThrottledAdminAuthenticationForm
from analytics import views as analytics_views

admin.site.site_header = "Trading operations console"
admin.site.site_title = "Trading operations"
admin.site.login_form = ThrottledAdminAuthenticationForm  # the same login throttle as the web login

urlpatterns = [
    path("healthz", analytics_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("chatops.urls")),  # Discord's interactions endpoint and linking
    path("api/", include("tradingsite.api_urls")),  # REST API v1, OpenAPI schema and docs
    path("account/api-tokens/", include("apiauth.urls")),  # the user's API sign-ins
    path("", include("web.urls")),  # the web UI (dashboard, login, settings ...): keep it last
]
