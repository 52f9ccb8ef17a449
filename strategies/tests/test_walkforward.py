"""Walk-forward splits and parameter grids."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from strategies.backtest import parameter_grid, walk_forward_splits

DAYS = [date(2023, 1, 2) + timedelta(days=k) for k in range(10)]


def test_rolling_splits_tile_the_out_of_sample_windows():
    splits = walk_forward_splits(DAYS, in_sample_sessions=4, out_of_sample_sessions=2)
    assert [(s.in_sample, s.out_of_sample) for s in splits] == [
        ((DAYS[0], DAYS[3]), (DAYS[4], DAYS[5])),
        ((DAYS[2], DAYS[5]), (DAYS[6], DAYS[7])),
        ((DAYS[4], DAYS[7]), (DAYS[8], DAYS[9])),
    ]


def test_anchored_splits_keep_the_start():
    splits = walk_forward_splits(
        DAYS, in_sample_sessions=6, out_of_sample_sessions=2, anchored=True
    )
    assert [s.in_sample for s in splits] == [(DAYS[0], DAYS[5]), (DAYS[0], DAYS[7])]


def test_out_of_sample_never_overlaps_its_in_sample():
    for s in walk_forward_splits(
        DAYS, in_sample_sessions=3, out_of_sample_sessions=1, step_sessions=1
    ):
        assert s.in_sample[1] < s.out_of_sample[0]


def test_grid_is_the_cartesian_product_in_stable_order():
    assert parameter_grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_grid_refuses_empty_value_lists():
    with pytest.raises(ValueError, match="must not be empty"):
        parameter_grid({"a": []})


def test_sweep_cells_rank_survivors_first_then_by_the_metric():
    from strategies.backtest import rank_results, run_backtest
    from strategies.tests.synthetic import LOOSE_LIMITS, session_bars, to_arrays
    from strategies.tests.test_orb import PARAMS

    day = date(2023, 3, 15)
    from datetime import time as clock

    bars = to_arrays(
        session_bars(
            day,
            overrides={
                clock(10, 0): (16000, 16020, 15995, 16015),
                clock(10, 1): (16015, 16060, 16010, 16040),
            },
        )
    )
    cells = parameter_grid({"target_atr": ["1", "2"], "stop_atr": ["1"]})
    results = [
        (
            cell,
            run_backtest(
                "overnight_range_breakout", {**PARAMS, **cell}, bars, "ES", limits=LOOSE_LIMITS
            ),
        )
        for cell in cells
    ]
    ranked = rank_results(results)
    assert [cell["target_atr"] for cell, _ in ranked] == ["2", "1"]
    assert ranked[0][1].net_pnl_usd > ranked[1][1].net_pnl_usd
