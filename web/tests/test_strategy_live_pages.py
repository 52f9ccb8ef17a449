"""The people's side of the live runtime: its decisions in the journal, each strategy's runtime status
on the Strategies page, and the paper-trading switch (moving a strategy to another account)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import AuditEntry, GatewayEnvironment, TradingAccount
from accounts.tests.factories import TradingAccountFactory
from execution.tests.factories import InstrumentFactory
from strategies.models import DecisionStatus, StrategyConfig, StrategyDecision, StrategyRuntime

pytestmark = [pytest.mark.django_db, pytest.mark.clock_sensitive]

SUMMER = datetime(2026, 7, 1, 13, 30, 5, tzinfo=UTC)  # 09:30:05 in New York (EDT)


def _runtime(desk: Any, **fields: Any) -> StrategyRuntime:
    return StrategyRuntime.all_tenants.create(
        tenant_id=desk.strategy.tenant_id,
        account=desk.strategy.account,
        instrument=desk.instrument,
        **fields,
    )


def _decision(runtime: StrategyRuntime, config: StrategyConfig | None, **fields: Any) -> Any:
    values = {
        "decided_at": SUMMER,
        "action": "note",
        "reason": "range too wide, skipped",
        "status": DecisionStatus.NOTED,
        **fields,
    }
    return StrategyDecision.all_tenants.create(
        tenant_id=runtime.tenant_id, runtime=runtime, strategy_config=config, **values
    )


def _decision_rows(body: str) -> list[str]:
    table = body.split('id="decisions"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr class="decision[^"]*">(.*?)</tr>', table, flags=re.S)


# --- The journal's strategy decisions ----------------------------------------------------------------
def test_journal_shows_the_desks_decisions_in_new_york_time_and_not_another_desks(
    client: Any, alice: Any, desk_a: Any, desk_b: Any
) -> None:
    runtime_a, runtime_b = _runtime(desk_a), _runtime(desk_b)
    cid = desk_a.strategy.pk
    _decision(
        runtime_a,
        desk_a.strategy,
        reason=f"c{cid}: blocked c{cid}/2026-07-01#1: contract held by c7",
        action="blocked",
    )
    _decision(
        runtime_a,
        desk_a.strategy,
        decided_at=SUMMER + timedelta(minutes=1),
        action="place",
        tag=f"c{cid}/2026-07-01#2:buy",
        reason="breakout above the overnight high",
        status=DecisionStatus.FAILED,
        outcome="risk gate: daily loss limit reached",
    )
    _decision(runtime_b, desk_b.strategy, reason="tenant B's own reason")
    client.force_login(alice)

    body = client.get(reverse("analytics")).content.decode()

    rows = _decision_rows(body)
    assert 'id="strategy-decisions"' in body
    assert "Strategy decisions" in body
    assert "tenant B&#x27;s own reason" not in body
    assert desk_b.strategy.name not in body
    assert len(rows) == 2
    newest, oldest = rows
    assert "2026-07-01 09:31:05" in newest  # New York time, newest first
    assert desk_a.strategy.name in newest
    assert ">place<" in newest
    assert f"c{cid}/2026-07-01#2:buy" in newest
    assert "breakout above the overnight high" in newest
    assert "failed" in newest
    assert "risk gate: daily loss limit reached" in newest
    assert "2026-07-01 09:30:05" in oldest
    assert "contract held by c7" in oldest
    assert "noted" in oldest


def test_journal_decisions_filter_by_strategy_and_by_account(
    client: Any, alice: Any, desk_a: Any
) -> None:
    from strategies.tests.factories import StrategyConfigFactory

    runtime = _runtime(desk_a)
    other = StrategyConfigFactory(
        tenant=desk_a.strategy.tenant,
        account=desk_a.strategy.account,
        instrument=desk_a.instrument,
        name="Trend ES",
    )
    _decision(runtime, desk_a.strategy, reason="orb reason")
    _decision(runtime, other, reason="trend reason")
    second = TradingAccountFactory(tenant=desk_a.strategy.tenant, name="Second of A")
    runtime_2 = StrategyRuntime.all_tenants.create(
        tenant=second.tenant, account=second, instrument=desk_a.instrument
    )
    _decision(runtime_2, None, reason="second account reason")
    client.force_login(alice)
    url = reverse("analytics")

    by_strategy = "".join(
        _decision_rows(client.get(url, {"decisions-strategy": other.pk}).content.decode())
    )
    by_account = "".join(
        _decision_rows(client.get(url, {"decisions-account": second.pk}).content.decode())
    )
    everything = "".join(_decision_rows(client.get(url).content.decode()))

    assert ("trend reason" in by_strategy, "orb reason" in by_strategy) == (True, False)
    assert "second account reason" not in by_strategy
    assert ("second account reason" in by_account, "orb reason" in by_account) == (True, False)
    assert all(r in everything for r in ("orb reason", "trend reason", "second account reason"))


def test_another_desks_strategy_in_the_filter_shows_nothing_of_that_desk(
    client: Any, alice: Any, desk_a: Any, desk_b: Any
) -> None:
    _decision(_runtime(desk_a), desk_a.strategy, reason="desk A reason")
    _decision(_runtime(desk_b), desk_b.strategy, reason="desk B reason")
    client.force_login(alice)

    response = client.get(reverse("analytics"), {"decisions-strategy": desk_b.strategy.pk})

    body = response.content.decode()
    assert response.status_code == 200
    assert "desk B reason" not in body
    assert "Select a valid choice" in body  # refused, so nothing is filtered by it


def test_journal_decisions_are_paged_with_a_more_link(client: Any, alice: Any, desk_a: Any) -> None:
    runtime = _runtime(desk_a)
    for minute in range(30):
        _decision(
            runtime,
            desk_a.strategy,
            decided_at=SUMMER + timedelta(minutes=minute),
            reason=f"reason #{minute:02d}",
        )
    client.force_login(alice)

    first = client.get(reverse("analytics")).content.decode()
    second = client.get(reverse("analytics"), {"decisions_page": 2}).content.decode()

    assert len(_decision_rows(first)) == 25
    assert "reason #29" in first
    assert "reason #04" not in first
    assert "decisions_page=2" in first
    assert "More (older)" in first
    assert len(_decision_rows(second)) == 5
    assert "reason #04" in second


# --- The Strategies page's runtime status ------------------------------------------------------------
def test_strategies_page_shows_each_strategys_runtime_status(
    client: Any, alice: Any, desk_a: Any
) -> None:
    from strategies.tests.factories import StrategyConfigFactory

    runtime = _runtime(
        desk_a,
        stepped_at=datetime(2026, 3, 3, 14, 31, tzinfo=UTC),  # 09:31 in New York (EST)
        last_error="GatewayError: 503 from the broker",
    )
    for _ in range(2):
        _decision(runtime, desk_a.strategy, status=DecisionStatus.PENDING, action="place")
    _decision(runtime, desk_a.strategy, status=DecisionStatus.DONE, action="place")
    idle = StrategyConfigFactory(  # same account, another contract: no runtime of its own yet
        tenant=desk_a.strategy.tenant,
        account=desk_a.strategy.account,
        instrument=InstrumentFactory(contract_id="CON.F.US.ENQ.Z26", symbol="NQ"),
        name="Idle NQ",
    )
    client.force_login(alice)

    body = client.get(reverse("strategy_list")).content.decode()

    assert 'id="runtime-notice"' not in body
    assert "is not running yet" not in body
    row = body.split(f'data-strategy-id="{desk_a.strategy.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "last step Mar 3, 09:31 ET" in row
    assert "2 pending" in row
    assert "GatewayError: 503 from the broker" in row
    idle_row = body.split(f'data-strategy-id="{idle.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "not running" in idle_row
    assert "pending" not in idle_row


def test_strategies_page_without_an_error_shows_none(client: Any, alice: Any, desk_a: Any) -> None:
    _runtime(desk_a, stepped_at=datetime(2026, 3, 3, 14, 31, tzinfo=UTC))
    client.force_login(alice)

    body = client.get(reverse("strategy_list")).content.decode()

    row = body.split(f'data-strategy-id="{desk_a.strategy.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "0 pending" in row
    assert "error" not in row


# --- The paper-trading switch ------------------------------------------------------------------------
@pytest.fixture
def live_a(desk_a: Any) -> TradingAccount:
    return TradingAccountFactory(
        tenant=desk_a.strategy.tenant,
        name="Live of A",
        connection__environment=GatewayEnvironment.LIVE,
    )


def _move(client: Any, desk: Any, account: TradingAccount) -> Any:
    return client.post(
        reverse("strategy_move_account", args=[desk.strategy.pk]), {"account": account.pk}
    )


def test_edit_page_has_the_paper_trading_control_with_grouped_accounts(
    client: Any, trader: Any, desk_a: Any, live_a: TradingAccount
) -> None:
    paper_2 = TradingAccountFactory(tenant=desk_a.strategy.tenant, name="Paper two")
    client.force_login(trader)

    body = client.get(reverse("strategy_edit", args=[desk_a.strategy.pk])).content.decode()

    card = body.split('id="paper-trading"', 1)[1]
    assert "<h2>Paper trading</h2>" in card
    assert "a simulated account" in card
    paper = card.split('<optgroup label="Paper (simulator)">', 1)[1].split("</optgroup>", 1)[0]
    live = card.split('<optgroup label="Live">', 1)[1].split("</optgroup>", 1)[0]
    assert f'value="{paper_2.pk}"' in paper
    assert f'value="{live_a.pk}"' in live
    assert f'value="{desk_a.strategy.account_id}"' not in card  # not the account it is on
    assert 'id="move-account-submit"' in card


def test_viewer_sees_the_paper_state_but_no_switch(
    client: Any, viewer: Any, desk_a: Any, live_a: Any
) -> None:
    client.force_login(viewer)

    body = client.get(reverse("strategy_edit", args=[desk_a.strategy.pk])).content.decode()

    assert "<h2>Paper trading</h2>" in body
    assert 'id="move-account-form"' not in body


def test_trader_moves_a_strategy_to_a_live_account(
    client: Any, trader: Any, desk_a: Any, live_a: TradingAccount
) -> None:
    client.force_login(trader)

    response = _move(client, desk_a, live_a)

    desk_a.strategy.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"].endswith("#paper-trading")
    assert desk_a.strategy.account_id == live_a.pk
    entry = AuditEntry.objects.for_tenant(desk_a.strategy.tenant_id).get(
        action="strategy.move_account"
    )
    assert entry.actor == trader
    body = client.get(response["Location"]).content.decode()
    assert "moved to Live of A (a LIVE account" in body
    assert "a real TopStepX account" in body


def test_an_enabled_strategy_is_not_moved_and_the_page_says_why(
    client: Any, trader: Any, desk_a: Any, live_a: TradingAccount
) -> None:
    StrategyConfig.all_tenants.filter(pk=desk_a.strategy.pk).update(is_enabled=True)
    client.force_login(trader)

    response = client.post(
        reverse("strategy_move_account", args=[desk_a.strategy.pk]),
        {"account": live_a.pk},
        follow=True,
    )

    desk_a.strategy.refresh_from_db()
    assert desk_a.strategy.account_id != live_a.pk
    assert f"Disable {desk_a.strategy.name} before moving it" in response.content.decode()
    assert not AuditEntry.objects.for_tenant(live_a.tenant_id).filter(
        action="strategy.move_account"
    )


def test_viewer_cannot_move_a_strategy(client: Any, viewer: Any, desk_a: Any, live_a: Any) -> None:
    client.force_login(viewer)

    response = _move(client, desk_a, live_a)

    desk_a.strategy.refresh_from_db()
    assert response.status_code == 403
    assert desk_a.strategy.account_id != live_a.pk


def test_another_desks_strategy_or_account_cannot_be_used(
    client: Any, alice: Any, desk_a: Any, desk_b: Any
) -> None:
    client.force_login(alice)

    theirs = _move(client, desk_b, desk_a.strategy.account)
    onto_theirs = client.post(
        reverse("strategy_move_account", args=[desk_a.strategy.pk]),
        {"account": desk_b.strategy.account_id},
        follow=True,
    )

    desk_a.strategy.refresh_from_db()
    desk_b.strategy.refresh_from_db()
    assert theirs.status_code == 404
    assert desk_b.strategy.account_id == desk_b.day.account_id
    assert desk_a.strategy.account_id == desk_a.day.account_id
    assert "Choose one of this desk&#x27;s accounts" in onto_theirs.content.decode()
