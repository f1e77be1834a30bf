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

Every conversion is bounded (``Limits``, derived from ``runtime.security.max_memory_bytes``
by ``configure``): Lua -> Python counts the nodes it makes and the bytes of text it
decodes, counting a shared sub-table or string again each time it is expanded, and raises
``ValueTooLarge`` past either limit. Python -> Lua estimates the Lua memory a value will
take (``Cost``) and refuses it (``ensure_room``) when it would not fit in the heap:
an allocation failing while Python pushes values into Lua cannot be caught (lupa deadlocks
or aborts the process), so it must never be attempted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lupa import luajit21 as lupa

from ..errors import ValueTooLarge

lua_type = lupa.lua_type
MAX_DEPTH = 200

# When max_memory_bytes is 0 (unlimited), conversions are still bounded as if it were this.
UNLIMITED_MEMORY_CAP = 256 * 2**20
# One converted node per this many bytes of the Lua heap: a value the script could really
# hold (an array of numbers costs 8 bytes a slot, a small table 64+) passes; a table that
# reuses sub-tables (2^20 leaves from 21 tables) is refused after a bounded amount of work.
BYTES_PER_NODE = 64
MIN_NODES = 10_000
# Estimated Lua memory (upper bounds, measured on LuaJIT 2.1 GC64): a string is its bytes
# plus a header and its share of the intern table; a table a header plus, per entry, a
# hash node or an array slot with room for the doubling that happens while it is filled.
STRING_COST = 40
TABLE_COST = 96
ENTRY_COST = 48
# Free heap that must remain after a value is pushed into Lua: what the adapters and
# the protocol allocate for small things (an error message, a few small tables).
HEADROOM = 256 * 1024


@dataclass(frozen=True)
class Limits:
    nodes: int
    text_bytes: int


