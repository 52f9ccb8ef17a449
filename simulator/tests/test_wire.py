"""Wire details: lenient timestamps, exact price rendering, case-insensitive fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from simulator.wire import BadField, Fields, dumps, format_ts, parse_ts, render_bars_ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-12-01T00:00:00Z", datetime(2024, 12, 1, tzinfo=UTC)),
        ("2024-12-01T00:00:00", datetime(2024, 12, 1, tzinfo=UTC)),
        ("2024-12-01", datetime(2024, 12, 1, tzinfo=UTC)),
        ("2026-10-26T00:00:00-05:00", datetime(2026, 10, 26, 5, tzinfo=UTC)),
        ("2025-04-21T19:45:52.105808+00:00", datetime(2025, 4, 21, 19, 45, 52, 105808, tzinfo=UTC)),
        ("2025-04-21T19:45:52.1234567Z", datetime(2025, 4, 21, 19, 45, 52, 123456, tzinfo=UTC)),
        ("2025-04-21T19:45:52.5z", datetime(2025, 4, 21, 19, 45, 52, 500000, tzinfo=UTC)),
        ("2025-04-21 19:45:52+01:00", datetime(2025, 4, 21, 18, 45, 52, tzinfo=UTC)),
    ],
)
def test_parse_ts_accepts_any_iso_form(text: str, expected: datetime) -> None:
    assert parse_ts(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "   "])
def test_parse_ts_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_ts(text)


def test_format_ts_has_offset_and_microseconds() -> None:
    at = datetime(2025, 4, 21, 14, 45, 52, tzinfo=timezone(timedelta(hours=-5)))
    assert format_ts(at) == "2025-04-21T19:45:52.000000+00:00"
    with pytest.raises(ValueError, match="naive"):
        format_ts(datetime(2025, 1, 1))


def test_dumps_renders_prices_with_nine_decimals_never_via_float() -> None:
    text = dumps(
        {"p": Decimal("0.1"), "big": Decimal("12345678.25"), "n": None, "ok": True, "l": [1, "é"]}
    )
    assert text == '{"p":0.100000000,"big":12345678.250000000,"n":null,"ok":true,"l":[1,"é"]}'


def test_fields_bind_case_insensitively_and_name_the_bad_field() -> None:
    fields = Fields({"AccountID": 7, "startTimeStamp": "2025-01-01T00:00:00Z", "live": "true"})
    assert fields.int("accountId") == 7
    assert fields.ts("startTimestamp") == datetime(2025, 1, 1, tzinfo=UTC)
    assert fields.bool("LIVE") is True
    with pytest.raises(BadField) as info:
        Fields({"size": Decimal("1.5")}).int("size")
    assert info.value.field == "size"


def test_render_bars_ok_is_the_same_json_as_dumps() -> None:
    bars = [
        {
            "t": datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
            "o": Decimal("5000.25"),
            "h": Decimal("5001"),
            "l": Decimal("4999.5"),
            "c": Decimal("5000.75"),
            "v": 12,
        }
    ] * 3
    expected = dumps({"bars": bars, "success": True, "errorCode": 0, "errorMessage": None})
    assert render_bars_ok(bars) == expected
    assert render_bars_ok([]) == '{"bars":[],"success":true,"errorCode":0,"errorMessage":null}'
