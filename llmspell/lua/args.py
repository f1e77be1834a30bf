"""Argument checks for the Lua API: one set of rules, one message shape.

Every check takes the value as lupa hands it over (strings as ``bytes``, numbers as
``int``/``float``, ``None`` for nil, Lua tables and functions as lupa objects), the name
of the Lua function (``"Workflow.sequential"``, ``"WorkflowBuilder:timeout_ms"``) and the
argument's position, and raises ``ApiError`` with one message shape::

    Workflow.sequential: argument #1 must be a table, got string
    Hook.register: argument #2 (callback) must be a function, got nil

(``name`` adds the parenthesised argument name). Where the spec gives upstream's own
text for a failure, the adapter raises that text itself.

Rules, the same for every global:
- ``text`` accepts Lua strings and numbers. Upstream converts arguments with mlua's
  ``String``, which takes a number and gives its text (as Lua's own string library does);
  a number becomes the text Lua's ``tostring`` prints (``3`` -> ``"3"``, ``2.5`` ->
  ``"2.5"``). Booleans, nil, tables and functions are refused.
- ``number`` accepts numbers only (not numeric strings, not booleans); ``integer`` also
  wants a whole number, ``minimum`` bounds it.
- ``boolean`` accepts ``true``/``false`` only; ``truthy`` is Lua truthiness (nil/false).
- ``table`` checks the type and returns the Lua table; ``data`` converts any value to
  plain Python through ``convert.to_python`` (functions refused unless asked for).
- every ``optional_*`` check returns ``default`` for nil and checks anything else.
- ``fields`` is a table of named fields (options, configs) as a dict: ``{}`` and an
  empty array give ``{}``, a non-empty array is refused. ``names`` is an array of strings
  (``{}`` gives ``[]``).
- ``field`` checks one entry of such a dict; its message names the field, not an
  argument: ``Session.list: limit must be an integer``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ApiError
from . import convert

describe = convert.describe


def bad_argument(fn: str, position: int, expected: str, value: Any,
                 name: str | None = None) -> ApiError:
    """The error for a wrong argument: ``fn: argument #N (name) must be X, got T``."""
    return ApiError(f"{fn}: {_label(position, name)} must be {expected}, "
                    f"got {describe(value)}")