def limits_for(max_memory_bytes: int | None) -> Limits:
    memory = max_memory_bytes if max_memory_bytes and max_memory_bytes > 0 \
        else UNLIMITED_MEMORY_CAP
    return Limits(nodes=max(memory // BYTES_PER_NODE, MIN_NODES),
                  text_bytes=max(memory, 1024 * 1024))


_limits = limits_for(None)


def configure(max_memory_bytes: int | None, stop_check: Callable[[], bool] | None = None
              ) -> None:
    """Set the conversion limits from the run's ``max_memory_bytes`` (one run a process),
    and the check that says the run must stop (asked every ``NODE_PORTION`` nodes)."""
    global _limits, _stop_check
    _limits = limits_for(max_memory_bytes)
    _stop_check = stop_check


def limits() -> Limits:
    return _limits


# Nodes handed out at a time: between two portions the run's stop check is asked, so a
# long conversion inside a callback still ends on time-out or Ctrl-C.
NODE_PORTION = 65_536
_stop_check: Callable[[], bool] | None = None


class Budget:
    """What one conversion may still make: nodes and bytes of text (shared by a call)."""

    __slots__ = ("nodes", "reserve", "text")

    def __init__(self) -> None:
        portion = min(_limits.nodes, NODE_PORTION)
        self.nodes = portion
        self.reserve = _limits.nodes - portion
        self.text = _limits.text_bytes

    def over(self) -> None:
        """Called when a counter went below zero: refill nodes, or raise."""
        if self.nodes < 0 and self.reserve > 0:
            if _stop_check is not None and _stop_check():
                raise ValueTooLarge("conversion stopped (the run is ending)")
            while self.nodes < 0 and self.reserve > 0:
                portion = min(self.reserve, NODE_PORTION)
                self.reserve -= portion
                self.nodes += portion
            if self.nodes >= 0 and self.text >= 0:
                return
        if self.nodes < 0:
            raise ValueTooLarge(f"value too large to convert (more than {_limits.nodes} "
                                "nodes; runtime.security.max_memory_bytes)")
        raise ValueTooLarge(f"value too large to convert (more than {_limits.text_bytes} "
                            "bytes of text; runtime.security.max_memory_bytes)")

    def charge_text(self, raw: bytes) -> None:
        self.text -= len(raw)
        if self.text < 0:
            self.over()


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


def to_python(value: Any, functions: bool = False, budget: Budget | None = None) -> Any:
    """Convert a Lua value to plain Python data (see module docstring).

    Pass one ``budget`` to several calls that convert parts of one value.
    """
    if type(value) is bytes:
        if budget is None:
            budget = Budget()
        budget.charge_text(value)
        return decode(value)
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    return _to_python(value, functions, 0, budget if budget is not None else Budget())


def _to_python(value: Any, functions: bool, depth: int, budget: Budget) -> Any:
    kind = type(value)
    if kind is bytes:
        budget.text -= len(value)
        if budget.text < 0:
            budget.over()
        return value.decode("utf-8", "surrogateescape")
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return _number(value)
    lkind = lua_type(value)
    if lkind == "table":
        if depth > MAX_DEPTH:
            raise TypeError("table nesting too deep (is there a cycle?)")
        n = len(value)
        budget.nodes -= 1 + n
        if budget.nodes < 0:
            budget.over()
        if n > 0:
            items = [value[i] for i in range(1, n + 1)]
            if all(item is not None for item in items):
                return [_to_python(item, functions, depth + 1, budget) for item in items]
        out: dict[str, Any] = {}
        for key, item in value.items():
            budget.nodes -= 1
            if budget.nodes < 0:
                budget.over()
            if type(key) is bytes:
                budget.text -= len(key)
                name: str | None = key.decode("utf-8", "surrogateescape")
            else:
                name = _key(key)
            if name is not None:
                out[name] = _to_python(item, functions, depth + 1, budget)
        return out
    if functions and lkind == "function":
        return value
    raise TypeError("Unsupported Lua type for JSON conversion")


def result_to_python(value: Any) -> Any:
    """Convert a script's return value as upstream's engine does.

    Never raises for odd values (they are repr'd); raises ``ValueTooLarge`` past the limits.
    """
    return _result(value, 0, Budget())


def _result(value: Any, depth: int, budget: Budget) -> Any:
    if type(value) is bytes:
        budget.charge_text(value)
        return decode(value)
    scalar = _scalar(value)
    if scalar is not _NOT_SCALAR:
        return scalar
    kind = lua_type(value)
    if kind == "table" and depth <= MAX_DEPTH:
        budget.nodes -= 1
        keys = []
        for key in value.keys():
            budget.nodes -= 1
            if budget.nodes < 0:
                budget.over()
            keys.append(key)
        n = len(value)
        if n > 0 and len(keys) == n and all(value[i] is not None for i in range(1, n + 1)):
            return [_result(value[i], depth + 1, budget) for i in range(1, n + 1)]
        out: dict[str, Any] = {}
        for k in keys:
            if isinstance(k, bytes):
                budget.charge_text(k)
                out[decode(k)] = _result(value[k], depth + 1, budget)
        return out
    return f"<{kind or type(value).__name__}>"


class Cost:
    """The Lua memory a Python value will take once converted (an upper bound)."""

    __slots__ = ("bytes", "nodes")

    def __init__(self) -> None:
        self.bytes = 0
        self.nodes = 0


def _prepare(value: Any, depth: int = 0, cost: Cost | None = None) -> Any:
    """Turn Python data into what ``table_from`` can take (strings as bytes), adding the
    Lua memory it will take to ``cost``."""
    if cost is None:
        cost = Cost()
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        cost.bytes += len(raw) + STRING_COST
        return raw
    if kind is dict or kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            raise TypeError("value nesting too deep to convert to Lua")
        return _prepare_table(value, depth, cost)
    if kind is bytes:
        cost.bytes += len(value) + STRING_COST
        return value
    if value is None or kind is bool or kind is float:
        return value
    if kind is int:
        return value if -(2**63) <= value < 2**63 else float(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return _prepare(str(value), depth, cost)
    if isinstance(value, int):
        return _prepare(int(value), depth, cost)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict | list | tuple):
        return _prepare(dict(value) if isinstance(value, dict) else list(value), depth, cost)
    if lua_type(value) is not None:
        return value
    raise TypeError(f"cannot hand a Python {type(value).__name__} to Lua")


def _prepare_table(value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int,
                   cost: Cost) -> Any:
    """A dict or list for ``table_from``: scalars inline, containers through ``_prepare``."""
    n = len(value)
    cost.nodes += 1 + n
    if cost.nodes > _limits.nodes:
        raise ValueTooLarge(f"value too large to convert (more than {_limits.nodes} "
                            "nodes; runtime.security.max_memory_bytes)")
    size = TABLE_COST + ENTRY_COST * n
    if type(value) is dict:
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if v is None:
                continue
            if type(k) is str:
                k = k.encode("utf-8", "surrogateescape")
                size += len(k) + STRING_COST
            elif not (type(k) is int or type(k) is float or type(k) is bool):
                k = _prepare(k, depth + 1, cost)
            kind = type(v)
            if kind is str:
                v = v.encode("utf-8", "surrogateescape")
                size += len(v) + STRING_COST
            elif kind is int:
                if not -(2**63) <= v < 2**63:
                    v = float(v)
            elif not (kind is bool or kind is float):
                v = _prepare(v, depth + 1, cost)
            out[k] = v
        cost.bytes += size
        return out
    items: list[Any] = []
    append = items.append
    for v in value:
        kind = type(v)
        if kind is str:
            v = v.encode("utf-8", "surrogateescape")
            size += len(v) + STRING_COST
        elif kind is int:
            if not -(2**63) <= v < 2**63:
                v = float(v)
        elif not (kind is bool or kind is float or v is None):
            v = _prepare(v, depth + 1, cost)
        append(v)
    cost.bytes += size
    return items


def lua_free(runtime: lupa.LuaRuntime) -> int | None:
    """Bytes the Lua heap can still take before its limit (None when unlimited)."""
    limit = runtime.get_max_memory()
    if not limit or limit >= 2**63:
        return None
    used = runtime.get_memory_used() or 0
    if used >= 2**63:  # lupa counts from its start-up size: freeing that wraps around
        used -= 2**64
    return limit - used


def ensure_room(runtime: lupa.LuaRuntime, cost: int) -> None:
    """Raise ``ValueTooLarge`` unless ``cost`` bytes fit in the heap (after a full GC).

    Without a memory limit, the conversion cap (``Limits.text_bytes``) applies instead.
    """
    free = lua_free(runtime)
    if free is None:
        if cost > max(_limits.text_bytes, 1) * 2:
            raise ValueTooLarge(f"value too large to convert (about {cost} bytes)")
        return
    if cost + HEADROOM <= free:
        return
    runtime.gccollect()
    free = lua_free(runtime) or 0
    if cost + HEADROOM > free:
        raise ValueTooLarge(
            f"not enough memory for the value (about {cost} bytes, {max(free, 0)} free; "
            f"runtime.security.max_memory_bytes)")


_unchecked = 0  # bytes pushed since the free heap was last checked (all small values)


def room_for(runtime: lupa.LuaRuntime, cost: int) -> None:
    """``ensure_room`` for values of any size, cheap for small ones.

    Every callback starts with ``HEADROOM`` free (``Runtime._protocol``); small values are
    only counted, and the heap is checked again once half of that has been spent.
    """
    global _unchecked
    _unchecked += cost
    if _unchecked > HEADROOM // 2:
        _unchecked = 0
        ensure_room(runtime, cost)


def to_lua(runtime: lupa.LuaRuntime, value: Any) -> Any:
    """Convert plain Python data to Lua values (tables built recursively).

    Raises ``ValueTooLarge`` when the value would not fit in the Lua heap: nothing has been
    allocated in Lua then.
    """
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        room_for(runtime, len(raw) + STRING_COST)
        return raw
    if kind is dict or kind is list or kind is tuple:
        cost = Cost()
        prepared = _prepare_table(value, 0, cost)
        room_for(runtime, cost.bytes)
        return runtime.table_from(prepared, recursive=True)
    if kind is bytes:
        room_for(runtime, len(value) + STRING_COST)
        return value
    if value is None or kind is bool or kind is float:
        return value
    if lua_type(value) is not None:  # a Lua value already (a table an adapter built)
        return value
    cost = Cost()
    prepared = _prepare(value, 0, cost)
    room_for(runtime, cost.bytes)
    if type(prepared) is dict or type(prepared) is list:
        return runtime.table_from(prepared, recursive=True)
    return prepared


def lua_error_text(exc: BaseException) -> str:
    """The message of a ``lupa.LuaError`` without its Lua traceback, as text."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = decode(text)
    return str(text).split("\nstack traceback:")[0]


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
