"""A backtest applies exactly the account rules asked for, and says which, and what they refused.

Real ES bars (MARKET_DATA_DIR): the overnight range breakout with default parameters trades 673
times over 2019-2023 on its own (its ATR's window is full from April 2019); under a 50K Combine the
maximum loss limit is nearly used up within weeks and the rules refuse almost every later entry (21
trades, 1,718 entries refused from 2019-05-28).
"""

from __future__ import annotations

import json
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

ES_FILE = Path(settings.MARKET_DATA_DIR) / "es_1min_2019-2023.csv.gz"


def backtest_json(*extra: str) -> dict:
    out = StringIO()
    call_command(
        "backtest",
        "--strategy=overnight_range_breakout",
        f"--bars={ES_FILE}",
        "--contract=ES",
        "--json",
        *extra,
        stdout=out,
        stderr=StringIO(),
    )
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_no_plan_means_no_account_rules():
    metrics = backtest_json()["metrics"]
    assert metrics["trades"] > 500  # hundreds, where the silent 50K Combine allowed a few
    assert metrics["rules"] == "no account rules (the strategy's own performance)"
    assert metrics["refused_entries"] == 0
    assert metrics["first_refused_on"] is None
    assert metrics["survived"] is True


@pytest.mark.django_db
def test_a_plan_applies_exactly_its_rules_and_says_what_they_refused():
    metrics = backtest_json("--plan=combine-50k")["metrics"]
    assert metrics["rules"].startswith("Trading Combine 50K (combine-50k): start 50,000 USD")
    # the seeded TopstepX plan: Topstep's published end-of-day MLL, no firm daily loss limit
    assert "max loss limit 2,000 USD (trails end-of-day)" in metrics["rules"]
    assert "no daily loss limit" in metrics["rules"]
    assert metrics["trades"] < 50  # 673 without a plan (test above)
    assert metrics["refused_entries"] > 100
    # The indicators' bounded window (a 14-session ATR reads 71 sessions) opens trading in April 2019;
    # the trailing limit is used up within weeks of that.
    refused_from = date.fromisoformat(metrics["first_refused_on"])
    assert date(2019, 4, 1) <= refused_from <= date(2019, 7, 1)


@pytest.mark.django_db
def test_the_report_names_the_rules_and_the_refusals():
    out = StringIO()
    call_command(
        "backtest",
        "--strategy=overnight_range_breakout",
        f"--bars={ES_FILE}",
        "--contract=ES",
        "--plan=combine-50k",
        "--from=2019-01-01",
        "--to=2019-06-30",
        stdout=out,
        stderr=StringIO(),
    )
    text = out.getvalue()
    assert "rules: Trading Combine 50K (combine-50k)" in text
    assert "the rules refused" in text
    assert "entries from 2019-" in text


@pytest.mark.django_db
def test_an_unknown_plan_is_refused_with_the_known_codes():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"unknown plan 'combine-1k'.*combine-50k"):
        backtest_json("--plan=combine-1k")
