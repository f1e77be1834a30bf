"""Hooks: callbacks at named points that can change what happens (spec § 9).

Plain Python and thread-safe. A hook is ``fn(ctx: HookContext) -> result`` where the
result may be a ``HookResult``, ``None`` ("continue"), a string (``"continue"``,
``"skip"``/``"skipped"``, anything else = cancel with that reason) or a dict with a
``type`` key (``continue``, ``modified`` + ``data``, ``cancel`` + ``reason``,
``redirect`` + ``target``, ``replace`` + ``data``, ``retry`` + ``delay_ms``/``max_attempts``,
``skipped`` + ``reason``) — the same forms a Lua hook returns.

``HookRegistry.run(point, data)`` calls the hooks of one point in priority order
(``highest`` first; equal priorities in registration order). ``modified`` replaces the
data the next hook sees and the run goes on; any other non-continue result stops the
run and is returned.

Services call their hooks themselves, where they apply: each holds a ``ServiceHooks``
(or None) given at construction. ``ToolService.invoke`` and ``AgentRegistry.invoke``
take a ``Call`` through ``before()``, ``attempt(fn)`` and ``after(result)``;
``ToolService.summaries``/``discover`` a ``Discovery``; the agent registry fires
``agent_lifecycle`` when it stores or removes an agent. Nothing is patched in.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import HookCancelled, HookError, ShownAsIs
from .events import new_id

if TYPE_CHECKING:
    from .events import EventBus

HOOK_POINTS: tuple[str, ...] = (
    "SystemStartup", "SystemShutdown", "BeforeAgentInit", "AfterAgentInit",
    "BeforeAgentExecution", "AfterAgentExecution", "BeforeAgentShutdown",
    "AfterAgentShutdown", "BeforeToolDiscovery", "AfterToolDiscovery",
    "BeforeToolExecution", "AfterToolExecution", "ToolValidation", "ToolError",
    "AgentError", "BeforeWorkflowStart", "WorkflowStageTransition", "BeforeWorkflowStage",
    "AfterWorkflowStage", "WorkflowCheckpoint", "WorkflowRollback", "AfterWorkflowComplete",
    "WorkflowError",
)
_POINTS = frozenset(HOOK_POINTS)
# Accepted (the spec lists them) but nothing in llmspell fires them yet: registering
# one warns, so a hook that would never run is not a silent no-op.
NOT_FIRED = frozenset({"SystemStartup"})

PRIORITIES: dict[str, int] = {
    "highest": -(2**31), "high": -100, "normal": 0, "low": 100, "lowest": 2**31 - 1,
}

ACTIONS = ("continue", "modified", "cancel", "redirect", "replace", "retry", "skipped")


@dataclass(slots=True)
class HookResult:
    action: str = "continue"
    data: Any = None
    reason: str | None = None
    target: str | None = None
    delay_ms: int = 1000
    max_attempts: int = 3

    @property
    def proceeds(self) -> bool:
        return self.action in ("continue", "modified")


CONTINUE = HookResult()


@dataclass(slots=True)
class HookContext:
    point: str
    data: Any
    component_type: str = "system"
    component_name: str = "llmspell"
    correlation_id: str = field(default_factory=new_id)
    language: str = "lua"
    metadata: dict[str, str] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)  # adapters keep conversions here

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "correlation_id": self.correlation_id,
                "component_id": {"type": self.component_type, "name": self.component_name},
                "language": self.language, "metadata": self.metadata, "data": self.data}


def to_result(value: Any) -> HookResult:
    """Normalise what a hook returned (see the module docstring)."""
    if value is None:
        return CONTINUE
    if isinstance(value, HookResult):
        return value
    if isinstance(value, str):
        if value == "continue":
            return CONTINUE
        if value in ("skip", "skipped"):
            return HookResult("skipped", reason="skipped by hook")
        return HookResult("cancel", reason=value)
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "modified":
            return HookResult("modified", data=value.get("data"))
        if kind == "cancel":
            return HookResult("cancel", reason=str(value.get("reason") or "cancelled by hook"))
        if kind == "redirect":
            target = value.get("target")
            if not isinstance(target, str) or not target:
                raise HookError("hook result 'redirect' needs a target")
            return HookResult("redirect", target=target)
        if kind == "replace":
            return HookResult("replace", data=value.get("data"))
        if kind == "retry":
            return HookResult("retry", delay_ms=int(value.get("delay_ms") or 1000),
                              max_attempts=int(value.get("max_attempts") or 3))
        if kind in ("skipped", "skip"):
            return HookResult("skipped", reason=str(value.get("reason") or "skipped by hook"))
    return CONTINUE


@dataclass(slots=True)
class Hook:
    id: str
    point: str
    fn: Callable[[HookContext], Any]
    priority: int
    seq: int
    name: str
    language: str
    description: str | None
    tags: tuple[str, ...]


class HookRegistry:
    """Hooks by point; ``run`` dispatches. See the module docstring."""

    def __init__(self) -> None:
        self._by_point: dict[str, tuple[Hook, ...]] = {}
        self._by_id: dict[str, Hook] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self.dispatched = 0

    @staticmethod
    def check_point(point: str) -> str:
        if point not in _POINTS:
            raise HookError(f"Unknown hook point: {point}")
        return point

    def register(self, point: str, fn: Callable[[HookContext], Any],
                 priority: str | int = "normal", *, name: str | None = None,
                 language: str = "python", description: str | None = None,
                 tags: tuple[str, ...] = ()) -> str:
        self.check_point(point)
        level = priority if isinstance(priority, int) else PRIORITIES.get(priority, 0)
        seq = next(self._seq)
        hook_id = str(uuid.uuid4())
        hook = Hook(hook_id, point, fn, level, seq, name or f"{language}_hook_{point}_{seq}",
                    language, description, tuple(tags))
        with self._lock:
            hooks = sorted((*self._by_point.get(point, ()), hook),
                           key=lambda h: (h.priority, h.seq))
            self._by_point[point] = tuple(hooks)
            self._by_id[hook_id] = hook
        return hook_id

    def unregister(self, hook_id: str) -> bool:
        with self._lock:
            hook = self._by_id.pop(hook_id, None)
            if hook is None:
                return False
            self._by_point[hook.point] = tuple(
                h for h in self._by_point.get(hook.point, ()) if h.id != hook_id)
        return True

    def get(self, hook_id: str) -> Hook | None:
        return self._by_id.get(hook_id)

    def clear(self) -> None:
        with self._lock:
            self._by_point.clear()
            self._by_id.clear()

    @property
    def active(self) -> bool:
        return bool(self._by_id)

    def has(self, point: str) -> bool:
        return bool(self._by_point.get(point))

    def list(self, point: str | None = None, language: str | None = None,
             priority: str | int | None = None, tag: str | None = None
             ) -> list[dict[str, Any]]:
        if point is not None:
            self.check_point(point)
        if isinstance(priority, str):
            priority = PRIORITIES.get(priority, 0)
        hooks = sorted(self._by_id.values(), key=lambda h: (h.point, h.priority, h.seq))
        out = []
        for h in hooks:
            if point is not None and h.point != point:
                continue
            if language is not None and h.language.lower() != language.lower():
                continue
            if priority is not None and h.priority != priority:
                continue
            if tag is not None and tag not in h.tags:
                continue
            entry: dict[str, Any] = {"id": h.id, "name": h.name, "point": h.point,
                                     "priority": f"Priority({h.priority})",
                                     "language": h.language, "version": "1.0.0",
                                     "tags": list(h.tags)}
            if h.description:
                entry["description"] = h.description
            out.append(entry)
        return out

    def run(self, point: str, data: Any = None, *, component: tuple[str, str] = (
            "system", "llmspell"), metadata: dict[str, str] | None = None,
            correlation_id: str | None = None) -> HookResult:
        """Call the hooks of ``point`` in order; return the combined outcome."""
        hooks = self._by_point.get(point)
        if not hooks:
            return CONTINUE
        ctx = HookContext(point, data, component[0], component[1],
                          correlation_id or new_id(), "lua", metadata or {})
        modified = False
        for hook in hooks:
            self.dispatched += 1
            try:
                result = to_result(hook.fn(ctx))
            except ShownAsIs:  # e.g. a nested call's own error: it says what happened
                raise
            except Exception as exc:
                raise HookError(f"hook '{hook.name}' at {point} failed: {exc}") from exc
            if result.action == "continue":
                continue
            if result.action == "modified":
                ctx.data = result.data
                ctx.cache.clear()
                modified = True
                continue
            return result
        return HookResult("modified", data=ctx.data) if modified else CONTINUE


# -- what services call at their hook points ---------------------------------------

_KINDS = {
    # kind: (before, after, error, name key, input key, output key, event prefix)
    "tool": ("BeforeToolExecution", "AfterToolExecution", "ToolError", "tool_name",
             "parameters", "result", "tool"),
    "agent": ("BeforeAgentExecution", "AfterAgentExecution", "AgentError", "agent_name",
              "input", "output", "agent"),
}

PROCEED: Any = object()  # ``before()``: no hook answered in place of the call; make it
RETRY: Any = object()  # ``failed()``: an error hook asked to try again
FAILED: Any = object()  # ``failed()``: no hook replaced the failure; re-raise it


def _pick(data: Any, key: str, fallback: Any) -> Any:
    """A hook's modified data: either the whole context data (take ``key``) or the value."""
    if isinstance(data, dict) and key in data:
        return data[key]
    return fallback if data is None else data


