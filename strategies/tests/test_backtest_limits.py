"""Per-desk backtest limits: a desk over its queued limit is refused clearly (service, API, page) and
nothing is stored; only its running limit of runs is handed to the workers at once, oldest first, and
each finished run hands over the next."""

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world
from strategies.backtests import (
    BacktestLimitReached,
    _finish,
    backtest_claim,
    backtest_execute,
    sweep_create,
)
from strategies.models import BacktestRun, BacktestStatus, BacktestSweep
from strategies.tests.test_backtests import create
from tradingsite.celery import app as celery_app
from web.tests.test_backtest_pages import FORM

FIXTURES = (_fresh_throttles, api, world)
pytestmark = pytest.mark.django_db


@pytest.fixture
def settings_override(settings):
    """pytest-django's `settings` under a name that does not hide Hypothesis' `settings`."""
    return settings


@pytest.fixture
def backtests_queue():
    """The backtests queue of this test run's Redis namespace, emptied before and after."""
    with celery_app.connection_for_write() as conn:
        queue = celery_app.amqp.queues["backtests"].bind(conn.default_channel)
        queue.declare()
        queue.purge()

        def taken() -> list[int]:
            run_ids = []
            while (message := queue.get(no_ack=True)) is not None:
                assert message.headers["task"] == "strategies.backtest_run"
                run_ids.append(message.decode()[1]["run_id"])
            return run_ids

        yield taken
        queue.purge()


def unfinished(tenant) -> int:
    return (
        BacktestRun.objects.for_tenant(tenant)
        .filter(status__in=(BacktestStatus.QUEUED, BacktestStatus.RUNNING))
        .count()
    )


def test_a_desk_over_its_queued_limit_is_refused_and_nothing_is_stored(
    settings, tenant_a, tenant_b
):
    settings.BACKTEST_MAX_QUEUED_PER_TENANT = 3
    for _ in range(3):
        create(tenant_a)
    with pytest.raises(BacktestLimitReached, match=r"3 backtests queued or running .* at most 3"):
        create(tenant_a)
    assert unfinished(tenant_a) == 3
    create(tenant_b)  # another desk's limit is its own
    assert unfinished(tenant_b) == 1


def test_a_sweep_counts_its_cells_against_the_queued_limit(settings, tenant_a):
    settings.BACKTEST_MAX_QUEUED_PER_TENANT = 4
    create(tenant_a)
    create(tenant_a)
    with pytest.raises(BacktestLimitReached, match="these 3 backtests would go over"):
        sweep_create(
            tenant=tenant_a,
            actor=None,
            kind="overnight_range_breakout",
            grid={"buffer_ticks": [1, 2, 3]},
            contract="NQ",
            bars_source="nq_1min_sample_2023-11.csv.gz",
        )
    assert unfinished(tenant_a) == 2
    assert not BacktestSweep.objects.for_tenant(tenant_a).exists()


def test_a_finished_run_frees_its_slot_for_the_queued_limit(settings, tenant_a, backtests_queue):
    settings.BACKTEST_MAX_QUEUED_PER_TENANT = 1
    settings.BACKTEST_MAX_RUNNING_PER_TENANT = 1
    run = create(tenant_a)
    with pytest.raises(BacktestLimitReached):
        create(tenant_a)
    assert backtest_execute(run=run).status == BacktestStatus.SUCCEEDED
    create(tenant_a)
    assert unfinished(tenant_a) == 1


def test_only_the_running_limit_is_handed_to_the_workers_and_each_finish_hands_the_next(
    settings, tenant_a, tenant_b, backtests_queue, django_capture_on_commit_callbacks
):
    settings.BACKTEST_MAX_RUNNING_PER_TENANT = 2
    with django_capture_on_commit_callbacks(execute=True):
        runs = [create(tenant_a) for _ in range(5)]
        other = create(tenant_b)
    oldest_first = [run.pk for run in runs]
    assert sorted(backtests_queue()) == sorted([*oldest_first[:2], other.pk])

    with django_capture_on_commit_callbacks(execute=True):
        first = backtest_execute(run=BacktestRun.objects.for_tenant(tenant_a).get(pk=runs[0].pk))
    assert first.status == BacktestStatus.SUCCEEDED
    assert backtests_queue() == [oldest_first[2]]  # the next oldest, and only it

    handed = BacktestRun.objects.for_tenant(tenant_a).exclude(dispatched_at=None)
    assert sorted(handed.values_list("pk", flat=True)) == oldest_first[:3]


def test_the_api_answers_429_with_the_reason_over_the_limit(api, world: World, settings):
    settings.BACKTEST_MAX_QUEUED_PER_TENANT = unfinished(world.tenant_a)
    before = BacktestRun.objects.for_tenant(world.tenant_a).count()
    response = api(world.tina).post(
        f"{API}/backtests/",
        {"kind": "overnight_range_breakout", "contract": "NQ", "bars": FORM["bars"]},
        format="json",
    )
    assert response.status_code == 429, response.content
    assert "queued or running" in response.json()["detail"]
    assert BacktestRun.objects.for_tenant(world.tenant_a).count() == before


def test_the_page_shows_the_reason_over_the_limit(client, alice, tenant_a, settings):
    settings.BACKTEST_MAX_QUEUED_PER_TENANT = 1
    create(tenant_a)
    client.force_login(alice)
    response = client.post(reverse("backtest_list"), FORM)
    assert response.status_code == 400
    assert "1 backtests queued or running and may have at most 1" in response.content.decode()
    assert unfinished(tenant_a) == 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["create", "finish"]), st.integers(0, 1)), max_size=25
    ),
    limit=st.integers(1, 3),
)
def test_dispatch_keeps_each_desk_at_its_limit_oldest_first(
    steps, limit, settings_override, tenant_a, tenant_b
):
    """Any interleaving of new runs and finished runs on two desks: a desk never has more than its
    limit handed to the workers, never leaves a slot idle while a run waits, and hands runs over in
    the order they were created."""
    settings_override.BACKTEST_MAX_RUNNING_PER_TENANT = limit
    tenants = (tenant_a, tenant_b)
    with transaction.atomic():
        for action, which in steps:
            tenant = tenants[which]
            runs = BacktestRun.objects.for_tenant(tenant)
            if action == "create":
                create(tenant)
            elif handed := runs.filter(status=BacktestStatus.QUEUED).exclude(dispatched_at=None):
                run = handed.order_by("?").first()  # workers finish in any order
                assert backtest_claim(run=run)
                _finish(run, status=BacktestStatus.FAILED, error="finished by the test")
            for desk in tenants:
                unfinished_runs = BacktestRun.objects.for_tenant(desk).filter(
                    status__in=(BacktestStatus.QUEUED, BacktestStatus.RUNNING)
                )
                handed = unfinished_runs.exclude(dispatched_at=None)
                waiting = unfinished_runs.filter(dispatched_at=None)
                assert handed.count() <= limit
                if waiting.exists():
                    assert handed.count() == limit
                    newest_handed = handed.order_by("-created_at", "-pk").first()
                    oldest_waiting = waiting.order_by("created_at", "pk").first()
                    assert (newest_handed.created_at, newest_handed.pk) < (
                        oldest_waiting.created_at,
                        oldest_waiting.pk,
                    )
        transaction.set_rollback(True)  # each example starts from empty desks
