"""The database side of the risk rules: build an account's `AccountRiskState` from its rows, run the
pure rules of execution/risk.py on it, and act on what they say.

- `gate_context` reads everything the pre-trade check needs in a few queries (today's AccountDay,
  open positions, working entry orders, a permanent max-loss lock from an earlier day); the check
  itself (`risk.check_order`) is then pure and takes microseconds (bench/pretrade_check.py).
- `account_risk_watch` runs after every stored P&L change (fills, balances, positions): a warning
  at the configured share of the tighter daily loss limit (once per trading day), and at a limit:
  lock, cancel everything, flatten, alert. A personal daily loss limit acts as its action says
  (alert once a day; liquidate: flatten whenever exposure comes back; liquidate and block: the
  lock above). It is idempotent: the day row is locked FOR UPDATE, and a
  repeated or concurrent event finds the lock (or the warning) already recorded and does nothing.

Lock reasons are stored in `AccountDay.locked_reason` as "<risk.LockReason value>: <text>", so the
rules can tell a daily lock (lifted by the next trading day) from a max-loss failure (permanent:
every later day reads it back from the failed day's row).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEntry, TradingAccount
from accounts.services import audit_record
from execution import risk, selectors
from execution.models import OPEN_STATUSES, AccountDay, Order, OrderRole, Position
from execution.services import (
    account_day_get_or_open,
    account_flatten_request,
    account_lock_for_day,
)
from execution.sources import market_source_for
from markets import calendar
from markets.sessions import NEW_YORK, globex_session, trading_date
from notifications.services import notify

logger = logging.getLogger(__name__)

# Orders that add exposure if they fill; protective children and exits only reduce it.
EXPOSURE_ROLES = (OrderRole.ENTRY, OrderRole.MANUAL)
WARNING_ACTION = "risk.warning"
PERSONAL_LIMIT_ACTION = "risk.personal_daily_loss"
_LOCK_REASONS = frozenset(reason.value for reason in risk.LockReason)


@dataclass(frozen=True, slots=True)
class GateContext:
    """What the pre-trade check needs about one account, read once."""

    limits: risk.RiskLimits
    state: risk.AccountRiskState
    day: AccountDay
    # the cross-account rules and protections (risk.py's last section)
    siblings: tuple[tuple[str, str, int], ...] = ()
    protection: risk.ProtectionStop | None = None


def account_limits(*, account: TradingAccount) -> risk.RiskLimits:
    """The account's limits; new entries also stop at the account's own end-of-day flatten time
    (New York wall clock, constrained to be before TopStep's 16:10 ET deadline), since an entry
    after it would be open past the flatten."""
    limits = selectors.risk_limits_for_account(account=account)
    return replace(limits, flat_by=account.risk_profile.flat_by_et, flat_by_zone=NEW_YORK)


def lock_reason_of(locked_reason: str) -> str:
    """The `risk.LockReason` of a stored lock text; anything else is a manual kill switch."""
    head = locked_reason.split(":", 1)[0].strip()
    return head if head in _LOCK_REASONS else risk.LockReason.MANUAL


def _session_close_at(now: datetime) -> datetime | None:
    """The session close on an early-close day (holiday half days), else None."""
    try:
        found = calendar.session(trading_date(now))
    except Exception:  # a calendar outside its data range must not block trading
        logger.warning("no exchange calendar for %s; early-close buffer not applied", now)
        return None
    return found.close_at if found is not None and found.is_early_close else None


def risk_state_from_rows(
    *, account: TradingAccount, day: AccountDay, now: datetime
) -> risk.AccountRiskState:
    """The rules' view of the account: balances and P&L from the day row, signed positions and
    the remaining size of working exposure-adding orders, keyed by the broker contract id."""
    positions = dict(
        Position.objects.for_tenant(account.tenant_id)
        .filter(account=account)
        .exclude(net_size=0)
        .values_list("instrument__contract_id", "net_size")
    )
    working: dict[str, tuple[int, int]] = {}
    open_rows = (
        Order.objects.for_tenant(account.tenant_id)
        .filter(account=account, status__in=OPEN_STATUSES, role__in=EXPOSURE_ROLES)
        .values_list("instrument__contract_id", "side", "size", "filled_size")
    )
    for contract_id, side, size, filled in open_rows:
        buys, sells = working.get(contract_id, (0, 0))
        remaining = size - filled
        working[contract_id] = (buys + remaining, sells) if side == 0 else (buys, sells + remaining)
    lock = lock_reason_of(day.locked_reason) if day.is_locked else None
    if lock != risk.LockReason.MAX_LOSS and _has_failed(account, day):
        lock = risk.LockReason.MAX_LOSS
    prior_profit, prior_best = selectors.account_consistency_history(
        tenant=account.tenant_id, account=account, before=day.session_date
    )
    return risk.AccountRiskState(
        balance_usd=day.balance_usd,
        start_balance_usd=day.start_balance_usd,
        high_water_usd=day.high_water_usd,
        mll_floor_usd=day.mll_floor_usd,
        realized_pnl_usd=day.realized_pnl_usd,
        unrealized_pnl_usd=day.unrealized_pnl_usd,
        fees_usd=day.fees_usd,
        lock_reason=lock,
        positions=MappingProxyType(positions),
        working=MappingProxyType(working),
        session_close_at=_session_close_at(now),
        prior_profit_usd=prior_profit,
        prior_best_day_usd=prior_best,
    )


def _has_failed(account: TradingAccount, day: AccountDay) -> bool:
    """A max-loss breach on any earlier day failed the account for good."""
    return (
        AccountDay.objects.for_tenant(account.tenant_id)
        .filter(
            account=account,
            session_date__lt=day.session_date,
            is_locked=True,
            locked_reason__startswith=risk.LockReason.MAX_LOSS.value,
        )
        .exists()
    )


def gate_context(*, account: TradingAccount, now: datetime | None = None) -> GateContext:
    now = now or timezone.now()
    day = account_day_get_or_open(account=account, session_date=trading_date(now))
    state = risk_state_from_rows(account=account, day=day, now=now)
    return GateContext(
        limits=account_limits(account=account),
        state=state,
        day=day,
        siblings=tuple(selectors.sibling_positions(account=account)),
        protection=_protection_stop(account, day, state, now),
    )


def _protection_stop(
    account: TradingAccount, day: AccountDay, state: risk.AccountRiskState, now: datetime
) -> risk.ProtectionStop | None:
    """The protection that stops entries now, if any (the day ends at the session's close)."""
    protections = selectors.protections_for_account(account=account)
    if not protections.any_on:
        return None  # none configured: skip the read
    day_ends_at = globex_session(day.session_date)[1]
    if state.session_close_at is not None:
        day_ends_at = min(day_ends_at, state.session_close_at)
    trades = selectors.closed_trades_for_day(account=account, session_date=day.session_date)
    return risk.protection_stop(protections, trades, state.unrealized_pnl_usd, now, day_ends_at)


def check(
    context: GateContext, proposed: risk.ProposedOrder, *, now: datetime
) -> risk.RiskDecision:
    """The pre-trade verdict on one order (pure; `context` was read once): the account's own
    rules, then, for an entry, the cross-account rules and protections."""
    decision = risk.check_order(context.limits, context.state, proposed, now)
    if decision.is_reducing:
        return decision
    extra = [risk.hedge_violation(proposed, context.siblings)]
    if context.protection is not None:
        extra.append(context.protection.violation())
    found = tuple(v for v in extra if v is not None)
    return replace(decision, violations=decision.violations + found) if found else decision


def reason_text(decision: risk.RiskDecision) -> str:
    """Every failed rule, in the words shown to the user."""
    return " | ".join(f"{v.code.value}: {v.message}" for v in decision.violations)


# --- on every P&L change -------------------------------------------------------------------------


def account_risk_watch(
    *, account: TradingAccount, now: datetime | None = None
) -> risk.RiskAssessment:
    """Assess the account after a P&L change and act once per breach (see the module docstring).

    Returns the assessment. A breach locks today's row with the reason, cancels every working
    order and flattens (account_flatten_request, after commit, on the critical queue), audits and
    alerts, all in the transaction that records the lock.
    """
    now = now or timezone.now()
    limits = account_limits(account=account)
    with transaction.atomic():
        opened = account_day_get_or_open(account=account, session_date=trading_date(now))
        day = AccountDay.all_tenants.select_for_update().get(pk=opened.pk)
        state = risk_state_from_rows(account=account, day=day, now=now)
        marked = risk.mark_equity(limits, state)
        if marked is not state:
            day.high_water_usd, day.mll_floor_usd = marked.high_water_usd, marked.mll_floor_usd
            day.save(update_fields=["high_water_usd", "mll_floor_usd", "updated_at"])
        assessment = risk.assess(limits, marked)
        if assessment.lock_reason is not None:
            _on_breach(account, day, marked, assessment)
        elif assessment.status == risk.RiskStatus.PERSONAL_DAILY_LIMIT:
            _on_personal_limit(account, day, marked, assessment)
        elif assessment.status == risk.RiskStatus.WARNING:
            _on_warning(account, day, assessment)
    return assessment


class ForeignMarks(ValueError):
    """Prices of another source than the account's (a simulator's for a live account, say)."""


def account_marks_record(
    *,
    account: TradingAccount,
    marks: Mapping[str, Decimal],
    source: str,
    now: datetime | None = None,
) -> risk.RiskAssessment:
    """Open P&L from the latest prices (`marks`: broker contract id -> last price of `source`),
    stored on each open position and summed on today's row, then the watch (the MLL counts open
    P&L). Marks of another source than the account's are refused: the simulator uses TopStepX's
    contract ids, and a live account valued at simulated prices would be flattened on a fake loss.

    Positions without a mark keep their last open P&L. Exact: (mark - average) in whole ticks x
    tick value x signed size, to the cent.
    """
    own = market_source_for(connection=account.connection).key
    if source != own:
        raise ForeignMarks(f"account {account.pk} is valued on {own}, not on {source}")
    now = now or timezone.now()
    with transaction.atomic():
        opened = account_day_get_or_open(account=account, session_date=trading_date(now))
        day = AccountDay.all_tenants.select_for_update().get(pk=opened.pk)
        rows = (
            Position.objects.for_tenant(account.tenant_id)
            .select_for_update()
            .filter(account=account)
            .select_related("instrument")
        )
        total = Decimal("0.00")
        for position in rows:
            mark = marks.get(position.instrument.contract_id)
            if position.net_size == 0 or position.average_price is None:
                pnl = Decimal("0.00")
            elif mark is None:
                pnl = position.unrealized_pnl_usd
            else:
                pnl = open_pnl_usd(
                    net_size=position.net_size,
                    average_price=position.average_price,
                    mark=mark,
                    tick_size=position.instrument.tick_size,
                    tick_value_usd=position.instrument.tick_value_usd,
                )
            if pnl != position.unrealized_pnl_usd:
                position.unrealized_pnl_usd = pnl
                position.save(update_fields=["unrealized_pnl_usd", "updated_at"])
            total += pnl
        if total != day.unrealized_pnl_usd:
            day.unrealized_pnl_usd = total
            day.save(update_fields=["unrealized_pnl_usd", "updated_at"])
    return account_risk_watch(account=account, now=now)


def open_pnl_usd(
    *,
    net_size: int,
    average_price: Decimal,
    mark: Decimal,
    tick_size: Decimal,
    tick_value_usd: Decimal,
) -> Decimal:
    """Open P&L of a signed position at `mark`, to the cent (the average may sit between ticks)."""
    ticks = (mark - average_price) / tick_size
    return (ticks * tick_value_usd * net_size).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _fields(assessment: risk.RiskAssessment, day: AccountDay) -> dict[str, object]:
    return {
        "Session": day.session_date.isoformat(),
        "Day P&L": assessment.day_pnl_usd,
        "Daily loss limit": assessment.daily_loss_limit_usd,
        "Equity": assessment.equity_usd,
        "Max-loss floor": assessment.mll_floor_usd,
    }


def _recorded_today(
    account: TradingAccount, day: AccountDay, action: str, assessment: risk.RiskAssessment
) -> bool:
    """Record `action` for the account's trading day once; False if it was already recorded."""
    already = AuditEntry.objects.for_tenant(account.tenant_id).filter(
        action=action,
        object_type="TradingAccount",
        object_id=str(account.pk),
        after__session_date=day.session_date.isoformat(),
    )
    if already.exists():
        return False
    audit_record(
        tenant=account.tenant_id,
        actor=None,
        actor_label="risk",
        action=action,
        target=account,
        after={"session_date": day.session_date.isoformat(), "message": assessment.message},
    )
    return True


def _on_warning(account: TradingAccount, day: AccountDay, assessment: risk.RiskAssessment) -> None:
    if not _recorded_today(account, day, WARNING_ACTION, assessment):
        return
    notify(
        tenant_id=account.tenant_id,
        event="risk",
        title=f"{account.name}: daily loss warning",
        body=assessment.message,
        fields=_fields(assessment, day),
        account_id=account.pk,
        dedupe_key=f"risk-warning:{account.pk}:{day.session_date.isoformat()}",
    )


def _on_personal_limit(
    account: TradingAccount,
    day: AccountDay,
    state: risk.AccountRiskState,
    assessment: risk.RiskAssessment,
) -> None:
    """The personal daily loss limit reached with an action that does not block (the blocking
    one locks through `_on_breach`): alert once a day; LIQUIDATE also cancels and flattens
    whenever the account holds or is working exposure again (entries stay allowed, but each
    new position meets the limit again, as on TopstepX)."""
    if assessment.must_flatten and (any(state.positions.values()) or state.working):
        account_flatten_request(
            tenant=account.tenant,
            account=account,
            actor=None,
            reason=f"personal daily loss limit: {assessment.message}",
        )
    if not _recorded_today(account, day, PERSONAL_LIMIT_ACTION, assessment):
        return
    done = "flattened" if assessment.must_flatten else "alert only, nothing closed"
    notify(
        tenant_id=account.tenant_id,
        event="risk",
        title=f"{account.name}: personal daily loss limit reached ({done})",
        body=assessment.message,
        fields=_fields(assessment, day),
        account_id=account.pk,
        dedupe_key=f"risk-personal:{account.pk}:{day.session_date.isoformat()}",
    )
    logger.warning("account %s: %s", account.pk, assessment.message)


def _on_breach(
    account: TradingAccount,
    day: AccountDay,
    state: risk.AccountRiskState,
    assessment: risk.RiskAssessment,
) -> None:
    """Lock (or upgrade a daily lock to a max-loss one), flatten, audit and alert, exactly once."""
    reason = risk.LockReason(assessment.lock_reason)
    current = state.lock_reason
    if current == reason or current == risk.LockReason.MAX_LOSS:
        return  # this breach (or a worse one) is already handled
    day = account_lock_for_day(
        tenant=account.tenant,
        account=account,
        actor=None,
        actor_label="risk",
        reason=f"{reason.value}: {assessment.message}",
        session_date=day.session_date,
        replaces_reason=True,
        action="account.risk_lock",
    )
    title = {
        risk.LockReason.MAX_LOSS: "max loss limit breached: account failed, flattened",
        risk.LockReason.PERSONAL_DAILY_LOSS: "personal daily loss limit reached: flattened "
        "and blocked for the session",
    }.get(reason, "daily loss limit reached: flattened and locked for the day")
    notify(
        tenant_id=account.tenant_id,
        event="risk",
        title=f"{account.name}: {title}",
        body=assessment.message,
        fields=_fields(assessment, day),
        account_id=account.pk,
        dedupe_key=f"risk-lock:{account.pk}:{day.session_date.isoformat()}:{reason.value}",
    )
    logger.warning("account %s locked (%s): %s", account.pk, reason.value, assessment.message)
