"""JSON as upstream writes it: compact, keys sorted, integral numbers without a decimal."""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                            allow_nan=False)
_PRETTY = json.JSONEncoder(ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys (serde_json's default)."""
    return _ENCODER.encode(value)


def dumps_pretty(value: Any) -> str:
    """Two-space indented JSON with sorted keys (serde_json's to_string_pretty)."""
    return _PRETTY.encode(value)


def loads(text: str) -> Any:
    return json.loads(text)


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
