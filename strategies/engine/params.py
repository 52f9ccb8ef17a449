"""Parameter schemas for every strategy kind: defaults, types, limits and help text.

One schema per kind, used by the engine, the admin, the API and the backtest command alike, so a value
the engine refuses is refused everywhere with the same message. Values are parsed from their JSON form
(strings for decimals and clock times) and validated field by field; every bad field is reported at once.

Types:
- ``int``: a whole number (bool refused).
- ``decimal``: an exact ratio such as an ATR multiple, parsed with ``Decimal`` (floats are accepted only
  through their shortest string form, so ``1.5`` and ``"1.5"`` give the same value).
- ``time``: an exchange-local wall-clock time ``"HH:MM"`` (the strategy says which zone; ET throughout).
- ``bool``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

ParamValue = int | Decimal | time | bool


class ParameterError(ValueError):
    """Parameters were refused. ``errors`` maps each bad field (or ``"__all__"``) to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{field}: {message}" for field, message in sorted(self.errors.items()))
        super().__init__(f"invalid parameters: {detail}")


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its name, type, default, inclusive limits and help text."""

    name: str
    type: str  # "int" | "decimal" | "time" | "bool"
    default: ParamValue
    help: str
    min: ParamValue | None = None
    max: ParamValue | None = None

    def as_data(self) -> dict[str, Any]:
        """The schema entry as plain JSON-serialisable data (for the admin and the API)."""
        return {
            "name": self.name,
            "type": self.type,
            "default": _to_json(self.default),
            "min": None if self.min is None else _to_json(self.min),
            "max": None if self.max is None else _to_json(self.max),
            "help": self.help,
        }

    def parse(self, raw: object) -> ParamValue:
        """Parse and bound-check one raw value; raises ``ValueError`` with a user-facing message."""
        value = _PARSERS[self.type](raw)
        if self.min is not None and value < self.min:  # type: ignore[operator]
            raise ValueError(f"must be at least {_to_json(self.min)}")
        if self.max is not None and value > self.max:  # type: ignore[operator]
            raise ValueError(f"must be at most {_to_json(self.max)}")
        return value


def _to_json(value: ParamValue) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value


def _parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("must be a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw.strip())
    if isinstance(raw, Decimal) and raw == raw.to_integral_value():
        return int(raw)
    raise ValueError("must be a whole number")


def _parse_decimal(raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, float):
        raw = repr(raw)
    try:
        value = Decimal(raw) if isinstance(raw, str | int | Decimal) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise ValueError("must be a number")
    return value


def _parse_time(raw: object) -> time:
    if isinstance(raw, time):
        return raw.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(raw, str):
        hours, sep, minutes = raw.strip().partition(":")
        if sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2:
            hour, minute = int(hours), int(minutes)
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise ValueError('must be a clock time "HH:MM"')


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return raw.strip().lower() in {"true", "1", "yes"}
    raise ValueError("must be true or false")


_PARSERS = {"int": _parse_int, "decimal": _parse_decimal, "time": _parse_time, "bool": _parse_bool}


class ParamSchema:
    """An ordered set of parameters with cross-field checks.

    ``checks`` are functions ``(values) -> {field: message}`` run only when every field parsed, for
    rules that involve two fields (e.g. fast period below slow period).
    """

    def __init__(self, params: Sequence[Param], checks: Sequence[Any] = ()) -> None:
        self.params: dict[str, Param] = {param.name: param for param in params}
        self.checks = tuple(checks)

    def defaults(self) -> dict[str, ParamValue]:
        return {name: param.default for name, param in self.params.items()}

    def as_data(self) -> list[dict[str, Any]]:
        return [param.as_data() for param in self.params.values()]

    def validate(self, raw: Mapping[str, object] | None) -> dict[str, ParamValue]:
        """Defaults overlaid with ``raw``, parsed and checked; raises ``ParameterError``."""
        raw = dict(raw or {})
        errors: dict[str, str] = {}
        for name in sorted(set(raw) - set(self.params)):
            errors[name] = "unknown parameter"
        values: dict[str, ParamValue] = {}
        for name, param in self.params.items():
            try:
                values[name] = param.parse(raw[name]) if name in raw else param.default
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            for check in self.checks:
                errors.update(check(values))
        if errors:
            raise ParameterError(errors)
        return values

    def to_json(self, values: Mapping[str, ParamValue]) -> dict[str, object]:
        """Validated values back to their JSON form (what the database stores)."""
        return {name: _to_json(value) for name, value in values.items()}


def _schemas() -> dict[str, ParamSchema]:
    # Imported late: the strategy modules import this module for Param/ParamSchema.
    from strategies.engine.registry import STRATEGY_KINDS

    return {kind: cls.schema for kind, cls in STRATEGY_KINDS.items()}


def schema_for(kind: str) -> list[dict[str, Any]]:
    """The parameter schema of a strategy kind as plain data: name, type, default, min, max, help."""
    schemas = _schemas()
    if kind not in schemas:
        raise ParameterError({"kind": f"unknown strategy kind {kind!r}; known: {sorted(schemas)}"})
    return schemas[kind].as_data()


def validate_params(kind: str, raw: Mapping[str, object] | None) -> dict[str, ParamValue]:
    """Validate raw (JSON) parameters for a strategy kind; raises ``ParameterError``."""
    schemas = _schemas()
    if kind not in schemas:
        raise ParameterError({"kind": f"unknown strategy kind {kind!r}; known: {sorted(schemas)}"})
    return schemas[kind].validate(raw)
