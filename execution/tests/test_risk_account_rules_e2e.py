"""The TopstepX account rules (issue 14, part A) carried out end to end on the simulator: a long
ES position is opened at the broker, marked down (or up and down), and the risk watch does what
the account's rules say: the firm daily loss limit and the personal one with each of its three
actions, the maximum loss limit trailing intraday or end-of-day, the consistency guard stopping a
strategy's entry (with the reason in its journal), micros counted as full contracts and the
Express scaling plan moving only at the day roll."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import AuditEntry
from accounts.tests.factories import plan
from execution import ingest, reconcile, risk, risk_gate, trading
from execution.day import account_day_roll
from execution.models import AccountDay, OrderRole, OrderSide, OrderStatus, Position
from execution.sources import market_source_for
from execution.tests.factories import InstrumentFactory
from execution.tests.simulated import bracket_simulator, simulator_account, tasks_inline
from markets import calendar
from markets.fills import OrderKind, Side
from markets.sessions import NEW_YORK, trading_date
from strategies.engine.intents import PlaceBracket
from strategies.live.outbox import decision_rows, decisions_carry_out
from strategies.models import StrategyDecision, StrategyRuntime
from strategies.tests.factories import StrategyConfigFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]
D = Decimal


def session_now(day=None) -> datetime:
    """10:00 New York on the current trading date (or `day`): entries allowed."""
    day = day or trading_date(datetime.now(UTC))
    return datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=NEW_YORK)


@pytest.fixture
def sim(tmp_path, settings):
    with bracket_simulator(tmp_path, settings) as handle:
        yield handle


def account_on(sim, tenant, *, firm_dll: str | None = None, **profile):
    """A simulator account on the TopstepX Combine 50K (no firm DLL) or, with `firm_dll`, on
    another platform's plan with one; `profile` sets risk-profile fields (personal DLL off)."""
    fields = {"is_daily_loss_enforced": False, "daily_loss_limit_usd": None, **profile}
    chosen = plan() if firm_dll is None else plan("legacy-50k", daily_loss_limit_usd=D(firm_dll))
    return simulator_account(
        sim, tenant, plan=chosen, **{f"risk_profile__{k}": v for k, v in fields.items()}
    )


def submit(account, instrument, *, now=None, **kwargs):
    fields = {"side": OrderSide.BUY, "size": 1, "role": OrderRole.ENTRY, **kwargs}
    return trading.order_submit(
        tenant=account.tenant,
        account=account,
        proposal=trading.OrderProposal(instrument=instrument, **fields),
        now=now or session_now(),
    )


def open_long(sim, account, es) -> None:
    trading.order_send(order=submit(account, es))
    sim.step(1)  # bought 1 at 5000.00
    with tasks_inline():
        reconcile.orders_reconcile(account=account)
    assert held(account, es) == 1


def mark(account, es, price: str) -> risk.RiskAssessment:
    """The hubs' open-P&L update at `price`; a flatten it requests runs inline (a worker)."""
    with tasks_inline():
        return risk_gate.account_marks_record(
            account=account,
            marks={es.contract_id: D(price)},
            source=market_source_for(connection=account.connection).key,
            now=session_now(),
        )


def settle(sim, account) -> None:
    """The broker fills what the flatten sent; the platform takes the broker's truth."""
    sim.step(1)
    with tasks_inline():
        reconcile.orders_reconcile(account=account)


def held(account, es) -> int:
    row = Position.objects.for_tenant(account.tenant).filter(account=account, instrument=es)
    return sum(row.values_list("net_size", flat=True))


def broker_net(sim) -> int:
    engine = sim.server.engine
    positions = sim._sync(lambda: list(engine.positions.values()))
    return sum(p.net for p in positions)


def today(account) -> AccountDay:
    return AccountDay.objects.for_tenant(account.tenant).get(
        session_date=trading_date(session_now())
    )


def audited(account, action: str) -> int:
    return AuditEntry.objects.for_tenant(account.tenant).filter(action=action).count()


