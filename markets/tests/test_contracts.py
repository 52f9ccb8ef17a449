"""The roll rule (markets/contracts.py): which month each trading date trades."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from markets.contracts import (
    expiry_date,
    front_month_id,
    next_contract_id,
    roll_date,
    split_contract_id,
)

ROOTS = ("EP", "MES", "ENQ", "MNQ", "RTY", "YM", "CLE", "GCE")


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 3, 11), "CON.F.US.EP.H26"),  # the Wednesday before the roll
        (date(2026, 3, 12), "CON.F.US.EP.M26"),  # second Thursday of March: 8 days before 3/20
        (date(2026, 6, 10), "CON.F.US.EP.M26"),
        (date(2026, 6, 11), "CON.F.US.EP.U26"),
        (date(2026, 12, 10), "CON.F.US.EP.H27"),  # December rolls into next year's March
        (date(2026, 12, 9), "CON.F.US.EP.Z26"),
    ],
)
def test_equity_index_rolls_on_the_second_thursday_eight_days_before_expiry(on, expected):
    assert front_month_id("EP", on) == expected


def test_equity_index_expiry_is_the_third_friday():
    assert expiry_date("EP", "H", 2026) == date(2026, 3, 20)
    assert roll_date("EP", "H", 2026) == date(2026, 3, 12)
    assert roll_date("EP", "H", 2026).weekday() == 3  # a Thursday


@given(st.sampled_from(ROOTS), st.dates(date(2019, 1, 1), date(2035, 12, 31)))
def test_the_front_month_is_the_first_month_not_yet_rolled(root, on):
    front = front_month_id(root, on)
    _, code, year = split_contract_id(front)
    assert on < roll_date(root, code, year) <= expiry_date(root, code, year)
    # the day before its roll it is still the front; on its roll date the next month is
    last = roll_date(root, code, year) - timedelta(days=1)
    assert front_month_id(root, last) == front
    assert front_month_id(root, last + timedelta(days=1)) == next_contract_id(front)


@pytest.mark.parametrize("bad", ["ES", "CON.F.US.EP", "CON.F.US.EP.A26", "CON.F.US.EP.Hxx", ""])
def test_a_malformed_contract_id_is_refused_with_a_clear_error(bad):
    with pytest.raises(ValueError, match="not a dated contract id"):
        split_contract_id(bad)
