from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts import paper
from accounts.admin_scoping import (
    ReadOnlyAdminMixin,
    RoleWriteMixin,
    SuperuserOnlyMixin,
    SuperuserWritesMixin,
    TenantScopedAdmin,
    visible_tenant_ids,
)
from accounts.crypto import encrypt_secret
from accounts.models import (
    AccountPlan,
    AuditEntry,
    BrokerConnection,
    GatewayEnvironment,
    Membership,
    NotificationChannel,
    RiskProfile,
    Role,
    Tenant,
    TradingAccount,
)


@admin.register(Tenant)
class TenantAdmin(RoleWriteMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "public_id", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("public_id", "created_at")
    write_roles = (Role.OWNER,)
    tenant_lookup = "pk__in"

    def row_tenant_id(self, obj: Tenant) -> int:
        return obj.pk

    def get_queryset(self, request: HttpRequest):
        tenant_ids = visible_tenant_ids(request)
        queryset = super().get_queryset(request)
        return queryset if tenant_ids is None else queryset.filter(pk__in=tenant_ids)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Only a desk's owners manage its members: a trader must not be able to make itself owner."""

    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "user__email", "tenant__name")
    raw_id_fields = ("user",)
    write_roles = (Role.OWNER,)


class SecretInputForm(forms.ModelForm):
    """A write-only secret: typed once, encrypted, never rendered back (not even masked)."""

    encrypted_field = "api_key_encrypted"
    secret = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored key.",
    )

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("secret"):
            self.add_error("secret", "Required for a new entry.")
        return cleaned

    def save(self, commit: bool = True):
        if self.cleaned_data.get("secret"):
            setattr(
                self.instance, self.encrypted_field, encrypt_secret(self.cleaned_data["secret"])
            )
        return super().save(commit)


class BrokerConnectionForm(SecretInputForm):
    class Meta:
        model = BrokerConnection
        fields = ("tenant", "name", "environment", "username")

    def clean(self):
        cleaned = super().clean()
        tenant, username = cleaned.get("tenant"), cleaned.get("username")
        if cleaned.get("environment") == GatewayEnvironment.SIMULATOR and tenant and username:
            paper.simulator_login_check(tenant=tenant, username=username)  # the API's rule too
        return cleaned


class TradingAccountForm(forms.ModelForm):
    class Meta:
        model = TradingAccount
        fields = (
            "tenant",
            "connection",
            "projectx_account_id",
            "name",
            "plan",
            "starting_balance_usd",
            "is_active",
            "copies_account",
        )

    def clean(self):
        cleaned = super().clean()
        tenant, connection = cleaned.get("tenant"), cleaned.get("connection")
        px_id = cleaned.get("projectx_account_id")
        if tenant and connection and px_id and connection.is_simulated:
            paper.simulator_account_check(tenant=tenant, projectx_account_id=px_id)
        return cleaned


@admin.register(BrokerConnection)
class BrokerConnectionAdmin(TenantScopedAdmin):
    form = BrokerConnectionForm
    list_display = ("name", "tenant", "environment", "username", "last_verified_at")
    list_filter = ("environment", "tenant")
    search_fields = ("name", "username", "tenant__name")
    readonly_fields = ("public_id", "created_at", "last_verified_at")


class RiskProfileInline(RoleWriteMixin, admin.StackedInline):
    model = RiskProfile
    can_delete = False
    exclude = ("tenant",)


