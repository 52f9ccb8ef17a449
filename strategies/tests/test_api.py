"""Strategy configurations over the API: create, per-field parameter errors, edit, enable/disable, delete,
move to another account (paper/live); and the live runtime's decisions (read-only)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import AuditEntry
from accounts.tests.test_api_support import API, World, _fresh_throttles, api, rows_of, world
from strategies.models import StrategyConfig

FIXTURES = (_fresh_throttles, api, world)  # shared fixtures, imported by name for pytest
pytestmark = pytest.mark.django_db


def _create_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "ORB ES",
        "kind": "overnight_range_breakout",
        "account": str(world.account_a.public_id),
        "instrument": world.order_a.instrument.contract_id,
        **overrides,
    }


def test_trader_creates_a_disabled_strategy_with_validated_params(world: World, api: Any) -> None:
    response = api(world.tina).post(
        f"{API}/strategies/",
        _create_body(world, params={"qty": 2, "stop_atr": "0.3", "flatten_at": "15:45"}),
        format="json",
    )

    body = response.json()
    config = StrategyConfig.all_tenants.get(public_id=body["id"])
    assert response.status_code == 201, body
    assert body["is_enabled"] is False
    assert body["account"] == str(world.account_a.public_id)
    # Stored in the schema's JSON form, defaults filled in.
    assert config.params["qty"] == 2
    assert config.params["stop_atr"] == "0.3"
    assert config.params["flatten_at"] == "15:45"
    assert config.params["range_start"] == "18:00"
    assert config.tenant_id == world.tenant_a.pk
    entry = AuditEntry.all_tenants.filter(tenant=world.tenant_a).order_by("-pk").first()
    assert (entry.action, entry.actor) == ("strategy.create", world.tina)


def test_bad_parameters_come_back_per_field_and_nothing_is_stored(world: World, api: Any) -> None:
    before = rows_of(world.tenant_a)

    response = api(world.alice).post(
        f"{API}/strategies/",
        _create_body(world, params={"qty": 0, "stop_atr": "wide", "colour": "red"}),
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "params": {
            "qty": ["must be at least 1"],
            "stop_atr": ["must be a number"],
            "colour": ["unknown parameter"],
        }
    }
    assert rows_of(world.tenant_a) == before


def test_params_must_be_an_object(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/strategies/", _create_body(world, params=[1, 2]), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"params": ["Must be a JSON object of parameter values."]}


def test_unknown_kind_and_instrument_are_field_errors(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/strategies/",
        _create_body(world, kind="martingale", instrument="CON.F.US.NOPE.Z26"),
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"kind", "instrument"}


def test_duplicate_name_on_the_account_is_a_field_error(world: World, api: Any) -> None:
    response = api(world.alice).post(
        f"{API}/strategies/", _create_body(world, name=world.strategy_a.name), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"name": ["This account already has a strategy so named."]}


def test_update_replaces_params_and_audits_before_and_after(world: World, api: Any) -> None:
    response = api(world.tina).patch(
        f"{API}/strategies/{world.strategy_a.public_id}/",
        {"name": "Renamed", "params": {"qty": 3}},
        format="json",
    )

    world.strategy_a.refresh_from_db()
    assert response.status_code == 200, response.content
    assert (world.strategy_a.name, world.strategy_a.params["qty"]) == ("Renamed", 3)
    entry = AuditEntry.all_tenants.filter(tenant=world.tenant_a).order_by("-pk").first()
    assert entry.action == "strategy.update"
    assert entry.before["name"] != entry.after["name"] == "Renamed"


def test_update_with_bad_params_changes_nothing(world: World, api: Any) -> None:
    before = rows_of(world.tenant_a)

    response = api(world.alice).patch(
        f"{API}/strategies/{world.strategy_a.public_id}/",
        {"params": {"atr_period": 1, "range_end": "25:00"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "params": {
            "atr_period": ["must be at least 2"],
            "range_end": ['must be a clock time "HH:MM"'],
        }
    }
    assert rows_of(world.tenant_a) == before


def test_enable_and_disable_are_audited(world: World, api: Any) -> None:
    client = api(world.tina)

    enabled = client.post(f"{API}/strategies/{world.strategy_a.public_id}/enable/")
    disabled = client.post(f"{API}/strategies/{world.strategy_a.public_id}/disable/")

    assert (enabled.status_code, enabled.json()["is_enabled"]) == (200, True)
    assert (disabled.status_code, disabled.json()["is_enabled"]) == (200, False)
    actions = AuditEntry.all_tenants.filter(tenant=world.tenant_a).values_list("action", flat=True)
    assert list(actions.order_by("pk"))[-2:] == ["strategy.enable", "strategy.disable"]


def test_enabling_a_strategy_with_stale_params_is_refused(world: World, api: Any) -> None:
    StrategyConfig.all_tenants.filter(pk=world.strategy_a.pk).update(params={"qty": 999})

    response = api(world.alice).post(f"{API}/strategies/{world.strategy_a.public_id}/enable/")

    world.strategy_a.refresh_from_db()
    assert response.status_code == 400
    assert response.json() == {"params": {"qty": ["must be at most 50"]}}
    assert world.strategy_a.is_enabled is False


def test_an_enabled_strategy_cannot_be_deleted(world: World, api: Any) -> None:
    client = api(world.alice)
    client.post(f"{API}/strategies/{world.strategy_a.public_id}/enable/")

    refused = client.delete(f"{API}/strategies/{world.strategy_a.public_id}/")
    client.post(f"{API}/strategies/{world.strategy_a.public_id}/disable/")
    deleted = client.delete(f"{API}/strategies/{world.strategy_a.public_id}/")

    assert refused.status_code == 400
    assert refused.json() == {"is_enabled": ["disable the strategy before deleting it"]}
    assert deleted.status_code == 204
    assert not StrategyConfig.all_tenants.filter(pk=world.strategy_a.pk).exists()


def test_kinds_lists_every_kind_with_its_parameter_schema(world: World, api: Any) -> None:
    response = api(world.vera).get(f"{API}/strategies/kinds/")

    kinds = {row["kind"]: row for row in response.json()}
    assert response.status_code == 200
    assert set(kinds) == {"overnight_range_breakout", "mean_reversion", "trend_following"}
    qty = next(p for p in kinds["overnight_range_breakout"]["params"] if p["name"] == "qty")
    assert qty == {
        "name": "qty",
        "type": "int",
        "default": 1,
        "min": 1,
        "max": 50,
        "help": "Contracts per entry.",
    }


def test_strategy_list_query_count_is_flat(
    world: World, api: Any, django_assert_max_num_queries: Any
) -> None:
    from strategies.tests.factories import StrategyConfigFactory

    StrategyConfigFactory.create_batch(10, tenant=world.tenant_a, account=world.account_a)
    client = api(world.vera)

    with django_assert_max_num_queries(4):
        response = client.get(f"{API}/strategies/")

    assert response.json()["count"] == 11


def test_nul_bytes_in_the_instrument_are_a_field_error_not_a_crash(world: World, api: Any) -> None:
    """Found by schemathesis: PostgreSQL refuses NUL in text, so the slug lookup used to 500."""
    response = api(world.alice).post(
        f"{API}/strategies/", _create_body(world, instrument="CON\x00"), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"instrument": ["Must be a plain string."]}


# --- Moving to another account: the paper/live switch ----------------------------------------------
def _move(api: Any, world: World, who: Any, account: Any) -> Any:
    return api(who).post(
        f"{API}/strategies/{world.strategy_a.public_id}/move-account/",
        {"account": str(account.public_id)},
        format="json",
    )


def test_trader_moves_a_strategy_to_a_live_account_and_it_is_audited(
    world: World, api: Any
) -> None:
    response = _move(api, world, world.tina, world.account_a_live)

    world.strategy_a.refresh_from_db()
    assert response.status_code == 200, response.content
    assert response.json()["account"] == str(world.account_a_live.public_id)
    assert world.strategy_a.account_id == world.account_a_live.pk
    entry = AuditEntry.all_tenants.filter(tenant=world.tenant_a).order_by("-pk").first()
    assert (entry.action, entry.actor) == ("strategy.move_account", world.tina)
    assert (entry.before["account"], entry.after["account"]) == (
        world.account_a.pk,
        world.account_a_live.pk,
    )


def test_viewer_cannot_move_a_strategy(world: World, api: Any) -> None:
    before = rows_of(world.tenant_a)

    response = _move(api, world, world.vera, world.account_a_live)

    assert response.status_code == 403
    assert rows_of(world.tenant_a) == before


def test_other_tenant_cannot_move_tenant_as_strategy_onto_its_account(
    world: World, api: Any
) -> None:
    before_a, before_b = rows_of(world.tenant_a), rows_of(world.tenant_b)

    response = _move(api, world, world.bob, world.account_b)

    assert response.status_code == 404
    assert (rows_of(world.tenant_a), rows_of(world.tenant_b)) == (before_a, before_b)


def test_moving_onto_another_tenants_account_is_a_field_error(world: World, api: Any) -> None:
    before_a, before_b = rows_of(world.tenant_a), rows_of(world.tenant_b)

    response = _move(api, world, world.alice, world.account_b)

    assert response.status_code == 400
    assert response.json() == {"account": ["No such object."]}
    assert (rows_of(world.tenant_a), rows_of(world.tenant_b)) == (before_a, before_b)


def test_an_enabled_strategy_must_be_disabled_before_it_moves(world: World, api: Any) -> None:
    client = api(world.alice)
    client.post(f"{API}/strategies/{world.strategy_a.public_id}/enable/")
    before = rows_of(world.tenant_a)

    response = _move(api, world, world.alice, world.account_a_live)

    assert response.status_code == 400
    [message] = response.json()["is_enabled"]
    assert message.startswith(f"Disable {world.strategy_a.name} before moving it")
    assert rows_of(world.tenant_a) == before


def test_a_strategy_with_open_orders_is_not_moved(world: World, api: Any) -> None:
    from execution.models import Order, OrderStatus

    Order.all_tenants.filter(pk=world.order_a.pk).update(
        strategy_config=world.strategy_a, status=OrderStatus.WORKING
    )
    before = rows_of(world.tenant_a)

    response = _move(api, world, world.alice, world.account_a_live)

    assert response.status_code == 400
    assert "1 open order(s) on Account of A" in response.json()["open_orders"][0]
    assert rows_of(world.tenant_a) == before


# --- The live runtime's decisions (read-only) --------------------------------------------------------
def test_decisions_list_newest_first_with_strategy_account_and_outcome(
    world: World, api: Any
) -> None:
    from datetime import timedelta

    from strategies.models import DecisionStatus, StrategyDecision

    placed = StrategyDecision.all_tenants.create(
        tenant=world.tenant_a,
        runtime=world.decision_a.runtime,
        strategy_config=world.strategy_a,
        decided_at=world.decision_a.decided_at + timedelta(minutes=1),
        action="place",
        tag=f"c{world.strategy_a.pk}/2026-11-24#1:buy",
        reason="breakout above the overnight high",
        intent={"type": "PlaceBracket", "qty": 1},
        status=DecisionStatus.DONE,
        outcome="order 7 working",
    )

    response = api(world.vera).get(f"{API}/strategy-decisions/")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2
    newest = body["results"][0]
    assert newest == {
        "strategy": str(world.strategy_a.public_id),
        "strategy_name": world.strategy_a.name,
        "account": str(world.account_a.public_id),
        "instrument": world.decision_a.runtime.instrument.contract_id,
        "decided_at": newest["decided_at"],
        "action": "place",
        "tag": placed.tag,
        "reason": "breakout above the overnight high",
        "intent": {"type": "PlaceBracket", "qty": 1},
        "status": "done",
        "outcome": "order 7 working",
        "created_at": newest["created_at"],
        "updated_at": newest["updated_at"],
    }
    assert body["results"][1]["reason"] == world.decision_a.reason


def test_decisions_filter_by_strategy_account_and_status(world: World, api: Any) -> None:
    client = api(world.alice)

    def count(**params: str) -> int:
        response = client.get(f"{API}/strategy-decisions/", params)
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count(strategy=str(world.strategy_a.public_id)) == 1
    assert count(account=str(world.account_a.public_id)) == 1
    assert count(account=str(world.account_a_live.public_id)) == 0
    assert count(status="noted") == 1
    assert count(status="pending") == 0
    assert count(strategy="00000000-0000-0000-0000-000000000000") == 0


def test_decisions_filters_are_validated(world: World, api: Any) -> None:
    response = api(world.alice).get(
        f"{API}/strategy-decisions/", {"strategy": "nope", "status": "maybe"}
    )

    assert response.status_code == 400
    assert set(response.json()) == {"strategy", "status"}


def test_other_tenant_sees_none_of_tenant_as_decisions(world: World, api: Any) -> None:
    client = api(world.bob)

    everything = client.get(f"{API}/strategy-decisions/").json()
    by_strategy = client.get(
        f"{API}/strategy-decisions/", {"strategy": str(world.strategy_a.public_id)}
    ).json()

    assert (everything["count"], by_strategy["count"]) == (0, 0)


def test_decisions_are_read_only(world: World, api: Any) -> None:
    client = api(world.alice)

    response = client.post(f"{API}/strategy-decisions/", {"reason": "x"}, format="json")

    assert response.status_code == 405


def test_decision_list_query_count_is_flat(
    world: World, api: Any, django_assert_max_num_queries: Any
) -> None:
    from strategies.models import DecisionStatus, StrategyDecision

    StrategyDecision.all_tenants.bulk_create(
        StrategyDecision(
            tenant=world.tenant_a,
            runtime=world.decision_a.runtime,
            strategy_config=world.strategy_a if n % 2 else None,
            decided_at=world.decision_a.decided_at,
            action="note",
            reason=f"note {n}",
            status=DecisionStatus.NOTED,
        )
        for n in range(20)
    )
    client = api(world.vera)

    # token+user, membership, count, page (decisions joined to strategy, account and contract)
    with django_assert_max_num_queries(4):
        response = client.get(f"{API}/strategy-decisions/")

    assert response.json()["count"] == 21
