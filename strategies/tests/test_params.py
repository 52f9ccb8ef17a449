"""Parameter schemas: plain-data export, defaults, per-field errors."""

from __future__ import annotations

import json

import pytest

from strategies.engine.params import ParameterError, schema_for, validate_params
from strategies.engine.registry import STRATEGY_KINDS, UnknownStrategyKind, build_strategy


@pytest.mark.parametrize("kind", sorted(STRATEGY_KINDS))
def test_schema_is_plain_json_data_and_defaults_validate(kind):
    schema = schema_for(kind)
    assert json.loads(json.dumps(schema)) == schema
    assert {tuple(sorted(entry)) for entry in schema} == {
        ("default", "help", "max", "min", "name", "type")
    }
    defaults = {entry["name"]: entry["default"] for entry in schema}
    assert validate_params(kind, defaults) == validate_params(kind, {})


def test_orb_schema_lists_the_flatten_time_default():
    entry = next(e for e in schema_for("overnight_range_breakout") if e["name"] == "flatten_at")
    assert entry == {
        "name": "flatten_at",
        "type": "time",
        "default": "15:55",
        "min": None,
        "max": None,
        "help": "Position closed, orders cancelled (ET).",
    }


def test_every_bad_field_is_reported_with_its_message():
    with pytest.raises(ParameterError) as caught:
        validate_params("trend_following", {"fast_period": 0, "allow_short": "maybe", "bogus": 1})
    assert caught.value.errors == {
        "fast_period": "must be at least 2",
        "allow_short": "must be true or false",
        "bogus": "unknown parameter",
    }


def test_cross_field_rules_run_when_fields_parse():
    with pytest.raises(ParameterError) as caught:
        validate_params("trend_following", {"fast_period": 30, "slow_period": 20})
    assert caught.value.errors == {"fast_period": "must be below slow_period"}


def test_numbers_from_json_strings_floats_and_ints_parse_exactly():
    values = validate_params("mean_reversion", {"stop_atr": 1.1, "rsi_period": "10"})
    assert str(values["stop_atr"]) == "1.1"
    assert values["rsi_period"] == 10


def test_booleans_are_not_accepted_as_numbers():
    with pytest.raises(ParameterError) as caught:
        validate_params("mean_reversion", {"qty": True})
    assert caught.value.errors == {"qty": "must be a whole number"}


def test_unknown_kind_is_refused():
    with pytest.raises(ParameterError):
        schema_for("martingale")
    with pytest.raises(UnknownStrategyKind):
        build_strategy("martingale")
