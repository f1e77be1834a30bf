"""The Debug global (spec § 12): logging, filters, timers, dumps, memory and stack reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import jsonutil
from ..debugging import PATTERN_TYPES, DebugService, resident_bytes
from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

def debug_service(rt: Runtime) -> DebugService:
    service = rt.services.get("debug")
    if service is None:
        level = "debug" if rt.debug else (
            rt.settings.get("debug.level") or rt.settings.get("runtime.log_level"))
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


def install(rt: Runtime, table: Any) -> None:
    svc = debug_service(rt)
    # value dumps and stack reports need the Lua values themselves: debug_helpers.lua
    helpers = rt.chunk("debug_helpers")()
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
        return jsonutil.dumps(_trace_json(convert.to_python(helpers[b"trace"](opts))))

    functions: dict[str, Any] = {
        "log": log,
        "logWithData": log_with_data,
        "timer": timer,
        "setLevel": lambda level=None: svc.set_level(_text(level, "Debug.setLevel", 1)),
        "getLevel": lambda: svc.level.upper(),
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
