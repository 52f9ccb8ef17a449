"""The Evaluation Lab's pages: start an evaluation (a strategy against a plan's evaluation from
every start day, plus Monte Carlo), watch it run, read the pass probability, the days-to-pass
histogram, the failure reasons and the fan of equity against the floor. A worker does the work
(strategies.evaluations); the charts are drawn here as plain SVG."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import AccountPlan
from strategies import selectors as strategy_selectors
from strategies.backtests import BacktestInputError, bars_files
from strategies.engine.params import ParameterError, schema_for
from strategies.evaluations import evaluation_create
from strategies.models import EvaluationRun, StrategyKind
from web.forms import params_from_form, strategy_params_form
from web.permissions import can_trade, member_required
from web.views.backtests import BacktestStartForm

CHART_W, CHART_H = 600, 180


class EvaluationStartForm(forms.Form):
    kind = forms.ChoiceField(choices=StrategyKind.choices)
    contract = BacktestStartForm.base_fields["contract"]
    bars = forms.ChoiceField(choices=(), help_text="A file of the market-data folder.")
    plan_code = forms.ChoiceField(choices=(), label="Plan evaluated")
    start_every = forms.IntegerField(
        min_value=1, max_value=1000, initial=1, label="Start every N sessions"
    )
    paths = forms.IntegerField(
        min_value=0, max_value=100_000, initial=10_000, label="Monte Carlo paths"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bars"].choices = [(name, name) for name in bars_files()]
        plans = AccountPlan.objects.filter(profit_target_usd__isnull=False).order_by("code")
        self.fields["plan_code"].choices = [(p.code, f"{p} ({p.code})") for p in plans]


def run_or_404(request: HttpRequest, run_id: int) -> EvaluationRun:
    run = strategy_selectors.evaluation_run_get(tenant=request.tenant, run_id=run_id)
    if run is None:
        raise Http404("No such evaluation.")
    return run


@member_required
@require_http_methods(["GET", "POST"])
def evaluation_list(request: HttpRequest) -> HttpResponse:
    kind = (
        request.POST.get("kind") or request.GET.get("kind") or StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    )
    kind = kind if kind in StrategyKind.values else StrategyKind.OVERNIGHT_RANGE_BREAKOUT
    schema = schema_for(kind)
    if request.method == "POST":
        if not can_trade(request):
            raise PermissionDenied("Viewers cannot start evaluations.")
        form = EvaluationStartForm(request.POST)
        params_form = strategy_params_form(schema, data=request.POST)
        if form.is_valid() and params_form.is_valid():
            data = form.cleaned_data
            try:
                run = evaluation_create(
                    tenant=request.tenant,
                    actor=request.user,
                    kind=data["kind"],
                    params=params_from_form(schema, params_form),
                    contract=data["contract"],
                    bars_source=data["bars"],
                    plan_code=data["plan_code"],
                    start_every=data["start_every"],
                    paths=data["paths"],
                )
            except ParameterError as exc:
                for name, message in exc.errors.items():
                    params_form.add_error(name if name in params_form.fields else None, message)
            except BacktestInputError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Evaluation queued: a worker will run it.")
                return redirect("evaluation_detail", run_id=run.pk)
        status = 400
    else:
        defaults = {entry["name"]: entry["default"] for entry in schema}
        form = EvaluationStartForm(
            initial={
                "kind": kind,
                "bars": next(iter(bars_files()), None),
                "plan_code": "combine-50k",
            }
        )
        params_form, status = strategy_params_form(schema, initial=defaults), 200
    runs = strategy_selectors.evaluation_run_list(tenant=request.tenant)[:50]
    return render(
        request,
        "web/evaluation_list.html",
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
def evaluation_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_or_404(request, run_id)
    report = run.report or {}
    history = report.get("history") or {}
    mc = report.get("monte_carlo") or {}
    return render(
        request,
        "web/evaluation_detail.html",
        {
            "run": run,
            "report": report,
            "sections": [
                (name, figures, histogram_bars(figures.get("days_to_pass_histogram") or []))
                for name, figures in (
                    (f"History: a start every {run.start_every} session(s)", history),
                    ("Monte Carlo", mc),
                )
                if figures
            ],
            "fan": fan_lines(mc.get("fan") or {}),
            "chart": {"w": CHART_W, "h": CHART_H},
            "empty": [],
        },
    )


@member_required
@require_GET
def evaluation_status(request: HttpRequest, run_id: int) -> JsonResponse:
    run = run_or_404(request, run_id)
    return JsonResponse({"status": run.status, "progress": run.progress_share, "error": run.error})


def histogram_bars(histogram: list) -> list[dict]:
    """Days-to-pass counts as SVG bars (x, width, height in chart units), grouped in 5-day bins."""
    bins: dict[int, int] = {}
    for days, count in histogram:
        bins[(int(days) - 1) // 5] = bins.get((int(days) - 1) // 5, 0) + int(count)
    if not bins:
        return []
    last = max(bins)
    most = max(bins.values())
    width = CHART_W / (last + 1)
    return [
        {
            "x": round(b * width, 1),
            "w": round(max(width - 2, 1), 1),
            "h": round(CHART_H * n / most, 1),
            "y": round(CHART_H - CHART_H * n / most, 1),
            "label": f"{b * 5 + 1}-{b * 5 + 5} days: {n}",
        }
        for b, n in sorted(bins.items())
    ]


def fan_lines(fan: dict) -> dict:
    """The fan's percentile lines and the median floor as SVG polylines, with the value range."""
    series = {k: v for k, v in fan.items() if v}
    if not series:
        return {}
    values = [x for line in series.values() for x in line]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    length = max(len(line) for line in series.values())
    step = CHART_W / max(length - 1, 1)

    def points(line: list[float]) -> str:
        return " ".join(
            f"{i * step:.1f},{CHART_H - (v - low) / span * CHART_H:.1f}" for i, v in enumerate(line)
        )

    styles = {
        "equity_p5": ("5th percentile", "#f85149", 1),
        "equity_p25": ("25th", "#d29922", 1),
        "equity_p50": ("median", "#58a6ff", 2),
        "equity_p75": ("75th", "#3fb950", 1),
        "equity_p95": ("95th", "#3fb950", 1),
        "floor_p50": ("loss-limit floor (median)", "#8b98a5", 2),
    }
    lines = [
        {"name": styles[k][0], "color": styles[k][1], "width": styles[k][2], "points": points(v)}
        for k, v in series.items()
        if k in styles
    ]
    return {"lines": lines, "low": low, "high": high, "sessions": length}