class Watchers(Protocol):
    """Where the run's hook registry and event bus are, if something made them:
    ``run.Services`` (named here, not imported: run.py imports this module).
    ``made`` is the plain dict of the services made so far (``"hooks"``, ``"events"``):
    read on every tool and agent call, so one dict lookup each."""

    made: dict[str, Any]

    @property
    def hooks_if_made(self) -> HookRegistry | None: ...

    @property
    def events_if_made(self) -> EventBus | None: ...


class ServiceHooks:
    """The run's hooks and event bus, as a service sees them.

    A service gets one at construction (``ToolService(hooks=...)``,
    ``AgentRegistry(hooks=...)``) and calls it at the points where hooks apply, as
    httpx's client calls its event hooks around sending a request. The registry and the
    bus are looked up at each call: a script may register its first hook after the
    service was made. With no hooks and no listeners each method answers ``None`` (or
    does nothing) after two attribute reads.
    """

    def __init__(self, services: Watchers) -> None:
        self._made = services.made

    def call(self, kind: str, name: str, value: Any) -> Call | None:
        """One tool or agent invocation (``kind`` ``"tool"``/``"agent"``) about to run, or
        None when nothing watches it."""
        made = self._made
        hooks: HookRegistry | None = made.get("hooks")
        bus: EventBus | None = made.get("events")
        use_hooks = hooks is not None and hooks.active
        use_events = bus is not None and bus.has_listeners()
        if not use_hooks and not use_events:
            return None
        return Call(hooks if use_hooks else None, bus if use_events else None, kind, name,
                    value)

    def discovery(self, operation: str, *args: Any) -> Discovery | None:
        """A tool listing (``Tool.list``/``Tool.discover``) about to be made, or None when
        no discovery hook is registered."""
        hooks: HookRegistry | None = self._made.get("hooks")
        if hooks is None or not (hooks.has("BeforeToolDiscovery")
                                 or hooks.has("AfterToolDiscovery")):
            return None
        return Discovery(hooks, {"operation": operation,
                                 "arguments": [a for a in args if a is not None]})

    def agent_lifecycle(self, point: str, name: str, agent: Any, verb: str) -> None:
        """``Before/AfterAgentInit`` (verb ``creation``) or ``Before/AfterAgentShutdown``
        (``shutdown``): a hook may cancel, which raises ``HookCancelled``."""
        hooks: HookRegistry | None = self._made.get("hooks")
        if hooks is None or not hooks.has(point):
            return
        res = hooks.run(point, {"agent_name": name, "agent_type": type(agent).__name__},
                        component=("agent", name))
        if res.action == "cancel":
            raise HookCancelled(f"Agent '{name}' {verb} cancelled by hook: {res.reason}")


