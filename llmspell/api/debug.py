"""The Debug global (spec § 12): logging, filters, timers, dumps, memory and stack reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import jsonutil
from ..debugging import PATTERN_TYPES, DebugService, resident_bytes
from ..errors import ApiError
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

def debug_service(rt: Runtime) -> DebugService:
    return rt.services.debug


FRAME_FIELDS = ("name", "source", "line", "line_defined", "what", "num_upvalues", "num_params")


def _trace_json(trace: dict[str, Any]) -> dict[str, Any]:
    """Upstream's StackTrace shape: {frames, max_depth, truncated, error} (every frame
    field present, null when unknown)."""
    frames = trace.get("frames") or []
    return {
        "frames": [{**{k: frame.get(k) for k in FRAME_FIELDS},
                    "locals": frame.get("locals") or {},
                    "upvalues": frame.get("upvalues") or {}} for frame in frames],
        "max_depth": trace.get("max_depth"),
        "truncated": bool(trace.get("truncated")),
        "error": None,
    }


LEVELS = ("trace", "debug", "info", "warn", "error")
LUA_HELPERS = ("dump", "dumpCompact", "dumpVerbose", "dumpWithOptions", "stackTrace")


class Timer(LuaObject):
    """What ``Debug.timer(name)`` returns: ``t:lap(name)``, ``t:elapsed()``, ``t:stop()``."""

    lua_name = "Timer"

    def __init__(self, svc: DebugService, timer_id: str, name: str) -> None:
        self._svc = svc
        self._id = timer_id
        self._name = name

    def lua_fields(self) -> dict[str, Any]:
        return {"id": self._id, "name": self._name}

    def stop(self) -> float | None:
        return self._svc.stop_timer(self._id)

    def lap(self, name: Any = None) -> bool:
        return self._svc.lap(self._id, args.text(name, "Timer:lap", 1, name="name"))

    def elapsed(self) -> float | None:
        return self._svc.elapsed(self._id)


class DebugGlobal(LuaObject):
    """The ``Debug`` table: its methods are the dot-call functions. Value dumps and stack
    reports need the Lua values themselves: they are ``debug_helpers.lua``'s functions."""

    lua_name = "Debug"
    lua_names = {
        "log_with_data": "logWithData", "set_level": "setLevel", "get_level": "getLevel",
        "set_enabled": "setEnabled", "is_enabled": "isEnabled",
        "add_module_filter": "addModuleFilter", "remove_module_filter": "removeModuleFilter",
        "clear_module_filters": "clearModuleFilters",
        "set_default_filter_enabled": "setDefaultFilterEnabled",
        "add_advanced_filter": "addAdvancedFilter", "get_filter_summary": "getFilterSummary",
        "get_captured_entries": "getCapturedEntries", "clear_captured": "clearCaptured",
        "performance_report": "performanceReport", "json_report": "jsonReport",
        "flame_graph": "flameGraph", "memory_stats": "memoryStats",
        "memory_snapshot": "memorySnapshot", "record_event": "recordEvent",
        "stack_trace_json": "stackTraceJson"}

    def __init__(self, rt: Runtime, svc: DebugService, helpers: Any) -> None:
        self._rt = rt
        self._svc = svc
        self._helpers = helpers

    def _heap(self) -> int:
        return int(self._helpers[b"heap_bytes"]())

    def _log(self, fn: str, level: str, message: Any, module: Any, position: int) -> None:
        self._svc.log(level, args.text(message, fn, position, name="message"),
                      args.optional_text(module, fn, position + 1, name="module"))

    # logging -------------------------------------------------------------------------

    def log(self, level: Any = None, message: Any = None, module: Any = None) -> None:
        name = args.text(level, "Debug.log", 1, name="level")
        try:
            self._log("Debug.log", name, message, module, 2)
        except ValueError as exc:
            raise ApiError(f"Debug.log: {exc}") from None

    def trace(self, message: Any = None, module: Any = None) -> None:
        self._log("Debug.trace", "trace", message, module, 1)

    def debug(self, message: Any = None, module: Any = None) -> None:
        self._log("Debug.debug", "debug", message, module, 1)

    def info(self, message: Any = None, module: Any = None) -> None:
        self._log("Debug.info", "info", message, module, 1)

    def warn(self, message: Any = None, module: Any = None) -> None:
        self._log("Debug.warn", "warn", message, module, 1)

    def error(self, message: Any = None, module: Any = None) -> None:
        self._log("Debug.error", "error", message, module, 1)

    def log_with_data(self, level: Any = None, message: Any = None, data: Any = None,
                      module: Any = None) -> None:
        fn = "Debug.logWithData"
        try:
            payload = convert.to_python(data)
        except TypeError as exc:
            raise ApiError(f"{fn}: data is not JSON-convertible: {exc}") from None
        try:
            self._svc.log(args.text(level, fn, 1, name="level"),
                          args.text(message, fn, 2, name="message"),
                          args.optional_text(module, fn, 4, name="module"), payload)
        except ValueError as exc:
            raise ApiError(f"{fn}: {exc}") from None

    def set_level(self, level: Any = None) -> bool:
        return self._svc.set_level(args.text(level, "Debug.setLevel", 1, name="level"))

    def get_level(self) -> str:
        return self._svc.level.upper()

    def set_enabled(self, flag: Any = None) -> None:
        self._svc.enabled = bool(flag)

    def is_enabled(self) -> bool:
        return self._svc.enabled

    # filters ---------------------------------------------------------------------------

    def add_module_filter(self, pattern: Any = None, enabled: Any = True) -> None:
        self._svc.add_module_filter(
            args.text(pattern, "Debug.addModuleFilter", 1, name="pattern"), bool(enabled))

    def remove_module_filter(self, pattern: Any = None) -> bool:
        return self._svc.remove_filter(
            args.text(pattern, "Debug.removeModuleFilter", 1, name="pattern"))

    def clear_module_filters(self) -> None:
        self._svc.rules.clear()

    def set_default_filter_enabled(self, flag: Any = None) -> None:
        self._svc.default_enabled = bool(flag)

    def add_advanced_filter(self, pattern: Any = None, kind: Any = None,
                            enabled: Any = True) -> bool:
        """``kind`` is one of ``PATTERN_TYPES``; another answers false."""
        fn = "Debug.addAdvancedFilter"
        kind_text = args.text(kind, fn, 2, name=f"pattern type: {', '.join(PATTERN_TYPES)}")
        return self._svc.add_filter(args.text(pattern, fn, 1, name="pattern"), kind_text,
                                    bool(enabled))

    def get_filter_summary(self) -> Any:
        return self._svc.filter_summary()

    # captured entries, timers, reports ----------------------------------------------

    def get_captured_entries(self, limit: Any = None) -> list[dict[str, Any]]:
        return self._svc.captured_entries(int(limit) if isinstance(limit, int | float)
                                          else None)

    def clear_captured(self) -> None:
        self._svc.captured.clear()

    def timer(self, name: Any = None) -> Timer:
        label = args.text(name, "Debug.timer", 1, name="name")
        return Timer(self._svc, self._svc.start_timer(label, self._heap()).id, label)

    def record_event(self, timer_id: Any = None, name: Any = None,
                     metadata: Any = None) -> bool:
        fn = "Debug.recordEvent"
        return self._svc.record_event(args.text(timer_id, fn, 1, name="timer_id"),
                                      args.text(name, fn, 2, name="name"),
                                      None if metadata is None else args.data(metadata, fn))

    def performance_report(self) -> Any:
        return self._svc.performance_report()

    def json_report(self) -> str:
        return jsonutil.dumps(self._svc.json_report())

    def flame_graph(self) -> Any:
        return self._svc.flame_graph()

    def memory_stats(self) -> dict[str, int]:
        used, lua = self._heap(), self._rt.lua
        allocated = lua.get_memory_used() if lua.get_max_memory() else used
        return {"used_bytes": used, "allocated_bytes": int(allocated or used),
                "resident_bytes": resident_bytes(),
                "collections": int(self._rt.internals[b"gc_count"]())}

    def memory_snapshot(self) -> dict[str, Any]:
        return self._svc.memory_snapshot(self._heap())

    def stack_trace_json(self, opts: Any = None) -> str:
        return jsonutil.dumps(_trace_json(convert.to_python(self._helpers[b"trace"](opts))))


def install(rt: Runtime, table: Any) -> None:
    helpers = rt.chunk("debug_helpers")()
    lua_objects(rt).install(table, DebugGlobal(rt, debug_service(rt), helpers))
    for name in LUA_HELPERS:
        table[convert.encode(name)] = helpers[convert.encode(name)]
