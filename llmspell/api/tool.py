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


def _params(converter: convert.Converter, value: Any, fn: str, position: int
            ) -> dict[str, Any]:
    if convert.lua_type(value) != "table":
        raise ApiError(f"{fn}: argument #{position} (params) must be a table, "
                       f"got {convert.describe(value)}")
    try:
        data = converter.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: cannot convert params: {exc}") from None
    if isinstance(data, list):
        raise ApiError(f"{fn}: argument #{position} (params) must be a table of named "
                       "parameters, got an array")
    return data


def install(rt: Runtime, table: Any) -> None:
    service = tool_service(rt)
    setmetatable = rt.setmetatable
    converter = rt.converter
    to_lua = converter.to_lua

    def invoke(name: Any = None, params: Any = None) -> Any:
        tool_name = (name.decode("utf-8", "surrogateescape") if type(name) is bytes
                     else convert.text_arg(name, "Tool.invoke", 1))
        return to_lua(service.invoke(tool_name, _params(converter, params, "Tool.invoke", 2)))

    def executor(tool_name: str) -> Any:
        label = f"Tool.{tool_name}:execute"

        def execute(_self: Any = None, params: Any = None) -> Any:
            args = _params(converter, params, label, 2)
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
