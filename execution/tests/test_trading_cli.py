"""`manage.py trading`: the operators' command line stays inside the named tenant and goes through
the order service's risk checks."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from execution.models import Order, OrderStatus, Position
from execution.tests.factories import InstrumentFactory, OrderFactory

pytestmark = pytest.mark.clock_sensitive  # bin/test-clock-instants: it reads the wall clock


TRADING_HOURS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York


def trading(*args: str) -> str:
    out = StringIO()
    call_command("trading", *args, stdout=out)
    return out.getvalue()


def test_orders_and_positions_list_only_the_named_tenant(account_a, account_b):
    OrderFactory(tenant=account_a.tenant, account=account_a, custom_tag="mine")
    theirs = OrderFactory(tenant=account_b.tenant, account=account_b, custom_tag="theirs")
    Position.all_tenants.create(
        tenant=account_b.tenant, account=account_b, instrument=theirs.instrument, net_size=3
    )
    listing = trading("orders", "--tenant", "desk-a")
    assert "Account of A" in listing
    assert "Account of B" not in listing
    assert "Account of B" not in trading("positions", "--tenant", "desk-a")


def test_an_account_of_another_tenant_is_refused(account_a, account_b):
    with pytest.raises(CommandError, match="no trading account"):
        trading("orders", "--tenant", "desk-a", "--account", str(account_b.pk))


def place(account, *options: str, contract: str = "CON.F.US.EP.Z26") -> str:
    return trading(
        "place",
        "--tenant",
        "desk-a",
        "--account",
        str(account.pk),
        "--contract",
        contract,
        *options,
    )


@time_machine.travel(TRADING_HOURS, tick=True)
def test_manual_order_is_stored_and_queued(account_a, alice, django_capture_on_commit_callbacks):
    InstrumentFactory()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        out = place(account_a, "--side", "buy", "--size", "1", "--as", "alice")
    order = Order.objects.for_tenant(account_a.tenant).get()
    assert order.status == OrderStatus.NEW
    assert str(order.public_id) in out
    assert len(queued) == 1  # the send task, after commit
    submitted = AuditEntry.objects.for_tenant(account_a.tenant).get(action="order.submitted")
    assert submitted.actor == alice


@time_machine.travel(TRADING_HOURS, tick=True)
def test_manual_order_over_the_limit_is_refused_with_its_reason(account_a):
    InstrumentFactory()
    with pytest.raises(CommandError, match=r"refused: .*contracts"):
        place(account_a, "--side", "sell", "--size", "50")
    assert Order.objects.for_tenant(account_a.tenant).get().status == OrderStatus.REJECTED


def test_bad_order_arguments_are_explained(account_a):
    InstrumentFactory()
    with pytest.raises(CommandError, match="needs --price"):
        place(account_a, "--side", "buy", "--size", "1", "--type", "limit")
    with pytest.raises(CommandError, match="unknown contract"):
        place(account_a, "--side", "buy", "--size", "1", contract="X")
    assert not Order.objects.for_tenant(account_a.tenant).exists()


def test_flatten_is_queued_and_audited(account_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        trading("flatten", "--tenant", "desk-a", "--reason", "end of drill")
    assert len(queued) == 1
    assert (
        AuditEntry.objects.for_tenant(account_a.tenant)
        .filter(action="account.flatten_requested")
        .exists()
    )


def test_metrics_prints_a_table(db):
    assert trading("metrics").splitlines()[0].split()[:3] == ["endpoint", "calls", "today"]


def test_unknown_tenant_is_refused(db):
    with pytest.raises(CommandError, match="no tenant"):
        trading("positions", "--tenant", "nobody")


def test_decisions_list_the_named_tenants_journal_with_reasons(account_a, account_b):
    from strategies.models import DecisionStatus, StrategyDecision, StrategyRuntime

    instrument = InstrumentFactory()
    for account, reason in ((account_a, "range too wide, skipped"), (account_b, "B's secret")):
        runtime = StrategyRuntime.all_tenants.create(
            tenant=account.tenant, account=account, instrument=instrument
        )
        StrategyDecision.all_tenants.create(
            tenant=account.tenant,
            runtime=runtime,
            decided_at=TRADING_HOURS,
            action="note",
            reason=reason,
            status=DecisionStatus.NOTED,
        )
    listing = trading("decisions", "--tenant", "desk-a")
    assert "range too wide, skipped" in listing
    assert "B's secret" not in listing
    assert "range too wide" not in trading("decisions", "--tenant", "desk-a", "--pending")