@admin.register(TradingAccount)
class TradingAccountAdmin(TenantScopedAdmin):
    form = TradingAccountForm
    list_display = (
        "name",
        "tenant",
        "projectx_account_id",
        "plan",
        "is_simulated_display",
        "is_active",
    )
    list_filter = ("is_active", "plan", "connection__environment", "tenant")
    search_fields = ("name", "projectx_account_id", "tenant__name")
    list_select_related = ("tenant", "plan", "connection")
    readonly_fields = ("public_id", "created_at")
    actions = ("flatten_accounts", "lock_accounts_for_day", "cancel_open_orders")

    @admin.display(boolean=True, description="Simulated")
    def is_simulated_display(self, obj: TradingAccount) -> bool:
        return obj.is_simulated

    @admin.action(description="Flatten: cancel working orders and close positions")
    def flatten_accounts(self, request: HttpRequest, queryset) -> None:
        from execution import services

        for account in queryset:
            services.account_flatten_request(
                tenant=account.tenant,
                account=account,
                actor=request.user,
                reason="operator flatten from admin",
            )
        self.message_user(request, f"Flatten queued for {queryset.count()} account(s).")

    @admin.action(description="Kill switch: lock for the rest of the trading day (and flatten)")
    def lock_accounts_for_day(self, request: HttpRequest, queryset) -> None:
        from execution import services

        for account in queryset:
            services.account_lock_for_day(
                tenant=account.tenant,
                account=account,
                actor=request.user,
                reason="operator kill switch from admin",
            )
        self.message_user(request, f"Locked {queryset.count()} account(s) for the day.")

    @admin.action(description="Cancel all open orders")
    def cancel_open_orders(self, request: HttpRequest, queryset) -> None:
        from execution import services

        for account in queryset:
            services.account_cancel_open_orders_request(
                tenant=account.tenant, account=account, actor=request.user
            )
        self.message_user(request, f"Cancellation queued for {queryset.count()} account(s).")


@admin.register(RiskProfile)
class RiskProfileAdmin(TenantScopedAdmin):
    list_display = (
        "account",
        "tenant",
        "daily_loss_limit_usd",
        "is_daily_loss_enforced",
        "daily_loss_action",
        "max_loss_limit_usd",
        "mll_mode",
        "max_contracts",
        "flat_by_et",
    )
    list_filter = ("mll_mode", "is_daily_loss_enforced", "tenant")
    search_fields = ("account__name",)
    list_select_related = ("tenant", "account")
    raw_id_fields = ("account",)


@admin.register(AccountPlan)
class AccountPlanAdmin(SuperuserWritesMixin, admin.ModelAdmin):  # firm rules are fleet-wide
    list_display = (
        "code",
        "program",
        "size_usd",
        "profit_target_usd",
        "daily_loss_limit_usd",
        "max_loss_limit_usd",
        "mll_mode",
        "max_contracts",
        "micro_ratio",
        "evaluation_fee_usd",
    )
    list_filter = ("program", "mll_mode")


class NotificationChannelForm(SecretInputForm):
    encrypted_field = "url_encrypted"

    class Meta:
        model = NotificationChannel
        fields = ("tenant", "name", "kind", "events", "is_enabled")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["secret"].label = "Webhook URL"


@admin.register(NotificationChannel)
class NotificationChannelAdmin(TenantScopedAdmin):
    form = NotificationChannelForm
    list_display = ("name", "tenant", "kind", "is_enabled")
    list_filter = ("kind", "is_enabled", "tenant")
    search_fields = ("name",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, TenantScopedAdmin):
    list_display = ("at", "tenant", "actor_label", "action", "object_type", "object_id")
    list_filter = ("action", "tenant")
    search_fields = ("actor_label", "action", "object_id")
    date_hierarchy = "at"


def _superusers_only(app_labels: tuple[str, ...]) -> None:
    """Re-register the third-party admins of the fleet's machinery as superuser-only: a staff member
    with Django's user permissions could otherwise make itself superuser, and a beat schedule belongs
    to no one tenant. (API tokens have no admin page: a user lists and revokes their own.)"""
    import django.contrib.auth.admin  # noqa: F401  (registered before we wrap them)
    import django_celery_beat.admin  # noqa: F401

    for model, model_admin in list(admin.site._registry.items()):
        if model._meta.app_label in app_labels and not isinstance(model_admin, SuperuserOnlyMixin):
            wrapped = type(type(model_admin).__name__, (SuperuserOnlyMixin, type(model_admin)), {})
            admin.site.unregister(model)
            admin.site.register(model, wrapped)


_superusers_only(("auth", "django_celery_beat"))
