"""Stored backtests: inputs refused clearly, runs queued after commit, progress and results stored,
sweeps ranked by their last cell, the command line's report and JSON."""

import json
from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import GatewayEnvironment
from execution.models import CachedBar
from execution.sources import market_source
from markets.bars import load_bars_csv
from markets.ticks import spec_for
from simulator.testing import market_data_dir
from strategies.backtests import BacktestInputError, backtest_create, backtest_execute, sweep_create
from strategies.engine.params import ParameterError
from strategies.models import BacktestRun, BacktestStatus, BacktestSweep
from strategies.tasks import backtest_run_task

NQ_FILE = "nq_1min_sample_2023-11.csv.gz"
KIND = "overnight_range_breakout"


def create(tenant, **overrides):
    options = {
        "tenant": tenant,
        "actor": None,
        "kind": KIND,
        "params": {"buffer_ticks": 2},
        "contract": "NQ",
        "bars_source": NQ_FILE,
        **overrides,
    }
    return backtest_create(**options)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"params": {"buffer_ticks": "x"}}, ParameterError, "buffer_ticks"),
        ({"contract": "ZZ"}, BacktestInputError, "ZZ"),
        ({"bars_source": "../../../etc/passwd"}, BacktestInputError, "does not exist"),
        ({"bars_source": "missing.csv.gz"}, BacktestInputError, "does not exist"),
        ({"bars_source": "cached:"}, BacktestInputError, "contract id"),
        ({"plan_code": "combine-1m"}, BacktestInputError, "unknown plan"),
        (
            {"first_date": date(2023, 12, 1), "last_date": date(2023, 11, 1)},
            BacktestInputError,
            "after",
        ),
    ],
    ids=[
        "bad_param",
        "unknown_contract",
        "path_traversal",
        "missing_file",
        "empty_cached",
        "unknown_plan",
        "reversed_dates",
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_stored(tenant_a, overrides, error, message):
    with pytest.raises(error, match=message):
        create(tenant_a, **overrides)
    assert not BacktestRun.objects.for_tenant(tenant_a).exists()


def test_run_is_queued_after_commit_and_executes_with_progress(
    tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = create(tenant_a, plan_code="combine-50k")
    assert len(callbacks) == 1
    assert run.status == BacktestStatus.QUEUED
    backtest_run_task(tenant_id=tenant_a.pk, run_id=run.pk)  # what the worker does
    run.refresh_from_db()
    assert run.status == BacktestStatus.SUCCEEDED, run.error
    assert run.progress_total > 0
    assert run.progress_done == run.progress_total
    assert run.metrics["trades"] == len(run.result["trades"])
    assert set(run.metrics) >= {
        "net_pnl_usd",
        "win_rate",
        "profit_factor",
        "sharpe",
        "max_drawdown_usd",
        "best_day_share",
        "survived",
    }


def test_a_duplicated_task_does_not_run_twice(tenant_a):
    run = create(tenant_a)
    backtest_execute(run=run)
    run.refresh_from_db()
    finished_at = run.finished_at
    backtest_run_task(tenant_id=tenant_a.pk, run_id=run.pk)
    run.refresh_from_db()
    assert run.finished_at == finished_at


def test_a_task_for_another_tenant_finds_nothing(tenant_a, tenant_b):
    run = create(tenant_a)
    backtest_run_task(tenant_id=tenant_b.pk, run_id=run.pk)
    run.refresh_from_db()
    assert run.status == BacktestStatus.QUEUED


def test_sweep_is_ranked_when_its_last_cell_finishes(tenant_a):
    sweep = sweep_create(
        tenant=tenant_a,
        actor=None,
        kind=KIND,
        grid={"buffer_ticks": [1, 8]},
        contract="NQ",
        bars_source=NQ_FILE,
    )
    runs = list(sweep.runs.order_by("pk"))
    assert len(runs) == 2
    backtest_execute(run=runs[0])
    sweep.refresh_from_db()
    assert (sweep.cells_done, sweep.ranking) == (1, [])
    backtest_execute(run=runs[1])
    sweep.refresh_from_db()
    assert sweep.cells_done == 2
    assert sweep.finished_at is not None
    pnl = {r.pk: float(r.metrics["net_pnl_usd"]) for r in BacktestRun.objects.for_tenant(tenant_a)}
    assert sweep.ranking == sorted(pnl, key=lambda pk: -pnl[pk])
    assert BacktestSweep.objects.for_tenant(tenant_a).count() == 1


def test_cached_bars_give_the_same_trades_as_the_file(tenant_a):
    spec = spec_for("NQ")
    bars = load_bars_csv(market_data_dir() / NQ_FILE, spec.tick_size)
    CachedBar.objects.bulk_create(
        CachedBar(
            source=market_source(GatewayEnvironment.LIVE).key,
            contract_id="CON.F.US.ENQ.Z23",
            unit=2,
            unit_number=1,
            started_at=datetime.fromtimestamp(int(t), UTC),
            open_price=o * spec.tick_size,
            high_price=h * spec.tick_size,
            low_price=lo * spec.tick_size,
            close_price=c * spec.tick_size,
            volume=int(v),
        )
        for t, o, h, lo, c, v in zip(
            bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
        )
    )
    from_file = backtest_execute(run=create(tenant_a))
    from_cache = backtest_execute(run=create(tenant_a, bars_source="cached:CON.F.US.ENQ.Z23"))
    assert from_cache.status == BacktestStatus.SUCCEEDED, from_cache.error
    assert from_cache.result["trades"] == from_file.result["trades"]


def test_command_prints_json_with_metrics_and_trades():
    out = StringIO()
    path = str(market_data_dir() / NQ_FILE)
    call_command(
        "backtest",
        "--strategy",
        KIND,
        "--bars",
        path,
        "--contract",
        "NQ",
        "--param",
        "buffer_ticks=2",
        "--json",
        stdout=out,
    )
    payload = json.loads(out.getvalue())
    assert payload["strategy"] == KIND
    assert payload["metrics"]["trades"] == len(payload["trades"])


def test_command_report_and_progress_bar():
    out, err = StringIO(), StringIO()
    call_command(
        "backtest",
        "--strategy",
        KIND,
        "--bars",
        str(market_data_dir() / NQ_FILE),
        "--contract",
        "NQ",
        stdout=out,
        stderr=err,
    )
    assert "net P&L" in out.getvalue()
    assert "100.0%" in err.getvalue()  # the bar reached the end: the whole sample was replayed


def test_command_names_the_bad_parameter():
    with pytest.raises(CommandError, match="buffer_ticks: must be a whole number"):
        call_command(
            "backtest",
            "--strategy",
            KIND,
            "--bars",
            str(market_data_dir() / NQ_FILE),
            "--contract",
            "NQ",
            "--param",
            "buffer_ticks=x",
        )


def test_command_saves_a_sweep_that_fans_out_one_task_per_cell(
    tenant_a, django_capture_on_commit_callbacks, settings
):
    settings.BACKTEST_MAX_RUNNING_PER_TENANT = 3  # all three cells handed over at once
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        call_command(
            "backtest",
            "--strategy",
            KIND,
            "--bars",
            NQ_FILE,
            "--contract",
            "NQ",
            "--save",
            "--tenant",
            tenant_a.slug,
            "--sweep",
            "buffer_ticks=1,2,4",
            stdout=out,
        )
    sweep = BacktestSweep.objects.for_tenant(tenant_a).get()
    assert sweep.cells_total == 3
    assert len(queued) == 3  # one after-commit send per cell handed to the workers
    assert sweep.runs.exclude(dispatched_at=None).count() == 3
    assert f"queued sweep {sweep.public_id}: 3 runs" in out.getvalue()
