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
run and is returned. ``guarded(services, "tool", name, params, call)`` wraps one tool or
agent invocation with its Before/After/Error hooks and lifecycle events — the single
place the tool and agent services call.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .events import new_id

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


class HookError(ApiError):
    """A hook point name is wrong, or a hook itself failed."""


class HookCancelled(ApiError):
    """A hook cancelled the operation; the message names the reason."""


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
            except ApiError:
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


def registry_for(services: dict[str, Any]) -> HookRegistry:
    reg = services.get("hooks")
    if reg is None:
        reg = services["hooks"] = HookRegistry()
    return reg


# -- wrapping tool / agent calls -----------------------------------------------

_KINDS = {
    # kind: (before, after, error, name key, input key, output key, event prefix)
    "tool": ("BeforeToolExecution", "AfterToolExecution", "ToolError", "tool_name",
             "parameters", "result", "tool"),
    "agent": ("BeforeAgentExecution", "AfterAgentExecution", "AgentError", "agent_name",
              "input", "output", "agent"),
}


def _pick(data: Any, key: str, fallback: Any) -> Any:
    """A hook's modified data: either the whole context data (take ``key``) or the value."""
    if isinstance(data, dict) and key in data:
        return data[key]
    return fallback if data is None else data


def guarded(services: dict[str, Any], kind: str, name: str, value: Any,
            call: Callable[[str, Any], Any]) -> Any:
    """Run ``call(name, value)`` (one tool or agent invocation) under hooks and events.

    BeforeX may modify the input, cancel (raises HookCancelled), skip or replace (the
    hook's data is the result; nothing runs) or redirect (call ``target`` instead).
    XError may replace the failure with a result or ask for a retry. AfterX may modify
    or replace the result, or cancel. Lifecycle events ``<kind>.execution.*`` go to the
    event bus. With no hooks and no listeners this is one dict lookup and a call.
    """
    hooks: HookRegistry | None = services.get("hooks")
    bus = services.get("events")
    use_hooks = hooks is not None and hooks.active
    use_events = bus is not None and bus.has_listeners()
    if not use_hooks and not use_events:
        return call(name, value)
    before, after, on_error, name_key, in_key, out_key, prefix = _KINDS[kind]
    correlation = new_id()
    label = "Tool" if kind == "tool" else "Agent"
    if use_hooks and kind == "tool" and hooks.has("ToolValidation"):
        res = hooks.run("ToolValidation", {name_key: name, in_key: value},
                        component=(kind, name), correlation_id=correlation)
        if res.action == "cancel":
            raise HookCancelled(f"Tool '{name}' parameters rejected by hook: {res.reason}")
        if res.action == "modified":
            value = _pick(res.data, in_key, value)
    if use_hooks:
        res = hooks.run(before, {name_key: name, in_key: value}, component=(kind, name),
                        correlation_id=correlation)
        if res.action == "modified":
            value = _pick(res.data, in_key, value)
        elif res.action == "cancel":
            raise HookCancelled(f"{label} '{name}' cancelled by hook: {res.reason}")
        elif res.action in ("replace", "skipped"):
            if res.data is not None:
                return res.data
            return {"success": False, "skipped": True, "reason": res.reason or "skipped"}
        elif res.action == "redirect":
            name = res.target or name
    started = time.perf_counter()
    if use_events:
        bus.emit(f"{prefix}.execution.started", {name_key: name, in_key: value},
                 correlation_id=correlation, component=name)
    attempts = 0
    while True:
        attempts += 1
        try:
            result = call(name, value)
            break
        except Exception as exc:
            if use_events:
                bus.emit(f"{prefix}.execution.failed", {name_key: name, "error": str(exc)},
                         correlation_id=correlation, component=name)
            if not use_hooks or not hooks.has(on_error):
                raise
            res = hooks.run(on_error, {name_key: name, in_key: value, "error": str(exc)},
                            component=(kind, name), correlation_id=correlation)
            if res.action == "replace" and res.data is not None:
                result = res.data
                break
            if res.action == "modified" and res.data is not None:
                result = _pick(res.data, out_key, res.data)
                break
            if res.action == "retry" and attempts < max(1, res.max_attempts):
                time.sleep(max(0, res.delay_ms) / 1000)
                continue
            raise
    if use_hooks:
        res = hooks.run(after, {name_key: name, in_key: value, out_key: result},
                        component=(kind, name), correlation_id=correlation)
        if res.action == "replace" and res.data is not None:
            result = res.data
        elif res.action == "modified" and res.data is not None:
            result = _pick(res.data, out_key, result)
        elif res.action == "cancel":
            raise HookCancelled(f"{label} '{name}' result rejected by hook: {res.reason}")
    if use_events:
        bus.emit(f"{prefix}.execution.completed",
                 {name_key: name, "duration_ms": (time.perf_counter() - started) * 1000},
                 correlation_id=correlation, component=name)
    return result


