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

Every conversion is bounded (``Limits``, derived from ``runtime.security.max_memory_bytes``):
Lua -> Python counts the nodes it makes and the bytes of text it decodes, counting a
shared sub-table or string again each time it is expanded, and raises ``ValueTooLarge``
past either limit. Python -> Lua estimates the Lua memory each table will take and
refuses it (``Converter.ensure_room``) when it would not fit in the heap: an allocation
failing while Python pushes values into Lua cannot be caught (lupa deadlocks or aborts
the process), so it must never be attempted.

The limits belong to a run: each ``Runtime`` owns a ``Converter`` (``rt.converter``)
made from its own ``max_memory_bytes`` and stop check; adapters convert through it. The
module functions (``to_python``, ``to_lua``, ...) are for code without a run at hand and
use ``DEFAULT_LIMITS`` (those of the default memory cap).

Fast paths, each kept because ``benchmarks/bench_state.py`` shows it pays:
- both directions walk a table once (``items()`` for Lua tables, one ``table_from`` per
  table built bottom-up for Python data) with scalars converted inline;
- ``Converter.json_setter`` (``lua/convert.lua``): an adapter that stores its argument
  as JSON (``State.save``/``set``/``agent_set``/``tool_set``) gets the JSON text written
  in Lua (the same text ``json.dumps`` writes for ``to_python(value)``) instead of a
  walk through lupa; unusual values take the plain path;
