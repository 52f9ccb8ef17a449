"""The trading day, run by Celery beat; every step is idempotent per account and session date.

- End-of-day flatten: at each account's flat-by time (New York wall clock, constrained before
  TopStep's 16:10 ET deadline), or 5 minutes before an early close, cancel everything working and
  close every position.
- Day roll: after a session's close, the next trading date's row opens from the end-of-day balance
  (the maximum-loss floor trails it and stops at its lock level; a max-loss failure stays), and the
  daily summary goes out.
- Overnight ranges: from 09:30 ET, the 18:00-09:30 high and low of every contract a strategy trades.
- Clean-up of cached bars nobody will ask for again.

Beat only says "every minute"; what is due is computed here in exchange time from the calendar, so
daylight-saving changes, holidays and early closes need no schedule edits.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import TradingAccount
from accounts.services import audit_record, risk_profile_apply_pending
from execution import risk, risk_gate
from execution.broker import gateway_client_for
from execution.gateway.types import BarUnit
from execution.marketdata import NANOS, BarCache
from execution.models import (
    AccountDay,
    BarCoverage,
    CachedBar,
    DailyStep,
    DayStep,
    Instrument,
    OvernightRange,
)
from execution.services import account_flatten_request
from execution.sources import market_source_for
from markets import calendar
from markets.sessions import NEW_YORK, at_et, range_window, trading_date
from notifications.services import notify

logger = logging.getLogger(__name__)
EARLY_CLOSE_BUFFER = timedelta(minutes=5)
CACHED_BARS_KEPT = timedelta(days=120)


def _fleet_accounts():
    """Every active account, across tenants on purpose: the day runs for the whole fleet."""
    return TradingAccount.all_tenants.filter(is_active=True).select_related(
        "risk_profile", "tenant"
    )


def _claim(account: TradingAccount, session_date, step: str) -> bool:
    """Insert the step's row; only the caller that inserts it acts."""
    try:
        with transaction.atomic():
            DailyStep(
                tenant_id=account.tenant_id, account=account, session_date=session_date, step=step
            ).save()
    except IntegrityError:
        return False
    return True


def flatten_deadline(*, account: TradingAccount, session_date) -> datetime | None:
    """When the account must be flat on `session_date`; None when the exchange is closed that day."""
    found = calendar.session(session_date)
    if found is None:
        return None
    deadline = at_et(session_date, account.risk_profile.flat_by_et)
    if found.is_early_close:
        deadline = min(deadline, found.close_at - EARLY_CLOSE_BUFFER)
    return deadline


def day_flatten_due(*, now: datetime | None = None) -> list[TradingAccount]:
    """Flatten every account whose flat-by time has passed today, once (a late run still flattens)."""
    now = now or timezone.now()
    session_date = trading_date(now)
    flattened = []
    for account in _fleet_accounts():
        deadline = flatten_deadline(account=account, session_date=session_date)
        if (
            deadline is None
            or now < deadline
            or not _claim(account, session_date, DayStep.EOD_FLATTEN)
        ):
            continue
        local = deadline.astimezone(NEW_YORK)
        account_flatten_request(
            tenant=account.tenant,
            account=account,
            actor=None,
            reason=f"end of day: flat by {local:%H:%M} ET",
        )
        flattened.append(account)
    return flattened


def _closed_session(now: datetime):
    """The latest trading date whose session has closed by `now`."""
    today = trading_date(now)
    for day in (today, calendar.previous_trading_day(today)):
        found = calendar.session(day)
        if found is not None and found.close_at <= now:
            return day
    return None


def day_close_due(*, now: datetime | None = None) -> list[AccountDay]:
    """Roll every account that traded on the last closed session, once."""
    now = now or timezone.now()
    closed = _closed_session(now)
    if closed is None:
        return []
    opened = []
    days = AccountDay.all_tenants.filter(
        session_date=closed, account__is_active=True
    ).select_related("account__risk_profile", "account__tenant")
    for day in days:
        if _claim(day.account, closed, DayStep.DAY_ROLL):
            opened.append(account_day_roll(day=day, now=now))
    return opened


