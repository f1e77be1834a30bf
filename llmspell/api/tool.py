"""The Tool global (TOOLS.md §1): list, get, invoke, exists, categories, discover,
and ``Tool.<name>`` lookups through a metatable. There is no ``Tool.execute``.

Every call runs through ``ToolService.invoke`` (see ``llmspell/tools/service.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert
from ..tools.service import ToolFailed, ToolService

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def tool_service(rt: Runtime) -> ToolService:
    """The run's ToolService (``rt.services.tools``, made on first use)."""
    return rt.services.tools


def lua_converter(rt: Runtime) -> Any:
    """A faster ``convert.to_lua`` for result dicts (type dispatch, tables built bottom-up,
    scalar values inlined, encoded keys memoised).

    Same rules: str -> UTF-8 bytes, None values dropped from dicts (holes in lists),
    ints outside int64 -> float; anything unusual goes to ``convert.to_lua``. Same bound:
    the estimated Lua size is counted as tables are built and checked against the free
    heap before each one (``convert.ensure_room``), so no allocation in Lua can fail.
    """
    table_from = rt.lua.table_from
    lua = rt.lua
    keys: dict[Any, Any] = {}
    string_cost, table_cost, entry_cost = (convert.STRING_COST, convert.TABLE_COST,
                                           convert.ENTRY_COST)
    # Estimated bytes built since the free heap was last checked, kept across calls: up to
    # 4 KiB of small results are only counted (callbacks start with convert.HEADROOM free).
    pending = 0

    def conv(v: Any) -> Any:
        nonlocal pending
        t = type(v)
        if t is str:
            raw = v.encode("utf-8", "surrogateescape")
            pending += len(raw) + string_cost
            if pending > 4096:  # what was checked before is allocated by now
                convert.room_for(lua, pending)
                pending = 0
            return raw
        if t is dict:
            out = {}
            size = table_cost
            for k, x in v.items():
                if x is None:
                    continue
                kb = keys.get(k)
                if kb is None:
                    kb = k.encode("utf-8", "surrogateescape") if type(k) is str else k
                    if len(keys) < 4096:
                        keys[k] = kb
                    if type(kb) is bytes:
                        size += len(kb) + string_cost
                size += entry_cost
                tx = type(x)
                if tx is str:
                    raw = x.encode("utf-8", "surrogateescape")
                    size += len(raw) + string_cost
                    out[kb] = raw
                elif tx is bool or tx is float or (tx is int and -(2**63) <= x < 2**63):
                    out[kb] = x
                else:
                    out[kb] = conv(x)
            pending += size
            if pending > 4096:
                convert.room_for(lua, pending)
                pending = 0
            return table_from(out)
        if t is list:
            items = [conv(x) for x in v]
            pending += table_cost + entry_cost * len(items)
            if pending > 4096:
                convert.room_for(lua, pending)
                pending = 0
            return table_from(items)
        if t is bool or t is float or v is None:
            return v
        if t is int:
            return v if -(2**63) <= v < 2**63 else float(v)
        return convert.to_lua(lua, v)

    return conv


def _params(value: Any, fn: str, position: int) -> dict[str, Any]:
    if convert.lua_type(value) != "table":
        raise ApiError(f"{fn}: argument #{position} (params) must be a table, "
                       f"got {convert.describe(value)}")
    try:
        if len(value) == 0:  # no array part: a flat record, converted here (hot path)
            data = {}
            budget = None  # one conversion budget for the whole record (convert.Budget)
            text_left = convert.limits().text_bytes
            for key, item in value.items():
                name = (key.decode("utf-8", "surrogateescape") if type(key) is bytes
                        else convert._key(key))
                if name is None:
                    continue
                kind = type(item)
                if kind is bytes:
                    text_left -= len(item)
                    if text_left < 0:  # the same big string under many keys
                        budget = convert.Budget()
                        budget.text = text_left
                        budget.over()
                    item = item.decode("utf-8", "surrogateescape")
                elif kind is float:
                    item = convert._number(item)
                elif not (kind is bool or kind is int):
                    if budget is None:
                        budget = convert.Budget()
                    budget.text = text_left
                    item = convert.to_python(item, budget=budget)
                    text_left = budget.text
                data[name] = item
        else:
            data = convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: cannot convert params: {exc}") from None
    if isinstance(data, list):
        raise ApiError(f"{fn}: argument #{position} (params) must be a table of named "
                       "parameters, got an array")
    return data


def install(rt: Runtime, table: Any) -> None:
    service = tool_service(rt)
    setmetatable = rt.setmetatable
    to_lua = lua_converter(rt)

    def invoke(name: Any = None, params: Any = None) -> Any:
        tool_name = (name.decode("utf-8", "surrogateescape") if type(name) is bytes
                     else convert.text_arg(name, "Tool.invoke", 1))
        return to_lua(service.invoke(tool_name, _params(params, "Tool.invoke", 2)))

    def executor(tool_name: str) -> Any:
        label = f"Tool.{tool_name}:execute"

        def execute(_self: Any = None, params: Any = None) -> Any:
            args = _params(params, label, 2)
            try:
                return to_lua(service.invoke(tool_name, args))
            except ToolFailed as exc:
                raise ApiError(f"Tool '{tool_name}' execution failed: {exc.cause}") from None

        return rt.function(execute, label)

    def schema_of(tool_name: str) -> dict[str, Any]:
        spec = service.get(tool_name)
        assert spec is not None
        return spec.lua_schema()

    def get(name: Any = None) -> Any:
        tool_name = convert.text_arg(name, "Tool.get", 1)
        spec = service.get(tool_name)
        if spec is None:
            return None
        obj = rt.table({"name": spec.name, "description": spec.description,
                        "version": spec.version, "schema": spec.lua_schema()})
        obj[b"execute"] = executor(spec.name)
        return obj

    def index(_table: Any = None, key: Any = None) -> Any:
        if not isinstance(key, bytes):
            return None
        tool_name = convert.decode(key)
        spec = service.get(tool_name)
        if spec is None:
            return None
        obj = rt.table({"name": spec.name, "description": spec.description})
        obj[b"execute"] = executor(spec.name)
        obj[b"getSchema"] = rt.function(lambda *_: schema_of(tool_name),
                                        f"Tool.{tool_name}.getSchema")
        return obj

    def list_tools() -> Any:
        return service.summaries()

    def exists(name: Any = None) -> bool:
        return isinstance(name, bytes) and service.exists(convert.decode(name))

    def categories() -> Any:
        return service.categories()

    def discover(filt: Any = None) -> Any:
        category = tag = None
        if filt is not None:
            if convert.lua_type(filt) != "table":
                raise ApiError("Tool.discover: argument #1 (filter) must be a table, "
                               f"got {convert.describe(filt)}")
            raw_cat, raw_tag = filt[b"category"], filt[b"tag"]
            category = convert.decode(raw_cat) if isinstance(raw_cat, bytes) else None
            tag = convert.decode(raw_tag) if isinstance(raw_tag, bytes) else None
        return service.discover(category, tag)

    table[b"invoke"] = rt.function(invoke, "Tool.invoke")
    table[b"list"] = rt.function(list_tools, "Tool.list")
    table[b"get"] = rt.function(get, "Tool.get")
    table[b"exists"] = rt.function(exists, "Tool.exists")
    table[b"categories"] = rt.function(categories, "Tool.categories")
    table[b"discover"] = rt.function(discover, "Tool.discover")
    meta = rt.table({})
    meta[b"__index"] = rt.function(index, "Tool")
    setmetatable(table, meta)
