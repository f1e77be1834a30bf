"""The one place where values cross between Lua and Python.

The runtime uses ``encoding=None``, so Lua strings arrive as ``bytes`` and are decoded
here (UTF-8, with ``surrogateescape`` so non-UTF-8 bytes survive a round trip).

Lua -> Python (``to_python``), upstream's ``lua_value_to_json`` rules:
- a table whose ``#t > 0`` and whose keys ``1..#t`` are all set is a list (other keys
  are dropped); anything else is a dict: string keys kept, number keys become their
  decimal strings, other keys skipped; the empty table is ``{}``;
- NaN and infinities become ``None``; functions and userdata raise ``TypeError``
  ("Unsupported Lua type for JSON conversion") unless ``functions=True``.
``result_to_python`` is the stricter engine-level converter for a script's return value
(a list only when there are no other keys; only string keys kept; other values repr'd).

Python -> Lua (``to_lua``): dict/list/tuple become tables recursively, ``str`` becomes a
UTF-8 Lua string, ``None`` is ``nil`` (a hole in a list, an absent key in a dict).
Lua values (tables, functions) pass through. Other Python objects are refused: Lua
must never hold a Python object.
"""

from __future__ import annotations

import math
from typing import Any

from lupa import luajit21 as lupa

lua_type = lupa.lua_type
MAX_DEPTH = 200


class LuaMulti(tuple):
    """Returned by an adapter to give Lua several return values."""


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _number(value: float) -> int | float | None:
    if value != value or value in (math.inf, -math.inf):
        return None
    if value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _key(key: Any) -> str | None:
    if isinstance(key, bytes):
        return decode(key)
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return str(int(key)) if key.is_integer() else repr(key)
    return None


_NOT_SCALAR = object()


def _scalar(value: Any) -> Any:
    """A Lua string, number, boolean or nil as Python; ``_NOT_SCALAR`` for anything else."""
    if isinstance(value, bytes):
        return decode(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return _number(value)
    return _NOT_SCALAR


def to_python(value: Any, functions: bool = False, _depth: int = 0) -> Any:
    """Convert a Lua value to plain Python data (see module docstring)."""
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    kind = lua_type(value)
    if kind == "table":
        if _depth > MAX_DEPTH:
            raise TypeError("table nesting too deep (is there a cycle?)")
        n = len(value)
        if n > 0:
            items = [value[i] for i in range(1, n + 1)]
            if all(item is not None for item in items):
                return [to_python(item, functions, _depth + 1) for item in items]
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _key(key)
            if name is not None:
                out[name] = to_python(item, functions, _depth + 1)
        return out
    if functions and kind == "function":
        return value
    raise TypeError("Unsupported Lua type for JSON conversion")


def result_to_python(value: Any, _depth: int = 0) -> Any:
    """Convert a script's return value as upstream's engine does (never raises)."""
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    kind = lua_type(value)
    if kind == "table" and _depth <= MAX_DEPTH:
        keys = list(value.keys())
        n = len(value)
        if n > 0 and len(keys) == n and all(value[i] is not None for i in range(1, n + 1)):
            return [result_to_python(value[i], _depth + 1) for i in range(1, n + 1)]
        return {decode(k): result_to_python(value[k], _depth + 1)
                for k in keys if isinstance(k, bytes)}
    return f"<{kind or type(value).__name__}>"


def _prepare(value: Any, depth: int = 0) -> Any:
    """Turn Python data into what ``table_from`` can take (strings as bytes)."""
    if isinstance(value, str):
        return encode(value)
    if value is None or isinstance(value, bool | float | bytes):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else float(value)
    if depth > MAX_DEPTH:
        raise TypeError("value nesting too deep to convert to Lua")
    if isinstance(value, dict):
        return {(encode(k) if isinstance(k, str) else k): _prepare(v, depth + 1)
                for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_prepare(v, depth + 1) for v in value]
    if lua_type(value) is not None:
        return value
    raise TypeError(f"cannot hand a Python {type(value).__name__} to Lua")


def to_lua(runtime: lupa.LuaRuntime, value: Any) -> Any:
    """Convert plain Python data to Lua values (tables built recursively)."""
    if isinstance(value, str):
        return encode(value)
    if isinstance(value, dict | list | tuple):
        return runtime.table_from(_prepare(value), recursive=True)
    return _prepare(value)


def text_arg(value: Any, fn: str, position: int, what: str = "string") -> str:
    """Check a string argument; raise the error Lua scripts expect if it is not one."""
    from ..errors import ApiError

    if isinstance(value, bytes):
        return decode(value)
    raise ApiError(f"{fn}: argument #{position} must be a {what}, got {describe(value)}")


def describe(value: Any) -> str:
    """The Lua type name of a value, for error messages."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, bytes):
        return "string"
    return lua_type(value) or type(value).__name__
