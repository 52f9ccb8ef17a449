"""Migration 0005: cached bars from before sources existed are dropped, not credited to the live
gateway (they may be simulated bars under a live contract id); the cache then refetches per source."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def graph():
    """This migration (found by name: the lead may renumber it) and its parent; afterwards the
    database is migrated to every leaf again, for the tests that follow."""
    executor = MigrationExecutor(connection)
    (node,) = [
        key
        for key in executor.loader.graph.nodes
        if key[0] == "execution" and key[1].endswith("_market_data_source")
    ]
    parents = [p for p in executor.loader.graph.node_map[node].parents if p.key[0] == "execution"]
    yield [parents[0].key], [node]
    migrate(executor.loader.graph.leaf_nodes())


def test_unattributed_bars_and_coverage_are_dropped(graph):
    before, after = graph
    old = migrate(before)
    at = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
    price = Decimal("4000.00")  # could be a simulator's print under TopStepX's contract id
    old.get_model("execution", "CachedBar").objects.create(
        contract_id="CON.F.US.EP.H25", unit=2, unit_number=1, started_at=at,
        open_price=price, high_price=price, low_price=price, close_price=price, volume=1,
    )  # fmt: skip
    old.get_model("execution", "BarCoverage").objects.create(
        contract_id="CON.F.US.EP.H25", unit=2, unit_number=1, start_at=at,
        end_at=at.replace(minute=31),
    )  # fmt: skip

    new = migrate(after)

    assert not new.get_model("execution", "CachedBar").objects.exists()
    assert not new.get_model("execution", "BarCoverage").objects.exists()
    field = new.get_model("execution", "CachedBar")._meta.get_field("source")
    assert (field.max_length, field.has_default()) == (24, False)
