"""Desk settings: broker logins and API keys, trading accounts, risk limits, notifications, members.

Members see everything here except secrets (API keys and webhook URLs are write-only: no page ever
decrypts one); only the owner may change anything.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import invitations
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.links import invitation_link_for
from accounts.models import BrokerConnection
from web import selectors
from web.forms import (
    ApiKeyForm,
    BrokerConnectionForm,
    InviteForm,
    NotificationChannelForm,
    RiskProfileForm,
)
from web.permissions import is_owner, member_required, owner_required
from web.views.dashboard import account_or_404


def _settings_context(request: HttpRequest, **forms: object) -> dict[str, object]:
    tenant = request.tenant  # type: ignore[attr-defined]
    context: dict[str, object] = {
        "connections": account_selectors.broker_connection_list(tenant=tenant),
        "accounts": account_selectors.trading_account_list(tenant=tenant),
        "channels": account_selectors.notification_channel_list(tenant=tenant),
        "members": selectors.member_list(tenant=tenant),
        "invitations": account_selectors.invitation_list_pending(tenant=tenant)
        if is_owner(request)
        else [],
        "is_owner": is_owner(request),
        "connection_form": BrokerConnectionForm(),
        "channel_form": NotificationChannelForm(),
        "invite_form": InviteForm(),
        "key_form": ApiKeyForm(),
    }
    context.update(forms)
    return context


@member_required
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    return render(request, "web/settings.html", _settings_context(request))


def _invalid(request: HttpRequest, **forms: object) -> HttpResponse:
    return render(request, "web/settings.html", _settings_context(request, **forms), status=400)


@owner_required
@require_POST
def connection_create(request: HttpRequest) -> HttpResponse:
    form = BrokerConnectionForm(request.POST)
    if form.is_valid():
        try:
            account_services.broker_connection_create(
                tenant=request.tenant, actor=request.user, **form.cleaned_data
            )
        except (ValidationError, IntegrityError) as exc:
            form.add_error(None, _message(exc, "that ProjectX login already exists on this desk"))
        else:
            messages.success(request, f"Broker login {form.cleaned_data['name']} added.")
            return redirect("settings")
    return _invalid(request, connection_form=form)


def _connection_or_404(request: HttpRequest, connection_id: int) -> BrokerConnection:
    connection = (
        account_selectors.broker_connection_list(tenant=request.tenant)
        .filter(pk=connection_id)
        .first()
    )
    if connection is None:
        raise Http404("No such broker login.")
    return connection


@owner_required
@require_POST
def connection_set_key(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = _connection_or_404(request, connection_id)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _invalid(request, key_form=form)
    account_services.broker_connection_set_api_key(
        tenant=request.tenant,
        connection=connection,
        api_key=form.cleaned_data["api_key"],
        actor=request.user,
    )
    messages.success(request, f"API key of {connection.name} replaced.")
    return redirect("settings")


@owner_required
@require_POST
def channel_create(request: HttpRequest) -> HttpResponse:
    form = NotificationChannelForm(request.POST)
    if not form.is_valid():
        return _invalid(request, channel_form=form)
    account_services.notification_channel_create(
        tenant=request.tenant,
        actor=request.user,
        name=form.cleaned_data["name"],
        url=form.cleaned_data["url"],
        events=list(form.cleaned_data["events"]),
    )
    messages.success(request, f"Notification channel {form.cleaned_data['name']} added.")
    return redirect("settings")


@owner_required
@require_POST
def member_invite(request: HttpRequest) -> HttpResponse:
    """Email an invitation link; whoever has the address joins only by accepting it."""
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, invite_form=form)
    try:
        invitations.invitation_create(
            tenant=request.tenant,
            actor=request.user,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            link_for=invitation_link_for(request),
        )
    except ValidationError as exc:
        _add_errors(form, exc)
        return _invalid(request, invite_form=form)
    messages.success(request, f"An invitation was sent to {form.cleaned_data['email']}.")
    return redirect("settings")


@owner_required
@require_POST
def invitation_revoke(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    invitation = account_selectors.invitation_get(tenant=request.tenant, public_id=public_id)
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        invitations.invitation_revoke(
            tenant=request.tenant, invitation=invitation, actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return redirect("settings")


AUDIT_PAGE = 50


@owner_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who did what on the desk (append-only audit entries, secrets never recorded)."""
    entries = account_selectors.audit_entry_list(tenant=request.tenant)
    page = Paginator(entries, AUDIT_PAGE).get_page(request.GET.get("page"))
    return render(request, "web/audit.html", {"page": page})


@member_required
@require_http_methods(["GET", "POST"])
def risk_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    """Risk limits of one account: everyone sees them, only the owner changes them."""
    account = account_or_404(request, account_id)
    profile = account.risk_profile
    owner = is_owner(request)
    status = 200
    if request.method == "POST":
        if not owner:
            raise PermissionDenied("Only the desk's owner can change risk limits.")
        form = RiskProfileForm(request.POST, instance=_fresh(profile))
        if form.is_valid():
            try:
                account_services.risk_profile_update(
                    tenant=request.tenant,
                    profile=profile,
                    actor=request.user,
                    **{name: form.cleaned_data[name] for name in form.Meta.fields},
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                waiting = ", ".join(profile.pending_changes)
                messages.success(
                    request,
                    f"Risk limits of {account.name} saved."
                    + (
                        f" Loosened while the session is open, waiting: {waiting}."
                        if waiting
                        else ""
                    ),
                )
                return redirect("risk_edit", account_id=account.pk)
        status = 400
    else:
        form = RiskProfileForm(instance=profile)
    if not owner:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "web/risk_edit.html",
        {"account": account, "form": form, "is_owner": owner},
        status=status,
    )


def _fresh(profile):
    """A copy for the form to validate into, so a refused edit never touches the service's row."""
    return type(profile).all_tenants.get(pk=profile.pk)


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _message(exc: Exception, fallback: str) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return fallback
