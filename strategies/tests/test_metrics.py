"""Metrics on small hand-computed cases."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal

import pytest

from strategies.backtest import metrics

D = Decimal


def test_win_rate_profit_factor_and_expectancy():
    pnls = [D("100"), D("-50"), D("25")]
    assert metrics.win_rate(pnls) == pytest.approx(2 / 3)
    assert metrics.profit_factor(pnls) == 2.5
    assert metrics.expectancy(pnls) == D("25.00")


def test_profit_factor_is_undefined_without_losses():
    assert metrics.profit_factor([D(10), D(5)]) is None
    assert metrics.win_rate([]) is None


def test_sharpe_is_mean_over_sample_stdev_annualised():
    # mean 1, sample stdev 1
    assert metrics.sharpe([D(2), D(0), D(1)]) == pytest.approx(math.sqrt(252))


def test_sortino_uses_downside_deviation_over_all_days():
    # mean 1, downside deviation sqrt((0 + 1) / 2)
    assert metrics.sortino([D(3), D(-1)]) == pytest.approx(1 / math.sqrt(0.5) * math.sqrt(252))
    assert metrics.sortino([D(1), D(2)]) is None


def test_max_drawdown_amount_and_length_in_sessions():
    days = [date(2023, 1, d) for d in (2, 3, 4, 5, 6, 9)]
    equity = [D(100), D(120), D(90), D(110), D(130), D(80)]
    dd = metrics.max_drawdown(equity, days, days)
    assert dd.amount_usd == D(50)
    assert (dd.peak_date, dd.trough_date) == (date(2023, 1, 6), date(2023, 1, 9))
    assert dd.length_sessions == 1  # not recovered: peak session to the last session


def test_drawdown_length_counts_sessions_until_the_peak_is_regained():
    days = [date(2023, 1, d) for d in (2, 3, 4, 5, 6)]
    equity = [D(100), D(60), D(90), D(100), D(101)]
    dd = metrics.max_drawdown(equity, days, days)
    assert (dd.amount_usd, dd.length_sessions) == (D(40), 3)


def test_best_day_share_is_the_consistency_ratio():
    assert metrics.best_day_share([D(100), D(200)]) == pytest.approx(2 / 3)
    assert metrics.best_day_share([D(-100), D(50)]) is None


def test_result_to_dict_is_json_serialisable_with_decimals_as_strings():
    from strategies.backtest.result import BacktestResult

    result = BacktestResult(
        strategy="x",
        params={"stop_atr": D("0.5")},
        contract="ES",
        trades=[],
        decisions=[],
        notes=[],
        session_dates=[date(2023, 1, 3)],
        daily_pnl_usd=[D("0")],
        starting_balance_usd=D("50000"),
        survived=True,
        failed_on=None,
        failure_reason=None,
        daily_loss_limit_days=[],
        bars_replayed=10,
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["params"] == {"stop_atr": "0.5"}
    assert data["metrics"]["net_pnl_usd"] == "0"
    assert data["daily_pnl"] == [{"trading_date": "2023-01-03", "pnl_usd": "0"}]
