"""The dashboards: every account at a glance, one account in detail, and the account actions.

The account page renders server-side, then a small script (static/web/dashboard.js) listens on the
account's websocket and, on any event or after a reconnect, refetches the live panel (HTML fragment)
and the chart data (JSON): the server stays the one source of truth, so a missed event costs nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors as account_selectors
from accounts.middleware import SESSION_KEY
from accounts.models import BracketMode, Tenant, TradingAccount
from execution import brackets
from execution import selectors as execution_selectors
from execution import services as execution_services
from execution.models import Instrument, OrderRole, OrderSide
from execution.sources import market_source_for
from markets.sessions import globex_session
from web import selectors
from web.forms import ReasonForm
from web.permissions import can_trade, member_required, trader_required
from web.templatetags.web_format import price as format_price

EXCHANGE_ZONE = ZoneInfo(settings.EXCHANGE_TIME_ZONE)
EXIT_ROLES = {OrderRole.STOP_LOSS, OrderRole.TAKE_PROFIT, OrderRole.EXIT}


def account_or_404(request: HttpRequest, account_id: int) -> TradingAccount:
    """The account within the current tenant; another tenant's account is indistinguishable from none."""
    account = account_selectors.trading_account_get(tenant=request.tenant, account_id=account_id)
    if account is None:
        raise Http404("No such account.")
    return account


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Every account of the current desk: the multi-account view (also the landing page)."""
    tenant: Tenant | None = request.tenant  # type: ignore[attr-defined]
    session = selectors.today_session()
    snapshots = selectors.account_snapshots(tenant=tenant, session_date=session) if tenant else []
    totals = {
        "balance": sum((s.balance_usd for s in snapshots), Decimal("0.00")),
        "pnl": sum((s.net_pnl_today_usd for s in snapshots), Decimal("0.00")),
        "locked": sum(1 for s in snapshots if s.is_locked),
    }
    return render(
        request,
        "web/home.html",
        {
            "tenant": tenant,
            "session_date": session,
            "snapshots": snapshots,
            "totals": totals,
            "memberships": account_selectors.membership_list_for_user(user=request.user),
        },
    )


@login_required
@require_POST
def tenant_switch(request: HttpRequest) -> HttpResponse:
    """Choose the current desk among the user's own memberships (never trusted beyond them)."""
    wanted = request.POST.get("tenant", "")
    membership = (
        account_selectors.membership_get(user=request.user, tenant=int(wanted))
        if wanted.isdigit()
        else None
    )
    if membership is None:
        raise Http404("No such desk.")
    request.session[SESSION_KEY] = membership.tenant_id
    return redirect("dashboard")


def _account_context(request: HttpRequest, account: TradingAccount) -> dict[str, Any]:
    tenant = request.tenant  # type: ignore[attr-defined]
    session = selectors.today_session()
    return {
        "account": account,
        "snap": selectors.account_snapshot(tenant=tenant, account=account, session_date=session),
        "positions": execution_selectors.position_list_open(tenant=tenant, account=account),
        "orders": execution_selectors.order_list_open(tenant=tenant, account=account)[:100],
        "strategies": selectors.account_strategies(tenant=tenant, account=account),
        "rules": execution_selectors.account_rules(account=account, session_date=session),
        "can_trade": can_trade(request),
    }


@member_required
@require_GET
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    context = _account_context(request, account)
    instruments = selectors.account_chart_instruments(
        tenant=request.tenant, account=account, session_date=context["snap"].session_date
    )
    context.update(
        instruments=instruments,
        reason_form=ReasonForm(),
        position_brackets=account.bracket_mode == BracketMode.POSITION,
        bracket_how_to=brackets.HOW_TO_SWITCH,
    )
    return render(request, "web/account_detail.html", context)


@member_required
@require_GET
def account_panel(request: HttpRequest, account_id: int) -> HttpResponse:
    """The live part of the account page, refetched by the script after events and reconnects."""
    account = account_or_404(request, account_id)
    return render(request, "web/_account_panel.html", _account_context(request, account))


def _chart_time(at: datetime) -> int:
    """Seconds for the chart's time axis, as New York wall-clock (the chart library shows UTC)."""
    local = at.astimezone(EXCHANGE_ZONE)
    return int(at.timestamp() + local.utcoffset().total_seconds())


