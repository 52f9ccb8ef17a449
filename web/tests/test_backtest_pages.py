"""Backtest pages: start one from the schema-built form, see it queued, run it, read its results."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from strategies.models import BacktestRun, BacktestStatus
from strategies.tasks import backtest_run_task

NQ = "nq_1min_sample_2023-11.csv.gz"
FORM = {
    "kind": "overnight_range_breakout",
    "contract": "NQ",
    "bars": NQ,
    "plan_code": "",
    "slippage_ticks": "0",
    "range_start": "18:00",
    "range_end": "09:30",
    "entry_window_end": "11:00",
    "flatten_at": "15:55",
    "buffer_ticks": "2",
    "atr_period": "14",
    "atr_bar_minutes": "1440",
    "stop_atr": "0.25",
    "target_atr": "0.5",
    "min_range_atr": "0.1",
    "max_range_atr": "1.0",
    "min_range_bars": "300",
    "breakeven_r": "1.0",
    "breakeven_offset_ticks": "1",
    "max_trades_per_day": "1",
    "qty": "1",
}


@pytest.fixture
def owner_client(client, alice, tenant_a):
    client.force_login(alice)
    return client


def test_list_page_offers_the_market_data_files(owner_client):
    html = owner_client.get(reverse("backtest_list")).content.decode()
    assert NQ in html
    assert 'name="buffer_ticks"' in html  # the breakout's schema became the form


def test_start_queue_run_and_read_the_result(
    owner_client, tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = owner_client.post(reverse("backtest_list"), FORM)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert len(queued) == 1
    run = BacktestRun.objects.for_tenant(tenant_a).get()
    assert owner_client.get(reverse("backtest_status", args=[run.pk])).json()["status"] == "queued"
    backtest_run_task(tenant_id=tenant_a.pk, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == BacktestStatus.SUCCEEDED, run.error
    html = owner_client.get(reverse("backtest_detail", args=[run.pk])).content.decode()
    assert 'id="equity-chart"' in html
    assert run.metrics["net_pnl_usd"] in html


def test_result_page_lists_the_trades(owner_client, tenant_a):
    from strategies.backtests import backtest_create, backtest_execute

    run = backtest_create(
        tenant=tenant_a,
        actor=None,
        kind="overnight_range_breakout",
        contract="ES",
        bars_source="es_1min_2019-2023.csv.gz",
        first_date=date(2021, 1, 4),
        last_date=date(2021, 1, 29),
        params={"stop_atr": "0.15", "target_atr": "0.3"},  # stop-outs within the loss limits
        enqueue=False,
    )
    run = backtest_execute(run=run)
    assert run.metrics["trades"] > 0
    html = owner_client.get(reverse("backtest_detail", args=[run.pk])).content.decode()
    first = run.result["trades"][0]
    assert first["entry_price"] in html
    assert first["exit_reason"] in html


def test_bad_parameter_is_shown_next_to_its_field(owner_client, tenant_a):
    response = owner_client.post(reverse("backtest_list"), {**FORM, "buffer_ticks": "x"})
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()
    assert not BacktestRun.objects.for_tenant(tenant_a).exists()


def test_viewer_cannot_start_and_other_tenant_cannot_see(client, viewer, bob, tenant_a, tenant_b):
    client.force_login(viewer)
    assert client.post(reverse("backtest_list"), FORM).status_code == 403
    run = BacktestRun.all_tenants.create(
        tenant=tenant_a, kind="overnight_range_breakout", contract="NQ", bars_source=NQ
    )
    client.force_login(bob)
    assert client.get(reverse("backtest_detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("backtest_status", args=[run.pk])).status_code == 404
    assert (
        str(run.pk)
        not in client.get(reverse("backtest_list")).content.decode().split("backtest-table")[1]
    )


def test_result_page_reads_as_a_trader_reads_it(owner_client, tenant_a):
    """Exchange times, the parameters labelled, the rules named with their numbers and what they
    refused, and an equity curve that spans the whole run."""
    from strategies.backtests import backtest_create, backtest_execute

    run = backtest_create(
        tenant=tenant_a,
        actor=None,
        kind="overnight_range_breakout",
        contract="ES",
        bars_source="es_1min_2019-2023.csv.gz",
        first_date=date(2019, 1, 2),
        last_date=date(2019, 6, 28),  # trading opens in April, once the ATR's window is full
        plan_code="combine-50k",
        params={},
        enqueue=False,
    )
    run = backtest_execute(run=run)
    html = owner_client.get(reverse("backtest_detail", args=[run.pk])).content.decode()
    assert "Trading Combine 50K (combine-50k): start 50,000 USD, max loss limit 2,000 USD" in html
    assert f"the rules refused {run.metrics['refused_entries']} entries from 2019-" in html
    first = datetime.fromisoformat(run.result["trades"][0]["entry_at"])
    chicago = first.astimezone(ZoneInfo("America/Chicago"))
    assert first.hour - chicago.hour in (5, 6)  # really moved to exchange time
    assert f"<td>{chicago:%a %d %b %Y %H:%M} CT</td>" in html
    assert "<th>stop_atr</th>" in html
    assert "Start of the overnight range (ET)." in html
    last_point = run.result["equity_curve"][-1]["at"]
    assert last_point.startswith("2019-06-28")  # the curve reaches the last session
