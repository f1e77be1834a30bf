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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..hooks import NOT_FIRED, HookContext, HookError, HookRegistry
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects

try:
    from lupa.luajit21 import LuaError
except ImportError:  # pragma: no cover
    from lupa import LuaError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..workflows.gate import LuaGate


SHUTDOWN_SECONDS = 5.0


def lua_gate(rt: Runtime) -> LuaGate:
    """The run's LuaGate: queues Lua calls from worker threads to the script's thread."""
    return rt.services.gate


def hook_registry(rt: Runtime) -> HookRegistry:
    return rt.services.hooks


class HookHandle(LuaObject):
    """What ``Hook.register`` returns: ``h:id()``, ``h:hook_point()``, ``h:unregister()``."""

    lua_name = "HookHandle"

    def __init__(self, registry: HookRegistry, hook_id: str, point: str) -> None:
        self._registry = registry
        self._id = hook_id
        self._point = point

    def _check(self) -> None:
        if self._registry.get(self._id) is None:
            raise ApiError("Hook already unregistered")

    def id(self) -> str:
        self._check()
        return self._id

    def hook_point(self) -> str:
        self._check()
        return self._point

    def unregister(self) -> bool:
        return self._registry.unregister(self._id)


class HookGlobal(LuaObject):
    """The ``Hook`` table: its methods are the dot-call functions."""

    lua_name = "Hook"
    lua_names = {"list_hooks": "list"}

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._registry = hook_registry(rt)
        self._gate = lua_gate(rt)
        self._warned: set[str] = set()

    def register(self, point: Any = None, callback: Any = None,
                 priority: Any = None) -> HookHandle:
        name = args.text(point, "Hook.register", 1)
        self._registry.check_point(name)
        fn = args.function(callback, "Hook.register", 2, name="callback")
        if name in NOT_FIRED and name not in self._warned:
            self._warned.add(name)
            self._rt.output.error(convert.encode(
                f"warning: Hook.register: llmspell never fires {name} hooks (the point is "
                "accepted for compatibility); this hook will not run\n"))
        level = convert.decode(priority).lower() if isinstance(priority, bytes) else "normal"
        hook_id = self._registry.register(name, self._hook(fn, name), level, language="lua")
        return HookHandle(self._registry, hook_id, name)

    def unregister(self, handle: Any = None) -> bool:
        # upstream takes only a handle: anything but a table (a hook id string, nil)
        # raises; a table that is not a handle answers false, as upstream does
        if convert.lua_type(handle) != "table":
            raise ApiError("Hook.unregister: argument #1 must be a hook handle (what "
                           f"Hook.register returns), got {convert.describe(handle)}")
        found = lua_objects(self._rt).find(handle, HookHandle)
        return found.unregister() if found is not None else False

    def list_hooks(self, filt: Any = None) -> list[dict[str, Any]]:
        if filt is None:
            return self._registry.list()
        if isinstance(filt, bytes):
            return self._registry.list(point=convert.decode(filt))
        if convert.lua_type(filt) != "table":
            raise ApiError("Hook.list: filter must be nil, a hook point name or a table, "
                           f"got {convert.describe(filt)}")
        f = args.data(filt, "Hook.list")
        f = f if isinstance(f, dict) else {}
        return self._registry.list(point=f.get("hook_point"), language=f.get("language"),
                                   priority=f.get("priority"), tag=f.get("tag"))

    def points(self) -> list[str]:
        from ..hooks import HOOK_POINTS

        return list(HOOK_POINTS)

    def _hook(self, fn: Any, point: str) -> Callable[[HookContext], Any]:
        """The registry's hook for the Lua function ``fn``: runs it on the script's thread
        with the context as a Lua table (built once per context, shared by its hooks)."""
        lua, gate = self._rt.lua, self._gate

        def invoke(ctx: HookContext) -> Any:
            arg = ctx.cache.get("lua")
            if arg is None:
                arg = ctx.cache["lua"] = convert.to_lua(lua, ctx.to_dict())
            try:
                result = fn(arg)
            except LuaError as exc:
                raise HookError(f"hook at {point} failed: {convert.lua_error_text(exc)}") from None
            if isinstance(result, tuple):
                result = result[0] if result else None
            try:
                return convert.to_python(result)
            except TypeError as exc:
                raise HookError(f"hook at {point} returned a value that cannot be used: "
                                f"{exc}") from None

        return lambda ctx: gate.call(invoke, ctx)

    def _shutdown(self) -> None:
        """SystemShutdown hooks run when the run ends (also after os.exit), on the
        script's thread, with 5 s to finish. A run stopped by its time limit or Ctrl-C
        skips them."""
        rt, registry = self._rt, self._registry
        if not registry.has("SystemShutdown"):
            return
        reason = rt.stop_reason
        if reason is not None and reason != "exit":
            return
        with rt.grace_period(SHUTDOWN_SECONDS):
            try:
                registry.run("SystemShutdown", {"reason": reason or "finished"})
            except Exception as exc:  # the script is over: report, do not raise
                stopped = rt.stop_reason
                if stopped == "timeout":
                    text = (f"SystemShutdown hooks stopped: they ran past their "
                            f"{SHUTDOWN_SECONDS:g} s limit")
                elif stopped == "interrupt":
                    text = "SystemShutdown hooks interrupted"
                else:
                    text = f"SystemShutdown hook failed: {exc}"
                rt.output.error(convert.encode(text + "\n"))


def install(rt: Runtime, table: Any) -> None:
    hook = HookGlobal(rt)
    rt.on_close(hook._shutdown)
    lua_objects(rt).install(table, hook)
