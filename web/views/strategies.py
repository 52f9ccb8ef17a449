"""Strategy control: the list with enable/disable and each strategy's live runtime status, the
parameter editor built from the schema, and the paper-trading switch (moving a strategy to a
simulator or a live account of the desk)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as account_selectors
from strategies import selectors as strategy_selectors
from strategies import services as strategy_services
from strategies.engine.params import ParameterError, schema_for
from strategies.models import StrategyConfig, StrategyRuntime
from web import selectors
from web.forms import StrategyCreateForm, StrategyMoveForm, params_from_form, strategy_params_form
from web.permissions import can_trade, member_required, trader_required


def strategy_or_404(request: HttpRequest, config_id: int) -> StrategyConfig:
    config = strategy_selectors.strategy_config_get(tenant=request.tenant, config_id=config_id)
    if config is None:
        raise Http404("No such strategy.")
    return config


def _create_form(request: HttpRequest, data: object = None) -> StrategyCreateForm:
    return StrategyCreateForm(
        data,
        accounts=account_selectors.trading_account_list(tenant=request.tenant),
        instruments=selectors.instrument_list_active(),
    )


def _runtimes(request: HttpRequest) -> dict[tuple[int, int], StrategyRuntime]:
    """The desk's live runtimes by (account, instrument): a strategy runs in the one that matches."""
    return {
        (runtime.account_id, runtime.instrument_id): runtime
        for runtime in strategy_selectors.strategy_runtime_list(tenant=request.tenant)
    }


def _list_page(request: HttpRequest, form: StrategyCreateForm, status: int = 200) -> HttpResponse:
    configs = strategy_selectors.strategy_config_list(tenant=request.tenant).select_related(
        "account__connection"
    )
    runtimes = _runtimes(request)
    rows = [(config, runtimes.get((config.account_id, config.instrument_id))) for config in configs]
    return render(
        request,
        "web/strategy_list.html",
        {"rows": rows, "can_trade": can_trade(request), "create_form": form},
        status=status,
    )


@member_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, _create_form(request))


@trader_required
@require_POST
def strategy_create(request: HttpRequest) -> HttpResponse:
    form = _create_form(request, request.POST)
    if form.is_valid():
        try:
            config = strategy_services.strategy_config_create(
                tenant=request.tenant, actor=request.user, **form.cleaned_data
            )
        except ParameterError as exc:
            form.add_error(None, "; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(request, f"{config.name} created (disabled). Review its parameters.")
            return redirect("strategy_edit", config_id=config.pk)
    return _list_page(request, form, status=400)


@trader_required
@require_POST
def strategy_toggle(request: HttpRequest, config_id: int) -> HttpResponse:
    config = strategy_or_404(request, config_id)
    enable = request.POST.get("enabled") == "1"
    config = strategy_services.strategy_set_enabled(
        tenant=request.tenant, config=config, is_enabled=enable, actor=request.user
    )
    state = "enabled" if config.is_enabled else "disabled"
    simulated = " (paper trading)" if config.account.is_simulated else " (LIVE account)"
    messages.success(request, f"{config.name} {state}{simulated}.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("strategy_list")


@member_required
@require_http_methods(["GET", "POST"])
def strategy_edit(request: HttpRequest, config_id: int) -> HttpResponse:
    """GET shows the parameters (read-only for viewers); POST saves them through the service."""
    config = strategy_or_404(request, config_id)
    schema = schema_for(config.kind)
    may_edit = can_trade(request)
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("Viewers cannot change strategies.")
        form = strategy_params_form(schema, data=request.POST)
        if form.is_valid():
            try:
                strategy_services.strategy_config_update(
                    tenant=request.tenant,
                    config=config,
                    actor=request.user,
                    params=params_from_form(schema, form),
                )
            except ParameterError as exc:
                for name, message in exc.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Parameters of {config.name} saved.")
                return redirect("strategy_edit", config_id=config.pk)
    else:
        stored = {**{e["name"]: e["default"] for e in schema}, **(config.params or {})}
        form = strategy_params_form(schema, initial=stored)
    if not may_edit:
        for field in form.fields.values():
            field.disabled = True
    others = [
        account
        for account in account_selectors.trading_account_list(tenant=request.tenant)
        if account.is_active and account.pk != config.account_id
    ]
    return render(
        request,
        "web/strategy_edit.html",
        {
            "config": config,
            "form": form,
            "schema": schema,
            "can_trade": may_edit,
            "runtime": strategy_selectors.strategy_runtime_list(tenant=request.tenant)
            .filter(account_id=config.account_id, instrument_id=config.instrument_id)
            .first(),
            "paper_accounts": [a for a in others if a.is_simulated],
            "live_accounts": [a for a in others if not a.is_simulated],
        },
    )


@trader_required
@require_POST
def strategy_move_account(request: HttpRequest, config_id: int) -> HttpResponse:
    """The paper-trading switch: move the strategy to another account of the desk (the service
    refuses while it is enabled or has open orders, and says so)."""
    config = strategy_or_404(request, config_id)
    form = StrategyMoveForm(
        request.POST, accounts=account_selectors.trading_account_list(tenant=request.tenant)
    )
    if not form.is_valid():
        messages.error(request, "Choose one of this desk's accounts to move the strategy to.")
    else:
        try:
            config = strategy_services.strategy_move_account(
                tenant=request.tenant,
                config=config,
                account=form.cleaned_data["account"],
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            where = (
                "a simulated account: paper trading"
                if config.account.is_simulated
                else "a LIVE account: real orders once you enable it"
            )
            messages.success(request, f"{config.name} moved to {config.account.name} ({where}).")
    return redirect(reverse("strategy_edit", args=[config.pk]) + "#paper-trading")
