"""The Hook global (spec § 9): register Lua callbacks at hook points; list; unregister.

    local h = Hook.register("BeforeToolExecution", function(ctx)
      if ctx.data.tool_name == "file_operations" then return "cancel: no files today" end
      return {type = "modified", data = {parameters = {text = "changed"}}}
    end, "high")
    h:id()  h:hook_point()  h:unregister()   Hook.unregister(h)   Hook.list("ToolError")

The callback gets ``{point, correlation_id, component_id={type,name}, language, metadata,
data}`` and its return value decides the outcome (see ``llmspell/hooks.py``). Hooks run
for real on tool, agent and workflow calls. Callbacks always run on the script's thread,
even when the hooked call happens in a workflow's worker thread (``LuaGate``).

Unlike upstream, a handle is not unregistered when it is garbage-collected: a hook
stays until ``unregister`` or the end of the run (so ``Hook.register(...)`` without
keeping the handle works).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..hooks import NOT_FIRED, HookContext, HookError, HookRegistry, registry_for
from ..lua import convert

try:
    from lupa.luajit21 import LuaError
except ImportError:  # pragma: no cover
    from lupa import LuaError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


SHUTDOWN_SECONDS = 5.0


def lua_gate(rt: Runtime) -> Any:
    """The run's LuaGate: queues Lua calls from worker threads to the script's thread."""
    gate = rt.services.get("lua_gate")
    if gate is None:
        from ..workflows.gate import LuaGate

        def must_stop() -> bool:
            left = rt.remaining_seconds()
            return rt.stop_reason is not None or (left is not None and left <= 0)

        gate = rt.services["lua_gate"] = LuaGate(must_stop)
    return gate


def lua_error_text(exc: BaseException) -> str:
    """The message of a LuaError without its traceback."""
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = convert.decode(text)
    return str(text).split("\nstack traceback:")[0]


def hook_registry(rt: Runtime) -> HookRegistry:
    return registry_for(rt.services)


def install(rt: Runtime, table: Any) -> None:
    registry = hook_registry(rt)
    gate = lua_gate(rt)
    warned: set[str] = set()
    lua = rt.lua

    def wrap(fn: Any, point: str) -> Any:
        def invoke(ctx: HookContext) -> Any:
            arg = ctx.cache.get("lua")
            if arg is None:
                arg = convert.to_lua(lua, ctx.to_dict())
                ctx.cache["lua"] = arg
            try:
                result = fn(arg)
            except LuaError as exc:
                raise HookError(f"hook at {point} failed: {lua_error_text(exc)}") from None
            if isinstance(result, tuple):
                result = result[0] if result else None
            try:
                return convert.to_python(result)
            except TypeError as exc:
                raise HookError(f"hook at {point} returned a value that cannot be used: "
                                f"{exc}") from None

        def hook(ctx: HookContext) -> Any:
            return gate.call(invoke, ctx)

        return hook

    def make_handle(hook_id: str, point: str) -> Any:
        def check() -> None:
            if registry.get(hook_id) is None:
                raise ApiError("Hook already unregistered")

        def id_(_self: Any = None) -> str:
            check()
            return hook_id

        def hook_point(_self: Any = None) -> str:
            check()
            return point

        def unregister(_self: Any = None) -> bool:
            return registry.unregister(hook_id)

        return rt.object("HookHandle", {"id": id_, "hook_point": hook_point,
                                        "unregister": unregister},
                         fields={"__hook_id": hook_id})

    def register(point: Any = None, callback: Any = None, priority: Any = None) -> Any:
        name = convert.text_arg(point, "Hook.register", 1)
        registry.check_point(name)
        if convert.lua_type(callback) != "function":
            raise ApiError("Hook.register: argument #2 (callback) must be a function, "
                           f"got {convert.describe(callback)}")
        if name in NOT_FIRED and name not in warned:
            warned.add(name)
            rt.output.error(convert.encode(
                f"warning: Hook.register: llmspell never fires {name} hooks (the point is "
                "accepted for compatibility); this hook will not run\n"))
        level = convert.decode(priority).lower() if isinstance(priority, bytes) else "normal"
        hook_id = registry.register(name, wrap(callback, name), level, language="lua")
        return make_handle(hook_id, name)

    def unregister(handle: Any = None) -> bool:
        # upstream takes only a handle: anything but a table (a hook id string, nil)
        # raises; a table that is not a handle answers false, as upstream does
        if convert.lua_type(handle) != "table":
            raise ApiError("Hook.unregister: argument #1 must be a hook handle (what "
                           f"Hook.register returns), got {convert.describe(handle)}")
        hook_id = handle[b"__hook_id"]
        if not isinstance(hook_id, bytes):
            return False
        return registry.unregister(convert.decode(hook_id))

    def list_hooks(filt: Any = None) -> list[dict[str, Any]]:
        if filt is None:
            return registry.list()
        if isinstance(filt, bytes):
            return registry.list(point=convert.decode(filt))
        if convert.lua_type(filt) == "table":
            f = convert.to_python(filt)
            if not isinstance(f, dict):
                f = {}
            return registry.list(point=f.get("hook_point"), language=f.get("language"),
                                 priority=f.get("priority"), tag=f.get("tag"))
        raise ApiError("Hook.list: filter must be nil, a hook point name or a table, "
                       f"got {convert.describe(filt)}")

    def points() -> list[str]:
        from ..hooks import HOOK_POINTS

        return list(HOOK_POINTS)

    def shutdown() -> None:
        """SystemShutdown hooks run when the run ends (also after os.exit), on the
        script's thread, with 5 s to finish. A run stopped by its time limit or Ctrl-C
        skips them."""
        if not registry.has("SystemShutdown"):
            return
        reason = rt.stop_reason
        if reason is not None and reason != "exit":
            return
        with rt.grace_period(SHUTDOWN_SECONDS):
            try:
                registry.run("SystemShutdown", {"reason": reason or "finished"})
            except Exception as exc:  # the script is over: report, do not raise
                rt.output.error(convert.encode(f"SystemShutdown hook failed: {exc}\n"))

    rt.on_close(shutdown)

    table[b"register"] = rt.function(register, "Hook.register")
    table[b"unregister"] = rt.function(unregister, "Hook.unregister")
    table[b"list"] = rt.function(list_hooks, "Hook.list")
    table[b"points"] = rt.function(points, "Hook.points")