- ``Converter.from_json`` with ``copying_getter``: a stored JSON text becomes Lua tables
  once, kept in a bounded memo keyed by the text (and primed with the copy
  ``json_setter`` builds while writing it); each load is a deep copy made in Lua. Keyed
  by content, it needs nothing from the store: no identity checks, no invalidation.
  (A Lua-side JSON parse for loads was tried too and measured no gain.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from lupa import luajit21 as lupa

from ..errors import ValueTooLarge

lua_type = lupa.lua_type
_DECODE = json.JSONDecoder().decode
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


class Limits(NamedTuple):
    nodes: int
    text_bytes: int


def limits_for(max_memory_bytes: int | None) -> Limits:
    memory = max_memory_bytes if max_memory_bytes and max_memory_bytes > 0 \
        else UNLIMITED_MEMORY_CAP
    return Limits(nodes=max(memory // BYTES_PER_NODE, MIN_NODES),
                  text_bytes=max(memory, 1024 * 1024))


# The limits of a conversion made without a run's ``Converter`` (code outside a run, or not
# yet handed one): those of the default ``max_memory_bytes``.
DEFAULT_MAX_MEMORY = 50_000_000
DEFAULT_LIMITS = limits_for(DEFAULT_MAX_MEMORY)

# Nodes handed out at a time: between two portions the run's stop check is asked, so a
# long conversion inside a callback still ends on time-out or Ctrl-C.
NODE_PORTION = 65_536


class Budget:
    """What one conversion may still make: nodes and bytes of text (shared by a call)."""

    __slots__ = ("limits", "nodes", "reserve", "stop_check", "text")

    def __init__(self, limits: Limits = DEFAULT_LIMITS,
                 stop_check: Callable[[], bool] | None = None) -> None:
        portion = min(limits.nodes, NODE_PORTION)
        self.limits = limits
        self.stop_check = stop_check
        self.nodes = portion
        self.reserve = limits.nodes - portion
        self.text = limits.text_bytes

    def over(self) -> None:
        """Called when a counter went below zero: refill nodes, or raise."""
        if self.nodes < 0 and self.reserve > 0:
            if self.stop_check is not None and self.stop_check():
                raise ValueTooLarge("conversion stopped (the run is ending)")
            while self.nodes < 0 and self.reserve > 0:
                portion = min(self.reserve, NODE_PORTION)
                self.reserve -= portion
                self.nodes += portion
            if self.nodes >= 0 and self.text >= 0:
                return
        if self.nodes < 0:
            raise too_many_nodes(self.limits)
        raise ValueTooLarge(f"value too large to convert (more than "
                            f"{self.limits.text_bytes} bytes of text; "
                            "runtime.security.max_memory_bytes)")

    def charge_text(self, raw: bytes) -> None:
        self.text -= len(raw)
        if self.text < 0:
            self.over()


_new_budget = object.__new__


def too_many_nodes(limits: Limits) -> ValueTooLarge:
    return ValueTooLarge(f"value too large to convert (more than {limits.nodes} nodes; "
                         "runtime.security.max_memory_bytes)")


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

    Pass one ``budget`` to several calls that convert parts of one value; without one the
    conversion is bounded by ``DEFAULT_LIMITS`` (a run's ``Converter`` passes its own).
    """
    kind = type(value)
    if kind is bytes:
        if budget is None:
            budget = Budget()
        budget.charge_text(value)
        return value.decode("utf-8", "surrogateescape")
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return _number(value)
    return _to_python(value, functions, 0, budget if budget is not None else Budget())


def _to_python(value: Any, functions: bool, depth: int, budget: Budget) -> Any:
    """A Lua table (or function) as Python; scalars inside are converted inline (one
    ``items()`` walk per table: indexing through lupa costs a call per element)."""
    lkind = lua_type(value)
    if lkind != "table":
        if functions and lkind == "function":
            return value
        raise TypeError("Unsupported Lua type for JSON conversion")
    if depth > MAX_DEPTH:
        raise TypeError("table nesting too deep (is there a cycle?)")
    pairs = list(value.items())  # bounded: the table is in the capped Lua heap
    count = len(pairs)
    budget.nodes -= 1 + count
    if budget.nodes < 0:
        budget.over()
    n = len(value) if count else 0  # #t: a list when 1..#t are all set
    if n == 0:
        return _record(pairs, functions, depth, budget)
    if count == n and all(k == i and type(k) is int for i, (k, _) in enumerate(pairs, 1)):
        items = [v for _, v in pairs]
    else:
        numbered = {k: v for k, v in pairs if type(k) is int}
        if not all(i in numbered for i in range(1, n + 1)):
            return _record(pairs, functions, depth, budget)
        items = [numbered[i] for i in range(1, n + 1)]
    out_list: list[Any] = []
    add = out_list.append
    for item in items:
        kind = type(item)
        if kind is bytes:
            budget.text -= len(item)
            if budget.text < 0:
                budget.over()
            add(item.decode("utf-8", "surrogateescape"))
        elif kind is int or kind is bool:
            add(item)
        elif kind is float:
            add(_number(item))
        else:
            add(_to_python(item, functions, depth + 1, budget))
    return out_list


def _record(pairs: list[tuple[Any, Any]], functions: bool, depth: int, budget: Budget
            ) -> dict[str, Any]:
    """A Lua table's ``(key, value)`` pairs (already counted as nodes) as a dict: string
    and number keys kept, other keys dropped."""
    out: dict[str, Any] = {}
    text = 0  # charged to the budget before a sub-table, a big string, or at the end
    for key, item in pairs:
        if type(key) is bytes:
            text += len(key)
            name: str | None = key.decode("utf-8", "surrogateescape")
        else:
            name = _key(key)
            if name is None:
                continue
        kind = type(item)
        if kind is bytes:
            text += len(item)
            out[name] = item.decode("utf-8", "surrogateescape")
        elif kind is int or kind is bool:
            out[name] = item
        elif kind is float:
            out[name] = _number(item)
        else:
            budget.text -= text
            text = 0
            if budget.text < 0:
                budget.over()
            out[name] = _to_python(item, functions, depth + 1, budget)
        if text > NODE_PORTION:
            budget.text -= text
            text = 0
            if budget.text < 0:
                budget.over()
    budget.text -= text
    if budget.text < 0:
        budget.over()
    return out


def result_to_python(value: Any, budget: Budget | None = None) -> Any:
    """Convert a script's return value as upstream's engine does.

    Never raises for odd values (they are repr'd); raises ``ValueTooLarge`` past the limits.
    """
    return _result(value, 0, budget if budget is not None else Budget())


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


def lua_free(runtime: lupa.LuaRuntime) -> int | None:
    """Bytes the Lua heap can still take before its limit (None when unlimited)."""
    limit = runtime.get_max_memory()
    if not limit or limit >= 2**63:
        return None
    used = runtime.get_memory_used() or 0
    if used >= 2**63:  # lupa counts from its start-up size: freeing that wraps around
        used -= 2**64
    return limit - used


KEY_MEMO = 4096  # encoded dict keys a converter remembers (result dicts repeat their keys)
# Values bigger than this take the Python path rather than the Lua encoder (it builds the
# text and a copy in the Lua heap; the Python path counts and bounds as it goes): at most
# these, and a small share of a capped heap (a heap near its cap collects on every
# allocation, so the encoder must stay well below it).
LUA_ENCODE_NODES = 65_536
LUA_ENCODE_TEXT = 1 << 20


def lua_encode_limits(max_memory: int | None) -> tuple[int, int]:
    """Nodes and bytes of text the Lua encoder takes on before leaving a value to the
    Python path: 1 node per KiB and 1/64 of the text of a capped heap."""
    if not max_memory or max_memory <= 0:
        return LUA_ENCODE_NODES, LUA_ENCODE_TEXT
    return (min(LUA_ENCODE_NODES, max(max_memory // 1024, 1024)),
            min(LUA_ENCODE_TEXT, max(max_memory // 64, 16 * 1024)))
MEMO_ENTRIES = 8192  # per generation of from_json's memo (two are kept)


def memo_bytes(max_memory: int | None) -> int:
    """Bytes of JSON text per generation of ``from_json``'s memo: a small share of the
    script's memory cap (1/128 of it, between 16 KB and 4 MB; 1 MB without a cap)."""
    if not max_memory or max_memory <= 0:
        return 1 << 20
    return min(4 << 20, max(16 << 10, max_memory // 128))


class Converter:
    """One run's conversions: its limits, its stop check and its Lua heap.

    The runtime owns one (``Runtime.converter``); adapters convert through it so that two
    runs in one process keep their own limits. ``to_python``/``result_to_python`` are
    the module's functions with this run's ``Budget``; ``to_lua`` builds tables bottom-up
    (one ``table_from`` per table, scalars inline, encoded dict keys remembered), checking
    the free heap before each table (``room_for``) so no allocation in Lua can fail.
    """

    def __init__(self, lua: lupa.LuaRuntime, max_memory_bytes: int | None = None,
                 stop_check: Callable[[], bool] | None = None, *, strict: bool = False
                 ) -> None:
        self.lua = lua
        self._max_memory = max_memory_bytes
        self.limits = limits_for(max_memory_bytes)
        self.stop_check = stop_check
        self._table_from = lua.table_from
        self._keys: dict[Any, Any] = {}
        # bytes pushed since the free heap was last checked (small values are only
        # counted); ``strict``: check before every table (a converter made for one call)
        self._unchecked = HEADROOM if strict else 0
        self._strict = strict
        self._kit: Any = None
        self._table, self._new_count = self._table_builder()
        # from_json's memo: JSON text -> a Lua table equal to it (see from_json)
        self.memo_bytes = memo_bytes(max_memory_bytes)
        self._young: dict[str, Any] = {}
        self._old: dict[str, Any] = {}
        self._young_bytes = 0
        # what budget() hands out: nodes a portion at a time (Budget.over refills)
        self._portion = min(self.limits.nodes, NODE_PORTION)

    # -- Lua -> Python -------------------------------------------------------------

    def budget(self) -> Budget:
        """A fresh ``Budget`` for one conversion (made without ``__init__``: this runs on
        every call that converts a table)."""
        budget = _new_budget(Budget)
        budget.limits = self.limits
        budget.stop_check = self.stop_check
        budget.nodes = self._portion
        budget.reserve = self.limits.nodes - self._portion
        budget.text = self.limits.text_bytes
        return budget

    def to_python(self, value: Any, functions: bool = False, budget: Budget | None = None
                  ) -> Any:
        """``to_python`` bounded by this run's limits (or by ``budget`` when given)."""
        kind = type(value)
        if kind is bytes and budget is None and len(value) <= self.limits.text_bytes:
            return value.decode("utf-8", "surrogateescape")
        if value is None or kind is bool or kind is int or kind is float or kind is bytes:
            return to_python(value, functions, budget or self.budget())
        return _to_python(value, functions, 0, budget if budget is not None else self.budget())

    def result_to_python(self, value: Any) -> Any:
        return _result(value, 0, self.budget())

    # -- fast paths -----------------------------------------------------------------

    def bind_lua(self, chunk: Any, abort: Any, no_memory: bytes, lost: Any) -> None:
        """Give the converter its Lua half (``lua/convert.lua``), compiled by the runtime
        in the private environment, with the run's abort token and ``lost`` handler."""
        nodes, text = lua_encode_limits(self._max_memory)
        self._kit = chunk(abort, no_memory, lost, MAX_DEPTH, min(self.limits.nodes, nodes),
                          min(self.limits.text_bytes, text))

    def json_setter(self, fast: Any, slow: Any, strings: int) -> Any:
        """A Lua function ``f(s1, [s2,] value)`` for an adapter that stores its last
        argument as JSON: when the first ``strings`` (1 or 2) arguments are strings and
        the value is plain data of modest size, Lua writes the JSON text (the same text
        ``json.dumps`` gives for ``to_python(value)``) and calls ``fast(s1, [s2,] text)``
        (a protocol-wrapped callable, see ``Runtime._protocol``); otherwise it calls
        ``slow`` (the adapter's plain Lua function) with the original arguments."""
        return self._kit[b"json_setter"](fast, slow, strings)

    def copying_getter(self, fn: Any) -> Any:
        """A Lua function around ``fn`` (protocol-wrapped) that answers ``from_json``'s
        value: a table it returns is deep copied in Lua before the script gets it."""
        return self._kit[b"copying_getter"](fn)

    def from_json(self, text: str | None) -> Any:
        """A stored JSON text as a Lua value, for a ``copying_getter`` only (a table may be
        one the converter keeps; the getter hands out a copy).

        Tables made from a text are remembered under that text (two generations, bounded
        by ``memo_bytes`` of text each), and so are the copies ``json_setter`` makes while
        writing a text (``remember``): loading a text again costs one deep copy in Lua
        instead of a decode and a conversion. Keyed by content, the memo needs no
        invalidation: a changed value has a different text.
        """
        if text is None:
            return None
        table = self._young.get(text)
        if table is not None:
            return table
        table = self._old.pop(text, None)
        if table is None:
            value = _DECODE(text)
            if type(value) is not dict and type(value) is not list:
                return value
            table = self.to_lua(value)
            if len(text) > self.memo_bytes // 4:
                return table
        self._remember(text, table)
        return table

    def remember(self, text: str, table: Any) -> None:
        """Let ``from_json`` answer ``text`` with ``table`` (a Lua table nobody else holds,
        equal to what decoding ``text`` gives: ``json_setter``'s copy)."""
        if lua_type(table) == "table" and len(text) <= self.memo_bytes // 4:
            self._old.pop(text, None)
            self._remember(text, table)

    def _remember(self, text: str, table: Any) -> None:
        self._young[text] = table
        self._young_bytes += len(text)
        if len(self._young) >= MEMO_ENTRIES or self._young_bytes >= self.memo_bytes:
            self._old, self._young, self._young_bytes = self._young, {}, 0

    # -- Python -> Lua -------------------------------------------------------------

    def ensure_room(self, cost: int) -> None:
        """Raise ``ValueTooLarge`` unless ``cost`` bytes fit in the heap (after a full GC).

        Without a memory limit, the conversion cap (``Limits.text_bytes``) applies instead.
        """
        free = lua_free(self.lua)
        if free is None:
            if cost > max(self.limits.text_bytes, 1) * 2:
                raise ValueTooLarge(f"value too large to convert (about {cost} bytes)")
            return
        if cost + HEADROOM <= free:
            return
        self.lua.gccollect()
        free = lua_free(self.lua) or 0
        if cost + HEADROOM > free:
            raise ValueTooLarge(
                f"not enough memory for the value (about {cost} bytes, {max(free, 0)} "
                "free; runtime.security.max_memory_bytes)")

    def room_for(self, cost: int) -> None:
        """``ensure_room`` for values of any size, cheap for small ones.

        Every callback starts with ``HEADROOM`` free (``Runtime._protocol``); small values
        are only counted, and the heap is checked again once half of that has been spent.
        """
        self._unchecked += cost
        if self._unchecked > HEADROOM // 2:
            self._unchecked = HEADROOM if self._strict else 0
            self.ensure_room(cost)

    def to_lua(self, value: Any) -> Any:
        """Convert plain Python data to Lua values (see the module docstring).

        Raises ``ValueTooLarge`` when a table would not fit in the Lua heap: nothing of
        that table has been allocated in Lua then.
        """
        kind = type(value)
        if kind is str:
            raw = value.encode("utf-8", "surrogateescape")
            self.room_for(len(raw) + STRING_COST)
            return raw
        if kind is dict or kind is list or kind is tuple:
            self._new_count()
            return self._table(value, 0)
        if value is None or kind is bool or kind is float:
            return value
        if kind is int:
            return value if -(2**63) <= value < 2**63 else float(value)
        if kind is bytes:
            self.room_for(len(value) + STRING_COST)
            return value
        if lua_type(value) is not None:  # a Lua value already (a table an adapter built)
            return value
        self._new_count()
        return self._odd(value, 0)

    def _odd(self, value: Any, depth: int) -> Any:
        """A subclass of a plain type (an enum, a ``str`` subclass...), as that type."""
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, str):
            return self.to_lua(str(value))
        if isinstance(value, int):
            return self.to_lua(int(value))
        if isinstance(value, float):
            return float(value)
        if isinstance(value, dict):
            return self._table(dict(value), depth)
        if isinstance(value, list | tuple):
            return self._table(list(value), depth)
        if lua_type(value) is not None:
            return value
        raise TypeError(f"cannot hand a Python {type(value).__name__} to Lua")

    def _key(self, key: Any) -> tuple[Any, int]:
        """A dict key for ``table_from`` and the bytes it adds."""
        kind = type(key)
        if kind is str:
            raw = self._keys.get(key)
            if raw is None:
                raw = key.encode("utf-8", "surrogateescape")
                if len(self._keys) < KEY_MEMO:
                    self._keys[key] = raw
            return raw, len(raw) + STRING_COST
        if kind is int:
            return (key, 0) if -(2**63) <= key < 2**63 else (float(key), 0)
        if kind is float or kind is bool:
            return key, 0
        if kind is bytes:
            return key, len(key) + STRING_COST
        if isinstance(key, str | int | float):
            return self._key(_plain(key))
        raise TypeError(f"cannot hand a Python {type(key).__name__} to Lua as a key")

    def _table_builder(self) -> tuple[Callable[[Any, int], Any], Callable[[], None]]:
        """``_table(value, depth)``: one Lua table from a dict or list, its sub-tables built
        first (a closure: the hot names are cells, not attribute lookups); and the
        function that starts a new count of nodes (one per ``to_lua`` call)."""
        table_from = self._table_from
        keys = self._keys
        limits = self.limits
        key_of = self._key
        half = HEADROOM // 2
        converter = self
        nodes = 0

        def new_count() -> None:
            nonlocal nodes
            nodes = 0

        def table(value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> Any:
            if depth > MAX_DEPTH:
                raise TypeError("value nesting too deep to convert to Lua")
            nonlocal nodes
            n = len(value)
            nodes += 1 + n
            if nodes > limits.nodes:
                raise too_many_nodes(limits)
            size = TABLE_COST + ENTRY_COST * n
            if type(value) is dict:
                out: Any = {}
                for k, v in value.items():
                    if v is None:
                        continue
                    kb = keys.get(k)  # only str keys are remembered
                    if kb is None:
                        kb, cost = key_of(k)
                        size += cost
                    else:
                        size += len(kb) + STRING_COST
                    kind = type(v)
                    if kind is str:
                        v = v.encode("utf-8", "surrogateescape")
                        size += len(v) + STRING_COST
                    elif kind is int:
                        if not -(2**63) <= v < 2**63:
                            v = float(v)
                    elif kind is dict or kind is list:
                        v = table(v, depth + 1)
                    elif not (kind is bool or kind is float):
                        v = converter._item(v, depth)
                        if type(v) is bytes:
                            size += len(v) + STRING_COST
                    out[kb] = v
            else:
                out = []
                append = out.append
                for v in value:
                    kind = type(v)
                    if kind is str:
                        v = v.encode("utf-8", "surrogateescape")
                        size += len(v) + STRING_COST
                    elif kind is int:
                        if not -(2**63) <= v < 2**63:
                            v = float(v)
                    elif kind is dict or kind is list:
                        v = table(v, depth + 1)
                    elif not (kind is bool or kind is float or v is None):
                        v = converter._item(v, depth)
                        if type(v) is bytes:
                            size += len(v) + STRING_COST
                    append(v)
            converter._unchecked += size  # room_for, inline
            if converter._unchecked > half:
                converter._unchecked = HEADROOM if converter._strict else 0
                converter.ensure_room(size)
            return table_from(out)

        return table, new_count

    def _item(self, v: Any, depth: int) -> Any:
        """A value inside a table that is not a plain scalar: a table (built now), bytes,
        a Lua value, or a subclass of a plain type."""
        kind = type(v)
        if kind is dict or kind is list or kind is tuple:
            return self._table(v, depth + 1)
        if kind is bytes:
            return v
        if lua_type(v) is not None:
            return v
        plain = _plain(v)
        if type(plain) is str:
            return plain.encode("utf-8", "surrogateescape")
        if type(plain) is dict or type(plain) is list:
            return self._table(plain, depth + 1)
        return plain


def _plain(value: Any) -> Any:
    """A subclass of a plain type as that type; anything else raises ``TypeError``."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        value = int(value)
        return value if -(2**63) <= value < 2**63 else float(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"cannot hand a Python {type(value).__name__} to Lua")


def ensure_room(runtime: lupa.LuaRuntime, cost: int) -> None:
    """``Converter.ensure_room`` for code that has no run's converter."""
    Converter(runtime).ensure_room(cost)


def to_lua(runtime: lupa.LuaRuntime, value: Any) -> Any:
    """``Converter.to_lua`` for code that has no run's converter: default limits, and the
    free heap checked before every table (a run's converter batches small ones)."""
    return Converter(runtime, strict=True).to_lua(value)


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
