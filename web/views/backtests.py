"""Backtests: start one from a form built from the strategy's schema, watch its progress, read the
equity curve, the metrics and the trades. The work runs in a worker (strategies.backtests)."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import AccountPlan
from markets.sessions import CHICAGO
from strategies import selectors as strategy_selectors
from strategies.backtests import BacktestInputError, backtest_create, bars_files
from strategies.engine.params import ParameterError, schema_for
from strategies.models import BacktestRun, StrategyKind
from web.forms import params_from_form, strategy_params_form
from web.permissions import can_trade, member_required


class BacktestStartForm(forms.Form):
    kind = forms.ChoiceField(choices=StrategyKind.choices)
    contract = forms.ChoiceField(
        choices=[(s, s) for s in ("ES", "NQ", "MES", "MNQ", "RTY", "YM", "CL", "GC")]
    )
    bars = forms.ChoiceField(choices=(), help_text="A file of the market-data folder.")
    first_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    plan_code = forms.ChoiceField(choices=(), required=False, label="TopStep rules")
    slippage_ticks = forms.IntegerField(min_value=0, max_value=100, initial=0)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bars"].choices = [(name, name) for name in bars_files()]
        plans = AccountPlan.objects.order_by("code").values_list("code", flat=True)
        self.fields["plan_code"].choices = [("", "none"), *[(code, code) for code in plans]]


def run_or_404(request: HttpRequest, run_id: int) -> BacktestRun:
    run = strategy_selectors.backtest_run_get(tenant=request.tenant, run_id=run_id)
    if run is None:
        raise Http404("No such backtest.")
    return run


@member_required
@require_http_methods(["GET", "POST"])
def backtest_list(request: HttpRequest) -> HttpResponse:
    kind = (
        request.POST.get("kind") or request.GET.get("kind") or StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    )
    kind = kind if kind in StrategyKind.values else StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    schema = schema_for(kind)
    if request.method == "POST":
        if not can_trade(request):
            raise PermissionDenied("Viewers cannot start backtests.")
        form, params_form = (
            BacktestStartForm(request.POST),
            strategy_params_form(schema, data=request.POST),
        )
        if form.is_valid() and params_form.is_valid():
            data = form.cleaned_data
            try:
                run = backtest_create(
                    tenant=request.tenant,
                    actor=request.user,
                    kind=data["kind"],
                    params=params_from_form(schema, params_form),
                    contract=data["contract"],
                    bars_source=data["bars"],
                    first_date=data["first_date"],
                    last_date=data["last_date"],
                    plan_code=data["plan_code"],
                    slippage_ticks=data["slippage_ticks"],
                )
            except ParameterError as exc:
                for name, message in exc.errors.items():
                    params_form.add_error(name if name in params_form.fields else None, message)
            except BacktestInputError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Backtest queued: a worker will run it.")
                return redirect("backtest_detail", run_id=run.pk)
        status = 400
    else:
        defaults = {entry["name"]: entry["default"] for entry in schema}
        form = BacktestStartForm(initial={"kind": kind, "bars": next(iter(bars_files()), None)})
        params_form, status = strategy_params_form(schema, initial=defaults), 200
    runs = strategy_selectors.backtest_run_list(tenant=request.tenant)[:50]
    return render(
        request,
        "web/backtest_list.html",
        {
            "runs": runs,
            "form": form,
            "params_form": params_form,
            "can_trade": can_trade(request),
            "kind": kind,
        },
        status=status,
    )


@member_required
@require_GET
def backtest_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_or_404(request, run_id)
    result = run.result or {}
    curve = equity_points(result.get("equity_curve", []))
    return render(
        request,
        "web/backtest_detail.html",
        {
            "run": run,
            "metrics": run.metrics or {},
            "trades": [exchange_times(t) for t in result.get("trades", [])[:500]],
            "curve": curve,
            "params": parameter_rows(run.kind, run.params),
        },
    )


def exchange_times(trade: dict) -> dict:
    """A trade with its entry and exit in exchange time (CME: Chicago), e.g. "Tue 21 Mar 2023
    08:30 CT" (stored as UTC ISO strings)."""
    out = dict(trade)
    for key in ("entry_at", "exit_at"):
        at = datetime.fromisoformat(trade[key]).astimezone(CHICAGO)
        out[f"{key}_ct"] = f"{at:%a %d %b %Y %H:%M} CT"
    return out


def parameter_rows(kind: str, params: dict) -> list[dict]:
    """The run's parameters in the schema's order, with what each means (unknown ones last)."""
    try:
        schema = schema_for(kind)
    except ParameterError:
        schema = []
    known = {entry["name"] for entry in schema}
    rows = [
        {"name": e["name"], "value": params.get(e["name"], e["default"]), "help": e["help"]}
        for e in schema
    ]
    return rows + [{"name": k, "value": v, "help": ""} for k, v in params.items() if k not in known]


def equity_points(curve: list) -> list[dict]:
    """Chart points: one per distinct second (the chart needs strictly rising times), last wins."""
    points: dict[int, str] = {}
    for point in curve:
        points[int(datetime.fromisoformat(point["at"]).timestamp())] = point["equity_usd"]
    return [{"time": t, "value": v} for t, v in sorted(points.items())]


@member_required
@require_GET
def backtest_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = run_or_404(request, run_id)
    return JsonResponse({"status": run.status, "progress": run.progress_share, "error": run.error})