# --- daily loss limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "status", "lock", "flattened", "entries_allowed"),
    [
        pytest.param({}, "ok", "", False, True, id="topstepx-default-none"),
        pytest.param(
            {"firm_dll": "100.00"}, "daily_limit", "daily_loss_limit:", True, False, id="firm"
        ),
        pytest.param(
            {"daily_loss_action": "alert"}, "personal_daily_limit", "", False, True, id="alert"
        ),
        pytest.param(
            {"daily_loss_action": "liquidate"},
            "personal_daily_limit",
            "",
            True,
            True,
            id="liquidate",
        ),
        pytest.param(
            {"daily_loss_action": "liquidate_and_block"},
            "personal_daily_limit",
            "personal_daily_loss_limit:",
            True,
            False,
            id="liquidate-and-block",
        ),
    ],
)
def test_a_loss_past_the_daily_limit_does_what_the_account_rules_say(
    sim, tenant_a, rules, status, lock, flattened, entries_allowed
):
    personal = {} if "firm_dll" in rules or not rules else {"daily_loss_limit_usd": D("100.00")}
    account = account_on(sim, tenant_a, **rules, **personal, is_daily_loss_enforced=bool(personal))
    es = ingest.instrument_for_contract(sim.contract_id())
    open_long(sim, account, es)
    assessment = mark(account, es, "4990.00")  # -40 ticks x $12.50 = -$500 open
    assert assessment.status == status
    settle(sim, account)
    assert (broker_net(sim), held(account, es)) == ((0, 0) if flattened else (1, 1))
    assert today(account).locked_reason.startswith(lock) if lock else not today(account).is_locked
    entry = submit(account, es)
    assert (entry.status == OrderStatus.NEW) is entries_allowed
    mark(account, es, "4989.00")  # a later, deeper mark is the same breach: acted on once
    recorded = "account.risk_lock" if lock else "risk.personal_daily_loss"
    assert audited(account, recorded) == (0 if status == "ok" else 1)


def test_liquidate_closes_a_position_opened_again_past_the_limit(sim, tenant_a):
    account = account_on(
        sim,
        tenant_a,
        is_daily_loss_enforced=True,
        daily_loss_limit_usd=D("100.00"),
        daily_loss_action="liquidate",
    )
    es = ingest.instrument_for_contract(sim.contract_id())
    open_long(sim, account, es)
    mark(account, es, "4990.00")
    settle(sim, account)
    assert broker_net(sim) == 0
    open_long(sim, account, es)  # allowed: liquidate does not block
    mark(account, es, "4995.00")  # the day is still past the limit: liquidated again
    settle(sim, account)
    assert (broker_net(sim), held(account, es)) == (0, 0)
    assert audited(account, "account.flatten_requested") >= 2


def test_a_personal_block_lasts_until_the_session_rolls(sim, tenant_a):
    account = account_on(
        sim, tenant_a, is_daily_loss_enforced=True, daily_loss_limit_usd=D("100.00")
    )
    es = ingest.instrument_for_contract(sim.contract_id())
    open_long(sim, account, es)
    mark(account, es, "4990.00")
    settle(sim, account)
    refused = submit(account, es)
    assert refused.rejection_reason.startswith(
        "account_locked: account is locked (personal_daily_loss_limit)"
    )
    next_day = account_day_roll(day=today(account), now=session_now())
    assert next_day.session_date == calendar.next_trading_day(today(account).session_date)
    assert not next_day.is_locked
    assert submit(account, es, now=session_now(next_day.session_date)).status == OrderStatus.NEW


# --- maximum loss limit --------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "fails"), [("intraday", True), ("end_of_day", False)])
def test_an_intraday_trailing_floor_liquidates_and_fails_the_account(sim, tenant_a, mode, fails):
    """MLL $300: +$1,000 open raises an intraday floor to the lock (50,000); giving it back to
    -$12.50 breaches it. End-of-day, the floor stays at 49,700 until the day closes."""
    account = account_on(sim, tenant_a, mll_mode=mode, max_loss_limit_usd=D("300.00"))
    es = ingest.instrument_for_contract(sim.contract_id())
    open_long(sim, account, es)
    assert mark(account, es, "5020.00").status == "ok"
    assessment = mark(account, es, "4999.75")
    assert assessment.status == ("max_loss" if fails else "ok")
    assert assessment.mll_floor_usd == (D("50000.00") if fails else D("49700.00"))
    settle(sim, account)
    assert broker_net(sim) == (0 if fails else 1)
    if fails:  # failed for good: the next trading day refuses entries too
        next_day = account_day_roll(day=today(account), now=session_now())
        later = submit(account, es, now=session_now(next_day.session_date))
        assert later.rejection_reason.startswith("account_locked: account is locked (max_loss")