def guard_tools(service: Any, services: dict[str, Any]) -> Any:
    """Route ``service.invoke(name, params)`` (the tool choke point) through ``guarded``."""
    if getattr(service, "_llmspell_guarded", False):
        return service
    raw = service.invoke

    def invoke(name: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        return guarded(services, "tool", name, params,
                       lambda n, p: raw(n, p, *args, **kw))

    service.invoke = invoke
    for method in ("summaries", "discover"):  # Tool.list / Tool.discover
        if hasattr(service, method):
            setattr(service, method, _discovery(getattr(service, method), method, services))
    service._llmspell_guarded = True
    return service


def _discovery(raw: Callable[..., Any], operation: str, services: dict[str, Any]
               ) -> Callable[..., Any]:
    """Tool listing under BeforeToolDiscovery (cancel, replace) / AfterToolDiscovery
    (modify or replace the list)."""

    def listing(*args: Any) -> Any:
        hooks: HookRegistry | None = services.get("hooks")
        if hooks is None or not (hooks.has("BeforeToolDiscovery")
                                 or hooks.has("AfterToolDiscovery")):
            return raw(*args)
        data = {"operation": operation, "arguments": [a for a in args if a is not None]}
        res = hooks.run("BeforeToolDiscovery", data, component=("tool", "discovery"))
        if res.action == "cancel":
            raise HookCancelled(f"Tool discovery cancelled by hook: {res.reason}")
        if res.action == "replace" and res.data is not None:
            return res.data
        tools = list(raw(*args))
        res = hooks.run("AfterToolDiscovery", dict(data, tools=tools),
                        component=("tool", "discovery"))
        if res.action == "replace" and res.data is not None:
            return res.data
        if res.action == "modified" and res.data is not None:
            return _pick(res.data, "tools", tools)
        return tools

    return listing


class _GuardedAgents(dict):  # type: ignore[type-arg]
    """An agent registry's ``agents`` dict that routes each stored agent's ``invoke``
    through ``guarded`` (every way of calling an agent ends in ``agent.invoke``)."""

    def __init__(self, services: dict[str, Any], registry: Any, items: dict[str, Any]):
        super().__init__()
        self._services = services
        self._registry = registry
        for name, agent in items.items():
            self._guard(name, agent)
            super().__setitem__(name, agent)

    def _lifecycle(self, point: str, name: str, agent: Any, verb: str) -> None:
        hooks: HookRegistry | None = self._services.get("hooks")
        if hooks is None or not hooks.has(point):
            return
        res = hooks.run(point, {"agent_name": name,
                                "agent_type": type(agent).__name__},
                        component=("agent", name))
        if res.action == "cancel":
            raise HookCancelled(f"Agent '{name}' {verb} cancelled by hook: {res.reason}")

    def __setitem__(self, name: str, agent: Any) -> None:
        # an agent is stored right after it is made: BeforeAgentInit may refuse it
        self._lifecycle("BeforeAgentInit", name, agent, "creation")
        self._guard(name, agent)
        super().__setitem__(name, agent)
        self._lifecycle("AfterAgentInit", name, agent, "creation")

    def __delitem__(self, name: str) -> None:
        agent = self[name]
        self._lifecycle("BeforeAgentShutdown", name, agent, "shutdown")
        super().__delitem__(name)
        self._lifecycle("AfterAgentShutdown", name, agent, "shutdown")

    def _guard(self, name: str, agent: Any) -> None:
        if not getattr(agent, "_llmspell_guarded", False) and hasattr(agent, "invoke"):
            raw = agent.invoke
            services, registry = self._services, self._registry

            def call(target: str, value: Any, on_chunk: Any, context: Any) -> Any:
                if target == name:
                    return raw(value, on_chunk=on_chunk, context=context)
                other = registry.get(target)  # a hook redirected the call
                if other is None:
                    raise ApiError(f"Agent '{target}' not found")
                return getattr(other, "_llmspell_raw_invoke", other.invoke)(
                    value, on_chunk=on_chunk, context=context)

            def invoke(agent_input: Any, on_chunk: Any = None, context: Any = None) -> Any:
                return guarded(services, "agent", name, agent_input,
                               lambda n, v: call(n, v, on_chunk, context))

            agent._llmspell_raw_invoke = raw
            agent.invoke = invoke
            agent._llmspell_guarded = True


def guard_agents(registry: Any, services: dict[str, Any]) -> Any:
    """Make every agent of ``registry`` (now and later) run under hooks and events."""
    if not isinstance(registry.agents, _GuardedAgents):
        registry.agents = _GuardedAgents(services, registry, dict(registry.agents))
    return registry
