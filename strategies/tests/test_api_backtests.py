"""Backtests through the API: start one, follow it to its result; bad inputs answered per field."""

import pytest

from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world
from strategies.models import BacktestRun, BacktestStatus
from strategies.tasks import backtest_run_task

FIXTURES = (_fresh_throttles, api, world)
NQ = "nq_1min_sample_2023-11.csv.gz"
pytestmark = pytest.mark.django_db


def start(client, **body):
    return client.post(
        f"{API}/backtests/",
        {"kind": "overnight_range_breakout", "contract": "NQ", "bars": NQ, **body},
        format="json",
    )


def test_trader_starts_a_backtest_and_reads_its_result(
    api, world: World, django_capture_on_commit_callbacks
):
    client = api(world.tina)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = start(client, params={"buffer_ticks": 2}, plan_code="combine-50k")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    assert len(queued) == 1
    run = BacktestRun.objects.for_tenant(world.tenant_a).get(public_id=response.json()["id"])
    backtest_run_task(tenant_id=world.tenant_a.pk, run_id=run.pk)  # what the worker does

    detail = client.get(f"{API}/backtests/{run.public_id}/").json()
    assert detail["status"] == BacktestStatus.SUCCEEDED
    assert detail["progress"] == 1.0
    assert detail["bars"] == NQ  # never the server's path
    result = client.get(f"{API}/backtests/{run.public_id}/result/").json()["result"]
    assert detail["metrics"]["trades"] == len(result["trades"])


def test_bad_parameters_are_answered_per_field(api, world: World):
    response = start(api(world.tina), params={"buffer_ticks": "x", "nope": 1})
    assert response.status_code == 400
    assert set(response.json()["params"]) == {"buffer_ticks", "nope"}
    assert (
        not BacktestRun.objects.for_tenant(world.tenant_a).exclude(pk=world.backtest_a.pk).exists()
    )


@pytest.mark.parametrize("bars", ["../../etc/passwd", "/etc/passwd", "missing.csv.gz"])
def test_only_files_of_the_market_data_folder_are_allowed(api, world: World, bars):
    response = start(api(world.tina), bars=bars)
    assert response.status_code == 400
    assert "does not exist" in str(response.json())


def test_viewer_cannot_start_a_backtest(api, world: World):
    assert start(api(world.vera)).status_code == 403
