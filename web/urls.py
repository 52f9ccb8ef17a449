"""The web UI's routes. Names are global (no namespace): settings.LOGIN_URL is "login"."""

from django.contrib.auth import views as auth_views
from django.urls import path

from web.views import analytics, auth, backtests, dashboard, desk, evaluations, ops, strategies

urlpatterns = [
    path("", dashboard.home, name="dashboard"),
    path("desk/switch/", dashboard.tenant_switch, name="tenant_switch"),
    path("accounts/<int:account_id>/", dashboard.account_detail, name="account_detail"),
    path("accounts/<int:account_id>/panel/", dashboard.account_panel, name="account_panel"),
    path(
        "accounts/<int:account_id>/chart.json", dashboard.account_chart_data, name="account_chart"
    ),
    path("accounts/<int:account_id>/lock/", dashboard.account_lock, name="account_lock"),
    path("accounts/<int:account_id>/flatten/", dashboard.account_flatten, name="account_flatten"),
    path(
        "accounts/<int:account_id>/brackets/auto-oco/",
        dashboard.account_bracket_mode_reset,
        name="account_bracket_mode_reset",
    ),
    path("accounts/<int:account_id>/risk/", desk.risk_edit, name="risk_edit"),
    path("strategies/", strategies.strategy_list, name="strategy_list"),
    path("strategies/new/", strategies.strategy_create, name="strategy_create"),
    path("strategies/<int:config_id>/", strategies.strategy_edit, name="strategy_edit"),
    path("strategies/<int:config_id>/enabled/", strategies.strategy_toggle, name="strategy_toggle"),
    path(
        "strategies/<int:config_id>/account/",
        strategies.strategy_move_account,
        name="strategy_move_account",
    ),
    path("backtests/", backtests.backtest_list, name="backtest_list"),
    path("backtests/<int:run_id>/", backtests.backtest_detail, name="backtest_detail"),
    path("backtests/<int:run_id>/status.json", backtests.backtest_status, name="backtest_status"),
    path("evaluations/", evaluations.evaluation_list, name="evaluation_list"),
    path("evaluations/<int:run_id>/", evaluations.evaluation_detail, name="evaluation_detail"),
    path(
        "evaluations/<int:run_id>/status.json",
        evaluations.evaluation_status,
        name="evaluation_status",
    ),
    path("analytics/", analytics.analytics_index, name="analytics"),
    path(
        "analytics/journal/<int:fill_id>/notes/",
        analytics.journal_note_add,
        name="journal_note_add",
    ),
    path("settings/", desk.settings_index, name="settings"),
    path("settings/connections/", desk.connection_create, name="connection_create"),
    path(
        "settings/connections/<int:connection_id>/key/",
        desk.connection_set_key,
        name="connection_set_key",
    ),
    path("settings/notifications/", desk.channel_create, name="channel_create"),
    path("settings/members/invite/", desk.member_invite, name="member_invite"),
    path(
        "settings/invitations/<uuid:public_id>/revoke/",
        desk.invitation_revoke,
        name="invitation_revoke",
    ),
    path("settings/audit/", desk.audit_log, name="audit_log"),
    path("ops/health/", ops.health, name="ops_health"),
    # Accounts: Django's views with our templates (templates/registration/).
    path("signup/", auth.signup, name="signup"),
    path("signup/verify/<str:token>/", auth.email_verify, name="email_verify"),
    path("invitations/<str:token>/", auth.invitation_open, name="invitation_open"),
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