class Call:
    """One tool or agent invocation under its hooks and lifecycle events.

    The caller runs ``before()`` (ToolValidation, BeforeX: modify the input, cancel, skip
    or replace — the hook's data is the result and nothing runs — or redirect to
    ``name``), then ``attempt(fn)`` (``fn(name, value)``; on failure the XError hooks may
    replace the failure with a result or ask for a retry), then ``after(result)`` (AfterX:
    modify or replace the result, or cancel). Events ``<kind>.execution.started/failed/
    completed`` go to the bus on the way.
    """

    def __init__(self, hooks: HookRegistry | None, bus: Any, kind: str, name: str,
                 value: Any) -> None:
        self.hooks = hooks
        self.bus = bus
        self.kind = kind
        self.name = name
        self.value = value
        (self._before, self._after, self._on_error, self._name_key, self._in_key,
         self._out_key, self._prefix) = _KINDS[kind]
        self.correlation = new_id()
        self._label = "Tool" if kind == "tool" else "Agent"
        self._started = 0.0

    def _run(self, point: str, data: dict[str, Any]) -> HookResult:
        assert self.hooks is not None
        return self.hooks.run(point, data, component=(self.kind, self.name),
                              correlation_id=self.correlation)

    def _emit(self, what: str, data: dict[str, Any]) -> None:
        if self.bus is not None:
            self.bus.emit(f"{self._prefix}.execution.{what}", {self._name_key: self.name,
                                                               **data},
                          correlation_id=self.correlation, component=self.name)

    def before(self) -> Any:
        """``PROCEED``, or the result a hook gave in place of the call."""
        hooks, name_key, in_key = self.hooks, self._name_key, self._in_key
        if hooks is not None and self.kind == "tool" and hooks.has("ToolValidation"):
            res = self._run("ToolValidation", {name_key: self.name, in_key: self.value})
            if res.action == "cancel":
                raise HookCancelled(f"Tool '{self.name}' parameters rejected by hook: "
                                    f"{res.reason}")
            if res.action == "modified":
                self.value = _pick(res.data, in_key, self.value)
        if hooks is not None:
            res = self._run(self._before, {name_key: self.name, in_key: self.value})
            if res.action == "modified":
                self.value = _pick(res.data, in_key, self.value)
            elif res.action == "cancel":
                raise HookCancelled(f"{self._label} '{self.name}' cancelled by hook: "
                                    f"{res.reason}")
            elif res.action in ("replace", "skipped"):
                if res.data is not None:
                    return res.data
                return {"success": False, "skipped": True, "reason": res.reason or "skipped"}
            elif res.action == "redirect":
                self.name = res.target or self.name
        self._started = time.perf_counter()
        self._emit("started", {in_key: self.value})
        return PROCEED

    def failed(self, exc: Exception, attempts: int) -> Any:
        """After attempt number ``attempts`` raised ``exc``: ``RETRY``, ``FAILED`` or the
        result an error hook gave in place of the failure."""
        self._emit("failed", {"error": str(exc)})
        hooks = self.hooks
        if hooks is None or not hooks.has(self._on_error):
            return FAILED
        res = self._run(self._on_error, {self._name_key: self.name, self._in_key: self.value,
                                         "error": str(exc)})
        if res.action == "replace" and res.data is not None:
            return res.data
        if res.action == "modified" and res.data is not None:
            return _pick(res.data, self._out_key, res.data)
        if res.action == "retry" and attempts < max(1, res.max_attempts):
            time.sleep(max(0, res.delay_ms) / 1000)
            return RETRY
        return FAILED

    def attempt(self, fn: Callable[[str, Any], Any]) -> Any:
        """``fn(name, value)``, retried or replaced as the error hooks say."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return fn(self.name, self.value)
            except Exception as exc:
                outcome = self.failed(exc, attempts)
                if outcome is FAILED:
                    raise
                if outcome is not RETRY:
                    return outcome

    def after(self, result: Any) -> Any:
        """The result, as the AfterX hooks leave it."""
        if self.hooks is not None:
            res = self._run(self._after, {self._name_key: self.name,
                                          self._in_key: self.value, self._out_key: result})
            if res.action == "replace" and res.data is not None:
                result = res.data
            elif res.action == "modified" and res.data is not None:
                result = _pick(res.data, self._out_key, result)
            elif res.action == "cancel":
                raise HookCancelled(f"{self._label} '{self.name}' result rejected by hook: "
                                    f"{res.reason}")
        self._emit("completed", {"duration_ms": (time.perf_counter() - self._started) * 1000})
        return result


class Discovery:
    """A tool listing under BeforeToolDiscovery (cancel, replace) and AfterToolDiscovery
    (modify or replace the list)."""

    def __init__(self, hooks: HookRegistry, data: dict[str, Any]) -> None:
        self.hooks = hooks
        self.data = data

    def before(self) -> Any:
        """``PROCEED``, or the list a hook gave in place of the listing."""
        res = self.hooks.run("BeforeToolDiscovery", self.data,
                             component=("tool", "discovery"))
        if res.action == "cancel":
            raise HookCancelled(f"Tool discovery cancelled by hook: {res.reason}")
        if res.action == "replace" and res.data is not None:
            return res.data
        return PROCEED

    def after(self, tools: list[Any]) -> Any:
        tools = list(tools)
        res = self.hooks.run("AfterToolDiscovery", dict(self.data, tools=tools),
                             component=("tool", "discovery"))
        if res.action == "replace" and res.data is not None:
            return res.data
        if res.action == "modified" and res.data is not None:
            return _pick(res.data, "tools", tools)
        return tools


def guarded(services: Watchers, kind: str, name: str, value: Any,
            call: Callable[[str, Any], Any]) -> Any:
    """Run ``call(name, value)`` under the hooks and events of one ``kind`` invocation:
    the same steps ``ToolService.invoke`` and ``AgentRegistry.invoke`` take (see ``Call``),
    for a caller that has no service of its own."""
    hooked = ServiceHooks(services).call(kind, name, value)
    if hooked is None:
        return call(name, value)
    early = hooked.before()
    if early is not PROCEED:
        return early
    return hooked.after(hooked.attempt(call))
