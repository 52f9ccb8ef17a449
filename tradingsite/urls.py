from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from analytics import views as analytics_views

admin.site.site_header = "Trading operations console"
admin.site.site_title = "Trading operations"

urlpatterns = [
    path("", analytics_views.dashboard, name="dashboard"),
    path("healthz", analytics_views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
