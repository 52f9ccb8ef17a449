from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from markets.ticks import (
    CONTRACT_SPECS,
    ContractSpec,
    OffTick,
    UnknownContract,
    from_ticks,
    pnl_usd,
    spec_for,
    to_ticks,
)

TICK_SIZES = [Decimal("0.25"), Decimal("0.10"), Decimal("1.00"), Decimal("0.01"), Decimal("0.005")]


def test_to_ticks_converts_an_aligned_price():
    assert to_ticks(Decimal("4500.25"), Decimal("0.25")) == 18001


def test_to_ticks_accepts_negative_prices():
    assert to_ticks(Decimal("-37.63"), Decimal("0.01")) == -3763


def test_to_ticks_accepts_an_int_price():
    assert to_ticks(4500, Decimal("0.25")) == 18000


def test_to_ticks_rejects_an_off_tick_price():
    with pytest.raises(OffTick, match=r"4500\.10 is not a multiple of the tick size 0\.25"):
        to_ticks(Decimal("4500.10"), Decimal("0.25"))


def test_off_tick_is_a_value_error():
    assert issubclass(OffTick, ValueError)


def test_to_ticks_rejects_a_float_price():
    with pytest.raises(TypeError, match="Decimal"):
        to_ticks(4500.25, Decimal("0.25"))


@pytest.mark.parametrize("price", [Decimal("NaN"), Decimal("Infinity")])
def test_to_ticks_rejects_non_finite_prices(price):
    with pytest.raises(OffTick, match="not a finite price"):
        to_ticks(price, Decimal("0.25"))


@pytest.mark.parametrize("tick_size", [Decimal(0), Decimal("-0.25"), 0.25])
def test_to_ticks_rejects_a_bad_tick_size(tick_size):
    with pytest.raises(ValueError, match="tick size must be a positive finite Decimal"):
        to_ticks(Decimal(1), tick_size)


def test_from_ticks_is_exact():
    assert from_ticks(18001, Decimal("0.25")) == Decimal("4500.25")
    assert from_ticks(-3763, Decimal("0.01")) == Decimal("-37.63")


def test_from_ticks_rejects_a_non_int():
    with pytest.raises(TypeError, match="ticks must be an int"):
        from_ticks(1.0, Decimal("0.25"))


@given(ticks=st.integers(-(10**9), 10**9), tick_size=st.sampled_from(TICK_SIZES))
def test_ticks_round_trip_through_price(ticks, tick_size):
    assert to_ticks(from_ticks(ticks, tick_size), tick_size) == ticks


@given(
    ticks=st.integers(-(10**7), 10**7),
    tick_size=st.sampled_from(TICK_SIZES),
    fraction=st.integers(1, 99),
)
def test_a_price_between_ticks_is_always_off_tick(ticks, tick_size, fraction):
    price = from_ticks(ticks, tick_size) + tick_size * fraction / 100
    with pytest.raises(OffTick):
        to_ticks(price, tick_size)


def test_pnl_usd_long_es_four_points():
    assert pnl_usd(18000, 18016, 1, Decimal("12.50")) == Decimal("200.00")


def test_pnl_usd_short_gains_when_price_falls():
    assert pnl_usd(18000, 17990, -2, Decimal("5.00")) == Decimal("100.00")


@given(entry=st.integers(0, 10**6), exit_=st.integers(0, 10**6), qty=st.integers(-50, 50))
def test_pnl_of_a_short_is_the_negated_pnl_of_a_long(entry, exit_, qty):
    value = Decimal("1.25")
    assert pnl_usd(entry, exit_, -qty, value) == -pnl_usd(entry, exit_, qty, value)


def test_registry_holds_the_eight_documented_products():
    assert sorted(CONTRACT_SPECS) == ["CL", "ES", "GC", "MES", "MNQ", "NQ", "RTY", "YM"]
    assert CONTRACT_SPECS["ES"] == ContractSpec(
        "ES", "EP", Decimal("0.25"), Decimal("12.50"), Decimal("1.40")
    )
    assert CONTRACT_SPECS["CL"].tick_size == Decimal("0.01")
    assert CONTRACT_SPECS["YM"].tick_size == Decimal("1.00")
    assert CONTRACT_SPECS["RTY"].tick_size == Decimal("0.10")


def test_only_micros_are_flagged_micro():
    assert sorted(s for s, spec in CONTRACT_SPECS.items() if spec.is_micro) == ["MES", "MNQ"]


@pytest.mark.parametrize(
    ("key", "symbol"),
    [
        ("ES", "ES"),
        ("ep", "ES"),
        ("F.US.EP", "ES"),
        ("CON.F.US.EP.Z25", "ES"),
        ("ENQ", "NQ"),
        ("CON.F.US.ENQ.H25", "NQ"),
        ("CLE", "CL"),
        ("GCE", "GC"),
        ("MNQ", "MNQ"),
    ],
)
def test_spec_for_resolves_symbols_roots_and_contract_ids(key, symbol):
    assert spec_for(key).symbol == symbol


@pytest.mark.parametrize("key", ["ZB", "", "CON.F.US.XYZ.Z25", None])
def test_spec_for_unknown_raises_with_the_known_list(key):
    with pytest.raises(UnknownContract):
        spec_for(key)


def test_unknown_contract_message_is_readable():
    with pytest.raises(UnknownContract) as info:
        spec_for("ZB")
    assert str(info.value) == (
        "no contract spec for 'ZB'; known symbols: CL, ES, GC, MES, MNQ, NQ, RTY, YM"
    )


def test_contract_id_for_builds_the_gateway_id():
    assert spec_for("NQ").contract_id_for("H", 2025) == "CON.F.US.ENQ.H25"
    assert spec_for("ES").symbol_id == "F.US.EP"


def test_contract_id_for_rejects_a_bad_month_code():
    with pytest.raises(ValueError, match="unknown futures month code 'A'"):
        spec_for("ES").contract_id_for("A", 2025)


def test_spec_methods_use_its_tick_size_and_value():
    es = spec_for("ES")
    assert es.to_ticks(Decimal("5000.75")) == 20003
    assert es.from_ticks(20003) == Decimal("5000.75")
    assert es.pnl_usd(20000, 20004, 1) == Decimal("50.00")


def test_to_ticks_accepts_the_gateways_nine_decimals():
    assert to_ticks(Decimal("4500.250000000"), Decimal("0.25")) == 18001


def test_to_ticks_refuses_an_absurd_magnitude_as_off_tick():
    with pytest.raises(OffTick, match=r"1E\+30 is out of range for the tick size 0.25"):
        to_ticks(Decimal("1E+30"), Decimal("0.25"))


@given(
    price=st.one_of(st.decimals(allow_nan=True, allow_infinity=True), st.integers()),
    tick_size=st.sampled_from(TICK_SIZES),
)
def test_to_ticks_either_converts_exactly_or_raises_off_tick(price, tick_size):
    try:
        ticks = to_ticks(price, tick_size)
    except OffTick:
        return
    assert from_ticks(ticks, tick_size) == price
