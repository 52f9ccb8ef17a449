"""Performance over time, win rate and profit factor by strategy, the trade journal and the live
runtime's strategy decisions (the strategy manager's reasons and the orders it sent)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from analytics import services as analytics_services
from execution import selectors as execution_selectors
from strategies import selectors as strategy_selectors
from web import selectors
from web.forms import DecisionFilterForm
from web.permissions import can_trade, member_required, trader_required

JOURNAL_PAGE = 50
DECISIONS_PAGE = 25
PERIODS = {"30": 30, "90": 90, "365": 365, "all": None}


def _cumulative(points: list) -> list[dict[str, str]]:
    running, out = Decimal("0.00"), []
    for session, net in points:
        running += net
        out.append({"time": session.isoformat(), "value": str(running)})
    return out


@member_required
@require_GET
def analytics_index(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    period = request.GET.get("period", "90")
    if period not in PERIODS:
        period = "90"
    days = PERIODS[period]
    since = timezone.now() - timedelta(days=days) if days else None
    daily = selectors.daily_net_by_session(tenant=tenant)
    if since is not None:
        cutoff = selectors.today_session(since)
        daily = [(d, v) for d, v in daily if d >= cutoff]
    cumulative, running = [], Decimal("0.00")
    for session, net in daily:
        running += net
        cumulative.append({"time": session.isoformat(), "value": str(running), "day": str(net)})
    stats = selectors.strategy_stats(tenant=tenant, since=since)
    comparison = [
        {"name": name, "points": _cumulative(points)}
        for name, points in selectors.strategy_daily_net(tenant=tenant, since=since).items()
    ]
    winning_days = sum(1 for _, v in daily if v > 0)
    decision_filter = DecisionFilterForm(
        request.GET,
        strategies=strategy_selectors.strategy_config_list(tenant=tenant),
        accounts=account_selectors.trading_account_list(tenant=tenant),
    )
    decision_filters = decision_filter.filters()
    decisions = strategy_selectors.strategy_decision_list(tenant=tenant, **decision_filters)
    return render(
        request,
        "web/analytics.html",
        {
            "period": period,
            "periods": list(PERIODS),
            "stats": stats,
            "curve": cumulative,
            "days": daily,
            "total_net": running,
            "winning_days": winning_days,
            "max_drawdown": selectors.max_drawdown(daily),
            "comparison": comparison,
            "best_day": max((v for _, v in daily), default=None),
            "worst_day": min((v for _, v in daily), default=None),
            "can_trade": can_trade(request),
            "journal": Paginator(selectors.trade_journal(tenant=tenant), JOURNAL_PAGE).get_page(
                request.GET.get("page")
            ),
            "decision_filter": decision_filter,
            "decisions_filtered": bool(decision_filters),
            "decisions": Paginator(decisions, DECISIONS_PAGE).get_page(
                request.GET.get("decisions_page")
            ),
        },
    )


@trader_required
@require_POST
def journal_note_add(request: HttpRequest, fill_id: int) -> HttpResponse:
    fill = execution_selectors.fill_list(tenant=request.tenant).filter(pk=fill_id).first()
    if fill is None:
        raise Http404("No such fill.")
    try:
        analytics_services.journal_note_add(
            tenant=request.tenant, fill=fill, author=request.user, text=request.POST.get("text", "")
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, "Note added to the journal.")
    page = request.POST.get("page", "")
    return redirect(
        f"{reverse('analytics')}?page={page}#trade-journal"
        if page.isdigit()
        else f"{reverse('analytics')}#trade-journal"
    )
