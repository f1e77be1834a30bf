"""The JSON global: JSON.stringify(value) and JSON.parse(text) (spec § 11)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import jsonutil
from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def stringify(value: Any = None) -> str:
    try:
        data = convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"JSON.stringify: {exc}") from None
    return jsonutil.dumps(data)


def parse(text: Any = None) -> Any:
    if not isinstance(text, bytes):
        raise ApiError(f"JSON.parse: expected a string, got {convert.describe(text)}")
    try:
        return jsonutil.loads(convert.decode(text))
    except json.JSONDecodeError as exc:
        raise ApiError(f"JSON parse error: {exc}") from None


def install(rt: Runtime, table: Any) -> None:
    table[b"stringify"] = rt.function(stringify, "JSON.stringify")
    table[b"parse"] = rt.function(parse, "JSON.parse")