# --- consistency ---------------------------------------------------------------------------------


def earlier_days(account, *nets: str) -> None:
    """Closed days before today with these net results (the consistency history)."""
    day = trading_date(session_now())
    for net in nets:
        day = calendar.previous_trading_day(day)
        AccountDay.all_tenants.create(
            tenant=account.tenant,
            account=account,
            session_date=day,
            start_balance_usd=D(50_000),
            balance_usd=D(50_000) + D(net),
            realized_pnl_usd=D(net),
            high_water_usd=D(50_000),
            mll_floor_usd=D(48_000),
        )


def test_the_guard_stops_a_strategy_for_the_day_and_its_journal_says_why(sim, tenant_a):
    """Earlier days +800 and +400, today +1,400: today may make up to $1,500 (half the $3,000
    target); a bracket whose take-profit wins $500 would reach it, one winning $50 would not."""
    account = account_on(sim, tenant_a, is_consistency_guarded=True)
    es = ingest.instrument_for_contract(sim.contract_id())
    earlier_days(account, "800", "400")
    day = risk_gate.gate_context(account=account, now=session_now()).day
    day.realized_pnl_usd = D("1400.00")
    day.save()
    config = StrategyConfigFactory(
        tenant=account.tenant, account=account, instrument=es, is_enabled=True
    )
    runtime = StrategyRuntime.all_tenants.create(
        tenant=account.tenant, account=account, instrument=es
    )
    intents = [
        PlaceBracket(
            f"c{config.pk}/d#{n}:buy", Side.BUY, 1, OrderKind.MARKET, None, 8, ticks, f"entry {n}"
        )
        for n, ticks in ((1, 40), (2, 4))
    ]
    for row in decision_rows(runtime, [], intents, session_now(), D("5000.00")):
        row.save()
    decisions_carry_out(runtime=runtime, now=session_now())
    refused, placed = StrategyDecision.objects.for_tenant(account.tenant).order_by("pk")
    assert "rejected: consistency_day_cap: a win of 500.00 on top of today's 1400.00" in (
        refused.outcome
    )
    assert "stopped for the day" in refused.outcome
    assert "rejected" not in placed.outcome
    rules = risk_gate.selectors.account_rules(
        account=account, session_date=trading_date(session_now())
    )
    assert (rules.consistency.day_cap_usd, rules.consistency.remaining_today_usd) == (
        D("1500.0"),
        D("100.00"),
    )


# --- position size -------------------------------------------------------------------------------


def test_micros_count_as_full_contracts_by_default_and_nothing_over_the_cap_is_sent(sim, tenant_a):
    account = account_on(sim, tenant_a)  # TopstepX Combine 50K: 5 contracts, micro_ratio 1
    es = ingest.instrument_for_contract(sim.contract_id())
    mes = InstrumentFactory(
        symbol="MES", contract_id="CON.F.US.MES.Z26", symbol_id="F.US.MES", name="MESZ6"
    )
    open_long(sim, account, es)
    assert submit(account, mes, size=4).status == OrderStatus.NEW  # 1 ES + 4 MES = 5
    over = submit(account, mes, size=1)
    assert over.rejection_reason == (
        "max_contracts: position would reach 6 mini-equivalents (MES +1); the cap is 5"
    )
    assert over.broker_order_id is None


def test_the_express_allowance_moves_only_at_the_day_roll(sim, tenant_a):
    """Express 50K: 2 contracts, 3 above $1,500 of profit, 5 above $2,000, from the start of day."""
    express = plan("express-50k")
    account = simulator_account(
        sim,
        tenant_a,
        plan=express,
        starting_balance_usd=D("0.00"),
        risk_profile__max_contracts=2,
        risk_profile__mll_lock_balance_usd=D("0.00"),
    )
    es = ingest.instrument_for_contract(sim.contract_id())
    day = risk_gate.gate_context(account=account, now=session_now()).day
    day.realized_pnl_usd = day.balance_usd = D("2100.00")  # a winning day, still today
    day.save()
    assert submit(account, es, size=2).status == OrderStatus.NEW
    assert submit(account, es, size=1).rejection_reason.startswith("max_contracts:")
    next_day = account_day_roll(day=today(account), now=session_now())
    tomorrow = session_now(next_day.session_date)
    assert submit(account, es, size=3, now=tomorrow).status == OrderStatus.NEW  # 2 + 3 = 5
