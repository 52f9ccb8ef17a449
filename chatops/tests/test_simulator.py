"""/flatten from Discord against the real simulator: a signed command, the confirm button, and the
position is gone at the broker (the flatten task runs inline, as a worker would)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.models import AuditEntry
from chatops.tests.conftest import FakeDiscord
from chatops.tests.test_commands import ask, button_ids
from execution import ingest, reconcile, trading
from execution.models import OrderRole, OrderSide
from execution.tests.simulated import bracket_simulator, simulator_account, tasks_inline
from markets.sessions import NEW_YORK, trading_date

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("trading_sim")]


def session_now() -> datetime:
    """10:00 New York on the current trading date: entries allowed whatever the wall clock."""
    day = trading_date(datetime.now(UTC))
    return datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=NEW_YORK)


def broker_net(sim, account) -> int:
    engine = sim.server.engine
    positions = sim._sync(lambda: dict(engine.positions))
    return sum(p.net for (acc, _), p in positions.items() if acc == account.projectx_account_id)


def test_flatten_from_discord_closes_the_position_at_the_simulator(
    discord: FakeDiscord, receiver, linked_alice, tenant_a, tmp_path, settings
) -> None:
    with bracket_simulator(tmp_path, settings) as sim:
        account = simulator_account(sim, tenant_a, name="Paper 50K")
        es = ingest.instrument_for_contract(sim.contract_id())
        with tasks_inline():
            entry = trading.order_submit(
                tenant=tenant_a,
                account=account,
                proposal=trading.OrderProposal(
                    instrument=es, side=OrderSide.BUY, size=2, role=OrderRole.ENTRY
                ),
                now=session_now(),
            )
            trading.order_send(order=entry)
            sim.step(1)  # long 2 at the next open
            reconcile.orders_reconcile(account=account)
        assert broker_net(sim, account) == 2

        status = ask(discord, receiver, discord.command("111", "status"))
        assert "ES +2 @ 5000.00" in status["embeds"][0]["fields"][0]["value"]
        confirm, _ = button_ids(
            ask(discord, receiver, discord.command("111", "flatten", account="Paper 50K"))
        )
        with tasks_inline():  # the confirm's flatten task runs here when the service commits
            done = ask(discord, receiver, discord.click("111", confirm))
            sim.step(1)  # the closing market order fills
            reconcile.orders_reconcile(account=account)

        assert done["content"].startswith("Flatten of **Paper 50K** requested")
        assert broker_net(sim, account) == 0
        flattened = AuditEntry.objects.for_tenant(tenant_a).get(action="account.flattened")
        assert flattened.after["reason"] == "flatten from Discord"
