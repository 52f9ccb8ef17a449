"""Evaluation pages: start one from the form, a worker runs it, read the pass probability, the
days-to-pass histogram, the failure reasons and the fan; other tenants see none of it."""

import pytest
from django.urls import reverse

from strategies.models import BacktestStatus, EvaluationRun
from strategies.tasks import evaluation_run_task
from web.tests.test_backtest_pages import FORM

ES = "es_1min_2019-2023.csv.gz"
EVALUATION_FORM = {
    **{k: v for k, v in FORM.items() if k not in ("slippage_ticks", "plan_code")},
    "contract": "ES",
    "bars": ES,
    "plan_code": "combine-50k",
    "start_every": "100",
    "paths": "60",
}


@pytest.fixture
def owner_client(client, alice, tenant_a):
    client.force_login(alice)
    return client


def test_list_page_offers_only_plans_with_a_profit_target(owner_client):
    html = owner_client.get(reverse("evaluation_list")).content.decode()
    assert ES in html
    assert 'value="combine-50k"' in html
    assert 'value="express-50k"' not in html
    assert 'name="buffer_ticks"' in html


def test_start_run_and_read_the_report(owner_client, tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = owner_client.post(reverse("evaluation_list"), EVALUATION_FORM)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert len(queued) == 1
    run = EvaluationRun.objects.for_tenant(tenant_a).get()
    status = owner_client.get(reverse("evaluation_status", args=[run.pk])).json()
    assert status["status"] == "queued"
    evaluation_run_task(tenant_id=tenant_a.pk, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == BacktestStatus.SUCCEEDED, run.error
    html = owner_client.get(reverse("evaluation_detail", args=[run.pk])).content.decode()
    history = run.report["history"]
    assert "Pass probability" in html
    assert f"{history['passed']} passed · {history['failed']} failed" in html
    assert html.count("<rect ") >= 1  # the days-to-pass histogram
    assert 'id="fan"' in html
    assert "<polyline" in html
    assert "Trading Combine 50K" in html
    # The Express Funded stage: its rules and payout policy, and what the passed attempts reached.
    assert 'id="express-plan"' in html
    assert "Then Express Funded 50K for up to 250 sessions" in html
    xfa = history["express"]
    assert f"Express Funded stage of the {xfa['runs']} passed attempts" in html
    assert f"{xfa['with_payout']} of {xfa['runs']} Express Funded Accounts" in html
    assert f"failed {xfa['failed']} ({xfa['failed_before_payout']} before any payout)" in html


def test_viewer_cannot_start_and_other_tenant_cannot_see(client, viewer, bob, tenant_a, tenant_b):
    client.force_login(viewer)
    assert client.post(reverse("evaluation_list"), EVALUATION_FORM).status_code == 403
    run = EvaluationRun.all_tenants.create(
        tenant=tenant_a,
        kind="overnight_range_breakout",
        contract="ES",
        bars_source=ES,
        plan_code="combine-50k",
    )
    client.force_login(bob)
    assert client.get(reverse("evaluation_detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("evaluation_status", args=[run.pk])).status_code == 404
    listing = client.get(reverse("evaluation_list")).content.decode()
    assert f'data-run-id="{run.pk}"' not in listing