@transaction.atomic
def account_day_roll(*, day: AccountDay, now: datetime) -> AccountDay:
    """Close `day` at its balance and open the next trading date from it (risk.roll_trading_day);
    loosened limits that waited for the next session apply first."""
    account = day.account
    risk_profile_apply_pending(
        profile=account.risk_profile, session_date=calendar.next_trading_day(day.session_date)
    )
    limits = risk_gate.account_limits(account=account)
    rolled = risk.roll_trading_day(
        limits, risk_gate.risk_state_from_rows(account=account, day=day, now=now), day.balance_usd
    )
    daily_limit = limits.daily_loss_in_force_usd
    daily_floor = None if daily_limit is None else rolled.balance_usd - daily_limit
    values = {
        "start_balance_usd": rolled.start_balance_usd,
        "high_water_usd": rolled.high_water_usd,
        "mll_floor_usd": rolled.mll_floor_usd,
        "daily_loss_floor_usd": daily_floor,
    }
    next_day, created = AccountDay.all_tenants.get_or_create(
        account=account,
        session_date=calendar.next_trading_day(day.session_date),
        defaults={"tenant_id": account.tenant_id, "balance_usd": rolled.balance_usd, **values},
    )
    if not created:  # opened early by an event: the roll is the authority for the floors
        for name, value in values.items():
            setattr(next_day, name, value)
        next_day.save(update_fields=[*values, "updated_at"])
    summary = _summary(day, next_day)
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="trading day",
        action="account.day_roll",
        target=account,
        after={k: str(v) for k, v in summary.items()},
    )
    notify(
        tenant_id=account.tenant_id,
        event="daily_summary",
        account_id=account.pk,
        title=f"{account.name}: {day.session_date:%a %d %b} closed at {day.balance_usd} USD",
        body="Net P&L after fees, and the limits for the next session.",
        fields=summary,
        dedupe_key=f"daily-summary:{account.pk}:{day.session_date.isoformat()}",
    )
    return next_day


def _summary(day: AccountDay, next_day: AccountDay) -> dict[str, object]:
    return {
        "Realised P&L": day.realized_pnl_usd,
        "Fees": day.fees_usd,
        "Net P&L": day.realized_pnl_usd - day.fees_usd,
        "Balance": day.balance_usd,
        "Locked": day.locked_reason or "no",
        "Next session": next_day.session_date.isoformat(),
        "Max-loss floor": next_day.mll_floor_usd,
        "Daily loss floor": next_day.daily_loss_floor_usd
        if next_day.daily_loss_floor_usd is not None
        else "off",
    }


def overnight_ranges_record(*, now: datetime | None = None) -> list[OvernightRange]:
    """From 09:30 ET, the overnight range of each contract an enabled strategy trades (once complete)."""
    from strategies.selectors import fleet_enabled_contracts

    now = now or timezone.now()
    session_date = trading_date(now)
    start, end = range_window(session_date)
    if now < end or calendar.session(session_date) is None:
        return []
    recorded = []
    for connection_id, contract_ids in fleet_enabled_contracts().items():
        for contract_id in contract_ids:
            if OvernightRange.objects.filter(
                instrument__contract_id=contract_id, session_date=session_date, is_complete=True
            ).exists():
                continue
            recorded.append(
                _record_range(connection_id, contract_id, session_date, start, end, now)
            )
    return recorded


def _record_range(
    connection_id: int, contract_id: str, session_date, start, end, now
) -> OvernightRange | None:
    from accounts.models import BrokerConnection

    connection = BrokerConnection.all_tenants.get(
        pk=connection_id
    )  # fleet job; used for its login only
    client = gateway_client_for(connection=connection)
    cache = BarCache(
        fetch=lambda cid, **kw: client.retrieve_bars(cid, **kw),
        source=market_source_for(connection=connection).key,
        scope=f"conn-{connection_id}",
        clock=lambda: now,
    )
    series = cache.read(
        contract_id=contract_id, unit=BarUnit.MINUTE, unit_number=1, start=start, end=end
    )
    if not len(series):
        logger.warning(
            "no overnight bars for %s on %s: nothing recorded", contract_id, session_date
        )
        return None
    row, _ = OvernightRange.objects.update_or_create(
        instrument=Instrument.objects.get(contract_id=contract_id),
        session_date=session_date,
        defaults={
            "window_start_at": start,
            "window_end_at": end,
            "high_price": Decimal(int(series.high.max())) / NANOS,
            "low_price": Decimal(int(series.low.min())) / NANOS,
            "bar_count": len(series),
            # the window has ended and the cache fetched every span it did not know: complete
            "is_complete": True,
        },
    )
    return row


def cached_bars_cleanup(*, now: datetime | None = None) -> int:
    """Drop cached bars (and their coverage) older than the history any strategy or page asks for."""
    cutoff = (now or timezone.now()) - CACHED_BARS_KEPT
    deleted, _ = CachedBar.objects.filter(started_at__lt=cutoff).delete()
    BarCoverage.objects.filter(end_at__lt=cutoff).delete()
    return deleted
