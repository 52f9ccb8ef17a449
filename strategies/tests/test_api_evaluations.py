"""Evaluations through the API: start one, a worker runs it, read the report; tenant-scoped."""

import pytest

from accounts.tests.test_api_support import API, World, _fresh_throttles, api, world
from strategies.models import BacktestStatus, EvaluationRun
from strategies.tasks import evaluation_run_task

FIXTURES = (_fresh_throttles, api, world)
ES = "es_1min_2019-2023.csv.gz"
pytestmark = pytest.mark.django_db


def start(client, **body):
    return client.post(
        f"{API}/evaluations/",
        {
            "kind": "overnight_range_breakout",
            "contract": "ES",
            "bars": ES,
            "plan_code": "combine-50k",
            "start_every": 100,
            "paths": 50,
            "horizon": 60,
            **body,
        },
        format="json",
    )


def test_trader_starts_an_evaluation_and_reads_its_report(
    api, world: World, django_capture_on_commit_callbacks
):
    client = api(world.tina)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = start(client)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    assert len(queued) == 1
    run = EvaluationRun.objects.for_tenant(world.tenant_a).get(public_id=response.json()["id"])
    evaluation_run_task(tenant_id=world.tenant_a.pk, run_id=run.pk)  # what the worker does

    detail = client.get(f"{API}/evaluations/{run.public_id}/").json()
    assert detail["status"] == BacktestStatus.SUCCEEDED, detail["error"]
    assert detail["bars"] == ES  # never the server's path
    assert detail["stage"] == "monte_carlo"
    report = client.get(f"{API}/evaluations/{run.public_id}/report/").json()["report"]
    assert report["history"]["attempts"] == len(range(0, 1093, 100))
    assert report["monte_carlo"]["attempts"] == 50
    assert report["plan"]["code"] == "combine-50k"
    # Passed attempts go on into the Express Funded Account; the others do not.
    assert report["express_plan"]["code"] == "express-50k"
    assert report["history"]["express"]["runs"] == sum(
        1 for a in report["attempts"] if a["express"] and a["express"]["sessions"]
    )
    assert all(a["express"] is None for a in report["attempts"] if a["outcome"] != "passed")

    # Another tenant sees none of it.
    other = api(world.bob)
    assert other.get(f"{API}/evaluations/").json()["count"] == 0
    assert other.get(f"{API}/evaluations/{run.public_id}/").status_code == 404
    assert other.get(f"{API}/evaluations/{run.public_id}/report/").status_code == 404


def test_a_plan_without_a_profit_target_is_refused(api, world: World):
    response = start(api(world.tina), plan_code="express-50k")
    assert response.status_code == 400
    assert "profit target" in str(response.json())
    stored = EvaluationRun.objects.for_tenant(world.tenant_a).exclude(pk=world.evaluation_a.pk)
    assert not stored.exists()


def test_only_files_of_the_market_data_folder_are_allowed(api, world: World):
    response = start(api(world.tina), bars="/etc/passwd")
    assert response.status_code == 400
    assert "does not exist" in str(response.json())


def test_viewer_cannot_start_an_evaluation(api, world: World):
    assert start(api(world.vera)).status_code == 403


def test_the_schema_documents_evaluations(api, world: World):
    schema = api(world.tina).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/evaluations/" in paths
    assert "/api/v1/evaluations/{public_id}/report/" in paths
    assert "Start an evaluation" in paths["/api/v1/evaluations/"]["post"]["summary"]
    report = paths["/api/v1/evaluations/{public_id}/report/"]["get"]["responses"]["200"]
    for field in ("express_plan", "payout_policy", "days_to_first_payout", "payout_paths"):
        assert field in report["description"]
