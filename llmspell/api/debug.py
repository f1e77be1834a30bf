"""The Debug global (spec § 12): logging, filters, timers, dumps, memory and stack reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import jsonutil
from ..debugging import PATTERN_TYPES, DebugService, resident_bytes
from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

# Lua-side helpers: value dumps and stack reports need the Lua values themselves.
LUA_HELPERS = r"""
(function()
  local type, tostring, pairs, sort, concat, rep, format, getinfo, traceback =
    type, tostring, pairs, table.sort, table.concat, string.rep, string.format,
    debug.getinfo, debug.traceback

  local function dump(value, opts, label)
    opts = type(opts) == "table" and opts or {}
    local max_depth = opts.max_depth or 10
    local unit = rep(" ", opts.indent_size or 2)
    local compact = opts.compact_mode
    local show_types = opts.show_types
    local show_addresses = opts.show_addresses
    local max_str = opts.max_string_length or 0
    local max_entries = opts.max_table_entries or 0
    local seen = {}
    local function scalar(v)
      local t = type(v)
      if t == "string" then
        if max_str > 0 and #v > max_str then v = v:sub(1, max_str) .. "..." end
        return format("%q", v)
      elseif t == "number" or t == "boolean" or t == "nil" then
        return tostring(v)
      end
      return show_addresses and tostring(v) or ("<" .. t .. ">")
    end
    local function key_repr(k)
      if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
      return "[" .. scalar(k) .. "]"
    end
    local function before(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta == "number" end
      if ta == "number" or ta == "string" then return a < b end
      return tostring(a) < tostring(b)
    end
    local function render(v, depth)
      if type(v) ~= "table" then
        local s = scalar(v)
        if show_types then s = s .. " (" .. type(v) .. ")" end
        return s
      end
      if seen[v] then return "<cycle>" end
      if depth >= max_depth then return "{...}" end
      seen[v] = true
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      sort(keys, before)
      local parts = {}
      local n = #v
      for i, k in ipairs(keys) do
        if max_entries > 0 and i > max_entries then
          parts[#parts + 1] = "... (" .. (#keys - max_entries) .. " more)"
          break
        end
        local item = render(v[k], depth + 1)
        if type(k) == "number" and k >= 1 and k <= n and k == math.floor(k) and compact then
          parts[#parts + 1] = item
        else
          parts[#parts + 1] = key_repr(k) .. " = " .. item
        end
      end
      seen[v] = nil
      local head = show_addresses and (tostring(v) .. " ") or ""
      if #parts == 0 then return head .. "{}" end
      if compact then return head .. "{" .. concat(parts, ", ") .. "}" end
      local pad = rep(unit, depth + 1)
      return head .. "{\n" .. pad .. concat(parts, ",\n" .. pad) .. "\n" .. rep(unit, depth) .. "}"
    end
    local s = render(value, 0)
    if label ~= nil then s = tostring(label) .. ": " .. s end
    return s
  end

  local function frames(opts, skip)
    opts = type(opts) == "table" and opts or {}
    local max_depth = opts.max_depth or 50
    local out = {}
    local level = skip
    while #out < max_depth do
      local info = getinfo(level, "Sln")
      if not info then break end
      if info.what ~= "C" and info.short_src ~= "llmspell" then
        out[#out + 1] = { source = info.short_src, line = info.currentline,
                          name = info.name, what = info.what }
      end
      level = level + 1
    end
    return out
  end

  return {
    dump = dump,
    dumpCompact = function(v, label) return dump(v, { compact_mode = true }, label) end,
    dumpVerbose = function(v, label)
      return dump(v, { show_types = true, show_addresses = true, max_depth = 20 }, label)
    end,
    dumpWithOptions = function(v, opts, label) return dump(v, opts, label) end,
    stackTrace = function(opts)
      local lines = { "stack traceback:" }
      for _, f in ipairs(frames(opts, 3)) do
        lines[#lines + 1] = "\t" .. f.source .. ":" .. f.line .. ": in " ..
          (f.name and ("function '" .. f.name .. "'") or (f.what == "main" and "main chunk"
           or "function <anonymous>"))
      end
      return concat(lines, "\n")
    end,
    frames = function(opts) return frames(opts, 3) end,
    heap_bytes = function() return math.floor(collectgarbage("count") * 1024) end,
  }
end)()
"""


def debug_service(rt: Runtime) -> DebugService:
    service = rt.services.get("debug")
    if service is None:
        level = "debug" if rt.debug else (
            rt.settings.get("debug.level") or rt.settings.get("runtime.log_level") or "info")
        service = DebugService(level=level)
        if rt.settings.get("events.emit_debug_events"):
            # [events] emit_debug_events: every Debug/Logger message is a `debug.log` event.
            from ..events import bus_for

            def publish(entry: dict[str, Any]) -> None:
                bus_for(rt.services, rt.settings).emit("debug.log", entry, component="debug")

            service.on_log = publish
        rt.services["debug"] = service
    return service


def _text(value: Any, fn: str, position: int, what: str = "string") -> str:
    return convert.text_arg(value, fn, position, what)


def _opt_text(value: Any, fn: str, position: int) -> str | None:
    return None if value is None else _text(value, fn, position)


def install(rt: Runtime, table: Any) -> None:
    svc = debug_service(rt)
    helpers = rt.eval(LUA_HELPERS)
    heap = helpers[b"heap_bytes"]

    def log(level: Any = None, message: Any = None, module: Any = None) -> None:
        name = _text(level, "Debug.log", 1, "level string")
        try:
            svc.log(name, _text(message, "Debug.log", 2), _opt_text(module, "Debug.log", 3))
        except ValueError as exc:
            raise ApiError(f"Debug.log: {exc}") from None

    def leveled(level: str) -> Any:
        def fn(message: Any = None, module: Any = None) -> None:
            svc.log(level, _text(message, f"Debug.{level}", 1),
                    _opt_text(module, f"Debug.{level}", 2))
        return fn

    def log_with_data(level: Any = None, message: Any = None, data: Any = None,
                      module: Any = None) -> None:
        fn = "Debug.logWithData"
        try:
            payload = convert.to_python(data)
        except TypeError as exc:
            raise ApiError(f"{fn}: data is not JSON-convertible: {exc}") from None
        try:
            svc.log(_text(level, fn, 1), _text(message, fn, 2), _opt_text(module, fn, 4),
                    payload)
        except ValueError as exc:
            raise ApiError(f"{fn}: {exc}") from None

    def timer(name: Any = None) -> Any:
        label = _text(name, "Debug.timer", 1)
        t = svc.start_timer(label, int(heap()))
        return rt.object("Timer", {
            "stop": lambda _self: svc.stop_timer(t.id),
            "lap": lambda _self, lap=None: svc.lap(t.id, _text(lap, "Timer:lap", 1)),
            "elapsed": lambda _self: svc.elapsed(t.id),
        }, fields={"id": t.id, "name": label})

    def add_module_filter(pattern: Any = None, enabled: Any = True) -> None:
        svc.add_module_filter(_text(pattern, "Debug.addModuleFilter", 1), bool(enabled))

    def add_advanced_filter(pattern: Any = None, kind: Any = None, enabled: Any = True) -> bool:
        fn = "Debug.addAdvancedFilter"
        kind_text = _text(kind, fn, 2, f"pattern type ({', '.join(PATTERN_TYPES)})")
        return svc.add_filter(_text(pattern, fn, 1), kind_text, bool(enabled))

    def captured(limit: Any = None) -> list[dict[str, Any]]:
        return svc.captured_entries(int(limit) if isinstance(limit, int | float) else None)

    def memory_stats() -> dict[str, int]:
        used = int(heap())
        allocated = rt.lua.get_memory_used() if rt.lua.get_max_memory() else used
        return {"used_bytes": used, "allocated_bytes": int(allocated or used),
                "resident_bytes": resident_bytes(), "collections": int(rt.internals[b"gc_count"]())}

    def record_event(timer_id: Any = None, name: Any = None, metadata: Any = None) -> bool:
        fn = "Debug.recordEvent"
        return svc.record_event(_text(timer_id, fn, 1), _text(name, fn, 2),
                                convert.to_python(metadata) if metadata is not None else None)

    def set_enabled(flag: Any = None) -> None:
        svc.enabled = bool(flag)

    def set_default(flag: Any = None) -> None:
        svc.default_enabled = bool(flag)

    def clear_filters() -> None:
        svc.rules.clear()

    def stack_json(opts: Any = None) -> str:
        return jsonutil.dumps(convert.to_python(helpers[b"frames"](opts)))

    functions: dict[str, Any] = {
        "log": log,
        "logWithData": log_with_data,
        "timer": timer,
        "setLevel": lambda level=None: svc.set_level(_text(level, "Debug.setLevel", 1)),
        "getLevel": lambda: svc.level,
        "setEnabled": set_enabled,
        "isEnabled": lambda: svc.enabled,
        "addModuleFilter": add_module_filter,
        "removeModuleFilter": lambda p=None: svc.remove_filter(
            _text(p, "Debug.removeModuleFilter", 1)),
        "clearModuleFilters": clear_filters,
        "setDefaultFilterEnabled": set_default,
        "addAdvancedFilter": add_advanced_filter,
        "getFilterSummary": svc.filter_summary,
        "getCapturedEntries": captured,
        "clearCaptured": svc.captured.clear,
        "performanceReport": svc.performance_report,
        "jsonReport": lambda: jsonutil.dumps(svc.json_report()),
        "flameGraph": svc.flame_graph,
        "memoryStats": memory_stats,
        "memorySnapshot": lambda: svc.memory_snapshot(int(heap())),
        "recordEvent": record_event,
        "stackTraceJson": stack_json,
    }
    for level in ("trace", "debug", "info", "warn", "error"):
        functions[level] = leveled(level)
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Debug.{name}")
    for name in ("dump", "dumpCompact", "dumpVerbose", "dumpWithOptions", "stackTrace"):
        table[convert.encode(name)] = helpers[convert.encode(name)]
