"""The look-ahead check on real ES bars: every strategy kind decides the same on data cut at its
decision, and an indicator that peeks one bar ahead is caught."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from markets.bars import load_bars_csv
from markets.ticks import spec_for
from strategies.backtest.run import ReplayData
from strategies.engine.feeds import ArrayIndicatorFeed
from strategies.evaluation.lookahead import lookahead_check

ES_FILE = Path(settings.MARKET_DATA_DIR) / "es_1min_2019-2023.csv.gz"


@pytest.fixture(scope="module")
def es() -> ReplayData:
    return ReplayData.prepare(load_bars_csv(ES_FILE, spec_for("ES").tick_size, cache=True))


@pytest.mark.parametrize("kind", ["overnight_range_breakout", "mean_reversion", "trend_following"])
def test_no_strategy_decides_with_bars_that_had_not_closed(es, kind):
    checked, mismatches = lookahead_check(kind, {}, es, spec_for("ES"), samples=4, seed=3)
    assert checked == 4
    assert mismatches == []


def test_an_indicator_peeking_one_bar_ahead_is_caught(es, monkeypatch):
    def peeking_value(self, name, now):  # the value of the bar after the last closed one
        ends = self._ends_np[name]
        k = int(np.searchsorted(ends, now, "right"))
        values = self._values[name]
        v = values[min(k, len(values) - 1)]
        return None if math.isnan(v) else v

    monkeypatch.setattr(ArrayIndicatorFeed, "value", peeking_value)
    checked, mismatches = lookahead_check(
        "overnight_range_breakout", {}, es, spec_for("ES"), samples=4, seed=3
    )
    assert checked == 4
    assert mismatches
    assert all(m.on_cut_data != m.decision for m in mismatches)


@pytest.mark.django_db
def test_a_user_runs_the_check_on_their_own_parameters():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "backtest",
        "--strategy=overnight_range_breakout",
        f"--bars={ES_FILE}",
        "--contract=ES",
        "--param=stop_atr=0.3",
        "--lookahead-check=3",
        stdout=out,
        stderr=StringIO(),
    )
    assert "3 entry decisions re-made on cut data, 0 differ" in out.getvalue()