def _label(position: int, name: str | None) -> str:
    return f"argument #{position}" + (f" ({name})" if name else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_text(value: int | float) -> str:
    """A number as Lua's ``tostring`` writes it (``%.14g``: ``3``, ``2.5``, ``1e+20``)."""
    return f"{value:.14g}"


def text(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> str:
    """A string argument (a number is taken as its text, as upstream's mlua does)."""
    if isinstance(value, bytes):
        return convert.decode(value)
    if _is_number(value):
        return number_text(value)
    raise bad_argument(fn, position, "a string", value, name)


def optional_text(value: Any, fn: str, position: int = 1, *, name: str | None = None,
                  default: str | None = None) -> str | None:
    return default if value is None else text(value, fn, position, name=name)


def number(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> int | float:
    if not _is_number(value):
        raise bad_argument(fn, position, "a number", value, name)
    return value


def optional_number(value: Any, fn: str, position: int = 1, *, name: str | None = None,
                    default: int | float | None = None) -> int | float | None:
    return default if value is None else number(value, fn, position, name=name)


def integer(value: Any, fn: str, position: int = 1, *, name: str | None = None,
            minimum: int | None = None) -> int:
    """A whole number, at least ``minimum`` when given."""
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if not _is_number(value) or value != int(value):
        raise bad_argument(fn, position, expected, value, name)
    if minimum is not None and value < minimum:
        raise ApiError(f"{fn}: {_label(position, name)} must be {expected}, "
                       f"got {number_text(value)}")
    return int(value)


def optional_integer(value: Any, fn: str, position: int = 1, *, name: str | None = None,
                     minimum: int | None = None, default: int | None = None) -> int | None:
    return default if value is None else integer(value, fn, position, name=name,
                                                 minimum=minimum)


def boolean(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise bad_argument(fn, position, "a boolean", value, name)
    return value


def truthy(value: Any) -> bool:
    """Lua truthiness: everything but nil and false is true."""
    return value is not None and value is not False


def table(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> Any:
    """A Lua table argument, returned as the Lua table."""
    if convert.lua_type(value) != "table":
        raise bad_argument(fn, position, "a table", value, name)
    return value


def function(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> Any:
    """A Lua function argument, returned as the Lua function."""
    if convert.lua_type(value) != "function":
        raise bad_argument(fn, position, "a function", value, name)
    return value


def optional_function(value: Any, fn: str, position: int = 1, *,
                      name: str | None = None) -> Any:
    return None if value is None else function(value, fn, position, name=name)


def one_of(value: Any, choices: Iterable[str], fn: str, position: int = 1, *,
           name: str | None = None) -> str:
    """A string that must be one of ``choices``."""
    options = list(choices)
    got = text(value, fn, position, name=name)
    if got not in options:
        raise ApiError(f"{fn}: {_label(position, name)} must be one of "
                       f"{', '.join(options)}, got '{got}'")
    return got


def data(value: Any, fn: str, *, functions: bool = False) -> Any:
    """Any Lua value as plain Python data (``convert.to_python``); a value that cannot be
    converted (a function, a cycle) raises ``fn: <why>``. With ``functions``, Lua
    functions stay as they are (opaque handles for the service to call back)."""
    try:
        return convert.to_python(value, functions=functions)
    except TypeError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def table_data(value: Any, fn: str, position: int = 1, *, name: str | None = None,
               functions: bool = False) -> Any:
    """A table argument converted to plain Python (a list or a dict)."""
    return data(table(value, fn, position, name=name), fn, functions=functions)


def fields(value: Any, fn: str, position: int = 1, *, name: str | None = None,
           functions: bool = False) -> dict[str, Any]:
    """A table of named fields as a dict (``{}`` or an empty array: ``{}``)."""
    got = table_data(value, fn, position, name=name, functions=functions)
    if got == [] or got == {}:
        return {}
    if not isinstance(got, dict):
        raise ApiError(f"{fn}: {_label(position, name)} must be a table of named fields, "
                       "got an array")
    return got


def optional_fields(value: Any, fn: str, position: int = 1, *, name: str | None = None,
                    functions: bool = False) -> dict[str, Any]:
    """``fields``, or ``{}`` for nil."""
    return {} if value is None else fields(value, fn, position, name=name,
                                           functions=functions)


def names(value: Any, fn: str, position: int = 1, *, name: str | None = None) -> list[str]:
    """An array of strings (``{}`` is the empty array)."""
    got = table_data(value, fn, position, name=name)
    if got == {}:
        return []
    if not isinstance(got, list) or not all(isinstance(item, str) for item in got):
        raise ApiError(f"{fn}: {_label(position, name)} must be an array of strings")
    return got


FIELD_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "number": ("a number", _is_number),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "table": ("a table", lambda v: isinstance(v, dict | list)),
    "fields": ("a table of named fields", lambda v: isinstance(v, dict) or v == []),
    "names": ("an array of strings",
              lambda v: v == {} or isinstance(v, list) and all(isinstance(x, str) for x in v)),
}


def field(data: dict[str, Any], key: str, kind: str, fn: str, default: Any = None) -> Any:
    """``data[key]`` (converted data) when it is of ``kind`` (a ``FIELD_KINDS`` name),
    ``default`` when absent; anything else raises ``fn: key must be <kind>``."""
    value = data.get(key)
    if value is None:
        return default
    expected, accepts = FIELD_KINDS[kind]
    if not accepts(value):
        raise ApiError(f"{fn}: {key} must be {expected}")
    if kind == "names" and value == {}:
        return []
    if kind == "fields" and value == []:
        return {}
    return value