@member_required
@require_GET
def account_chart_data(request: HttpRequest, account_id: int) -> JsonResponse:
    """Today's P&L curve, price bars, overnight range and fills. Prices and dollars are strings."""
    tenant = request.tenant  # type: ignore[attr-defined]
    account = account_or_404(request, account_id)
    session = selectors.today_session()
    start, end = globex_session(session)
    fills = list(
        selectors.account_fills_between(tenant=tenant, account=account, start=start, end=end)
    )
    snap = selectors.account_snapshot(tenant=tenant, account=account, session_date=session)
    instruments = selectors.account_chart_instruments(
        tenant=tenant, account=account, session_date=session
    )
    instrument = _chosen_instrument(request, instruments)
    return JsonResponse(
        {
            "session_date": session.isoformat(),
            "pnl": _pnl_points(fills, start=start, snap=snap),
            "price": _price_payload(
                instrument,
                fills,
                source=market_source_for(connection=account.connection).key,
                start=start,
                end=end,
                session=session,
            ),
        }
    )


def _chosen_instrument(request: HttpRequest, instruments: list[Instrument]) -> Instrument | None:
    wanted = request.GET.get("instrument", "")
    for instrument in instruments:
        if str(instrument.pk) == wanted:
            return instrument
    return instruments[0] if instruments else None


def _pnl_points(fills: list, *, start: datetime, snap: selectors.AccountSnapshot) -> list[dict]:
    """Realised P&L net of fees after each fill, then the current net (with open P&L) at now."""
    running = Decimal("0.00")
    points = {_chart_time(start): running}
    for fill in fills:
        running += (fill.realized_pnl_usd or 0) - fill.fees_usd
        points[_chart_time(fill.executed_at)] = running
    if snap.day is not None:  # the ledger row adds open P&L; never plotted before the last fill
        now = max(_chart_time(timezone.now()), max(points) + 60)
        points[now] = snap.net_pnl_today_usd
    return [{"time": t, "value": str(v)} for t, v in sorted(points.items())]


def _price_payload(
    instrument: Instrument | None,
    fills: list,
    *,
    source: str,
    start: datetime,
    end: datetime,
    session,
) -> dict[str, Any] | None:
    if instrument is None:
        return None
    bars = selectors.minute_bars(source=source, instrument=instrument, start=start, end=end)
    overnight = selectors.overnight_range_get(instrument=instrument, session_date=session)
    markers = []
    for fill in fills:
        if fill.instrument_id != instrument.pk:
            continue
        is_buy = fill.side == OrderSide.BUY
        # The broker puts realised P&L only on a closing half-turn; our order role says it too.
        is_exit = fill.realized_pnl_usd is not None or (
            fill.order is not None and fill.order.role in EXIT_ROLES
        )
        minute = fill.executed_at.replace(second=0, microsecond=0)
        markers.append(
            {
                "time": _chart_time(minute),
                "side": "buy" if is_buy else "sell",
                "kind": "exit" if is_exit else "entry",
                "text": f"{'Exit' if is_exit else 'Entry'} {'B' if is_buy else 'S'}{fill.size} @ {format_price(fill.price)}",
            }
        )
    return {
        "instrument": {"id": instrument.pk, "symbol": instrument.symbol, "name": instrument.name},
        "bars": [
            {
                "time": _chart_time(bar.started_at),
                "open": format_price(bar.open_price),
                "high": format_price(bar.high_price),
                "low": format_price(bar.low_price),
                "close": format_price(bar.close_price),
            }
            for bar in bars
        ],
        "overnight_range": None
        if overnight is None
        else {
            "high": format_price(overnight.high_price),
            "low": format_price(overnight.low_price),
            "is_complete": overnight.is_complete,
        },
        "markers": markers,
    }


@trader_required
@require_POST
def account_lock(request: HttpRequest, account_id: int) -> HttpResponse:
    """Kill switch: no new orders today, then flatten (execution.services.account_lock_for_day)."""
    account = account_or_404(request, account_id)
    form = ReasonForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or "locked from the dashboard"
    execution_services.account_lock_for_day(
        tenant=request.tenant, account=account, actor=request.user, reason=reason
    )
    messages.success(request, f"{account.name} is locked for the day; flattening was requested.")
    return redirect("account_detail", account_id=account.pk)


@trader_required
@require_POST
def account_bracket_mode_reset(request: HttpRequest, account_id: int) -> HttpResponse:
    """The trader switched TopstepX to Auto OCO Brackets: entries carry their brackets again."""
    account = account_or_404(request, account_id)
    brackets.bracket_mode_reset(account=account, actor=request.user)
    messages.success(request, f"{account.name}: entries carry their brackets again.")
    return redirect("account_detail", account_id=account.pk)


@trader_required
@require_POST
def account_flatten(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = ReasonForm(request.POST)
    reason = (
        form.cleaned_data["reason"] if form.is_valid() else ""
    ) or "flatten from the dashboard"
    execution_services.account_flatten_request(
        tenant=request.tenant, account=account, actor=request.user, reason=reason
    )
    messages.success(request, f"Flattening {account.name} was requested.")
    return redirect("account_detail", account_id=account.pk)
