"""Hook registry (llmspell/hooks.py), guarded tool/agent calls and the Hook global."""

from __future__ import annotations

import json

import pytest

from llmspell import config
from llmspell.events import EventBus
from llmspell.hooks import HOOK_POINTS, HookCancelled, HookError, HookRegistry, guarded, to_result
from llmspell.run import Services


def _services() -> Services:
    """A run's services with its hook registry made (as the Hook global makes it)."""
    services = Services(config.load(None, environ={}))
    assert isinstance(services.hooks, HookRegistry)
    return services


def test_exactly_the_spec_hook_points():
    assert len(HOOK_POINTS) == 23
    reg = HookRegistry()
    with pytest.raises(HookError, match="Unknown hook point: Nope"):
        reg.register("Nope", lambda ctx: None)


def test_priority_order_and_modified_chain():
    reg = HookRegistry()
    seen = []
    reg.register("BeforeToolExecution", lambda c: seen.append(("low", c.data)) or None, "low")
    reg.register("BeforeToolExecution",
                 lambda c: seen.append(("high", c.data)) or {"type": "modified", "data": 2},
                 "high")
    reg.register("BeforeToolExecution", lambda c: seen.append(("normal", c.data)), "normal")
    res = reg.run("BeforeToolExecution", 1)
    assert [s[0] for s in seen] == ["high", "normal", "low"]
    assert [s[1] for s in seen] == [1, 2, 2]
    assert res.action == "modified" and res.data == 2


def test_cancel_stops_the_chain_and_unregister():
    reg = HookRegistry()
    later = []
    reg.register("AgentError", lambda c: "stop here")
    hid = reg.register("AgentError", lambda c: later.append(1), "lowest")
    res = reg.run("AgentError", {})
    assert res.action == "cancel" and res.reason == "stop here" and later == []
    assert reg.unregister(hid) is True and reg.unregister(hid) is False
    assert len(reg.list("AgentError")) == 1


def test_to_result_forms():
    assert to_result(None).action == "continue"
    assert to_result("continue").action == "continue"
    assert to_result("skip").action == "skipped"
    assert to_result({"type": "retry", "delay_ms": 5}).delay_ms == 5
    assert to_result({"type": "replace", "data": 1}).data == 1
    assert to_result({"type": "whatever"}).action == "continue"
    with pytest.raises(HookError):
        to_result({"type": "redirect"})


def test_guarded_modify_cancel_replace_redirect():
    services = _services()
    reg = services.hooks
    calls = []

    def call(name, params):
        calls.append((name, params))
        return {"tool": name, "params": params}

    hid = reg.register("BeforeToolExecution", lambda c: {
        "type": "modified", "data": {"parameters": {"x": c.data["parameters"]["x"] * 2}}})
    assert guarded(services, "tool", "calc", {"x": 2}, call)["params"] == {"x": 4}
    reg.unregister(hid)

    hid = reg.register("BeforeToolExecution", lambda c: {"type": "cancel", "reason": "nope"})
    with pytest.raises(HookCancelled, match="Tool 'calc' cancelled by hook: nope"):
        guarded(services, "tool", "calc", {}, call)
    reg.unregister(hid)

    n = len(calls)
    hid = reg.register("BeforeToolExecution", lambda c: {"type": "replace", "data": {"ok": 1}})
    assert guarded(services, "tool", "calc", {}, call) == {"ok": 1}
    assert len(calls) == n  # the tool never ran
    reg.unregister(hid)

    hid = reg.register("BeforeToolExecution", lambda c: {"type": "redirect", "target": "other"})
    assert guarded(services, "tool", "calc", {}, call)["tool"] == "other"
    reg.unregister(hid)

    reg.register("AfterToolExecution", lambda c: {
        "type": "modified", "data": {"result": {"patched": c.data["result"]["tool"]}}})
    assert guarded(services, "tool", "calc", {}, call) == {"patched": "calc"}


def test_guarded_error_hook_retries_and_replaces():
    services = _services()
    attempts = []

    def flaky(name, value):
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("boom")
        return {"text": "fine"}

    services.hooks.register("AgentError", lambda c: {"type": "retry", "delay_ms": 1,
                                                        "max_attempts": 5})
    assert guarded(services, "agent", "a", {"text": "hi"}, flaky) == {"text": "fine"}
    assert len(attempts) == 3

    services = _services()
    services.hooks.register("AgentError", lambda c: {"type": "replace",
                                                        "data": {"text": "fallback"}})

    def broken(name, value):
        raise RuntimeError("down")

    assert guarded(services, "agent", "a", {}, broken) == {"text": "fallback"}


def test_guarded_publishes_lifecycle_events():
    services = Services(config.load(None, environ={}))
    bus = services.events
    assert isinstance(bus, EventBus)
    sid = bus.subscribe("tool.execution.*")
    guarded(services, "tool", "t", {}, lambda n, p: {"ok": True})
    kinds = [bus.receive(sid, 0)["event_type"] for _ in range(2)]
    assert kinds == ["tool.execution.started", "tool.execution.completed"]


def test_hook_global_register_list_unregister(lua):
    run = lua("""
      local h = Hook.register("BeforeAgentExecution", function(ctx) end, "high")
      local h2 = Hook.register("ToolError", function(ctx) end)
      local listed = Hook.list("BeforeAgentExecution")
      local all = Hook.list()
      local by_prio = Hook.list({priority = "high"})
      local id = h:id()
      local point = h:hook_point()
      local removed = Hook.unregister(h)
      local again = h:unregister()
      local ok, err = pcall(function() return h:id() end)
      local bad_ok, bad_err = pcall(Hook.register, "Nope", function() end)
      return {n = #listed, all = #all, prio = by_prio[1].priority, point = point,
              lang = listed[1].language, removed = removed, again = again,
              err = tostring(err), bad = tostring(bad_err), idlen = #id}
    """)
    v = run.value
    assert v["n"] == 1 and v["all"] == 2 and v["prio"] == "Priority(-100)"
    assert v["point"] == "BeforeAgentExecution" and v["lang"] == "lua"
    assert v["removed"] is True and v["again"] is False
    assert "Hook already unregistered" in v["err"]
    assert "Unknown hook point: Nope" in v["bad"]
    assert v["idlen"] == 36


def test_lua_hook_context_and_result_change_outcome(lua):
    run = lua("""
      local seen = {}
      Hook.register("BeforeWorkflowStage", function(ctx)
        seen[#seen + 1] = ctx.point .. ":" .. ctx.component_id.type .. ":" .. ctx.data.step_name
        if ctx.data.step_name == "skip_me" then return "skip" end
        if ctx.data.step_name == "double" then
          return {type = "modified", data = {input = 100}}
        end
      end)
      local wf = Workflow.sequential({name = "w", steps = {
        {name = "skip_me", type = "custom", ["function"] = function() error("never") end},
        {name = "double", type = "custom", ["function"] = function(x) return x * 2 end},
      }})
      local r = wf:execute({})
      return {out = r.output, seen = seen, skipped = r.metadata.extra.skipped_steps}
    """)
    v = run.value
    assert v["out"] == 200 and v["skipped"] == 1
    assert v["seen"] == ["BeforeWorkflowStage:workflow:skip_me",
                         "BeforeWorkflowStage:workflow:double"]


def test_lua_hook_cancels_workflow(lua):
    run = lua("""
      Hook.register("BeforeWorkflowStart", function(ctx) return "maintenance window" end)
      local wf = Workflow.sequential({name = "w", steps = {
        {name = "a", type = "custom", ["function"] = function() return 1 end}}})
      local ok, err = pcall(wf.execute, wf, {})
      return tostring(err)
    """)
    assert "Workflow 'w' cancelled by hook: maintenance window" in run.value


def test_workflow_transition_checkpoint_and_rollback_hooks(lua):
    run = lua("""
      local log = {}
      Hook.register("WorkflowStageTransition", function(ctx)
        log[#log + 1] = ctx.data.from_step .. "->" .. ctx.data.to_step
        if ctx.data.to_step == "skipped" then return "skip" end
      end)
      Hook.register("WorkflowCheckpoint", function(ctx)
        log[#log + 1] = "saved:" .. ctx.data.step_name
      end)
      Hook.register("WorkflowRollback", function(ctx)
        log[#log + 1] = "undo:" .. table.concat(ctx.data.completed_steps, ",")
      end)
      local wf = Workflow.sequential({name = "w", steps = {
        {name = "a", type = "custom", ["function"] = function() return 1 end},
        {name = "skipped", type = "custom", ["function"] = function() return 2 end},
        {name = "c", type = "custom", ["function"] = function() error("late failure") end}}})
      local ok = pcall(wf.execute, wf, {})
      return {ok = ok, log = log}
    """)
    assert run.value["ok"] is False
    assert run.value["log"] == ["saved:a", "a->skipped", "a->c", "undo:a"]


def test_tool_validation_hook_rejects_parameters():
    services = _services()
    services.hooks.register("ToolValidation", lambda c: (
        "path outside the sandbox" if c.data["parameters"].get("path", "").startswith("/etc")
        else None))
    assert guarded(services, "tool", "f", {"path": "/tmp/x"}, lambda n, p: p) == {
        "path": "/tmp/x"}
    with pytest.raises(HookCancelled, match="parameters rejected by hook: path outside"):
        guarded(services, "tool", "f", {"path": "/etc/passwd"}, lambda n, p: p)


def test_system_shutdown_hooks_run_at_the_end_even_after_os_exit(cli):
    code = ('Hook.register("SystemShutdown", function(ctx) print("bye " .. ctx.data.reason) '
            'end) print("hi")')
    proc = cli("exec", code)
    assert proc.stdout.splitlines() == ["hi", "bye finished", "null"]
    proc = cli("exec", code + " os.exit(4)")
    assert proc.returncode == 4 and proc.stdout.splitlines() == ["hi", "bye exit"]


def _echo_tools(*names):
    from llmspell.tools.registry import Registry, ToolOutput, ToolSpec

    registry = Registry()
    for name in names:
        registry.register(ToolSpec(
            name=name, category="utility", description=f"{name} tool", params=[],
            execute=lambda ctx, p, name=name: ToolOutput(text=json.dumps(
                {"operation": name, "success": True, "result": p.data}))))
    return registry


class _Agent:
    """The smallest agent an AgentRegistry keeps: ``invoke`` delegates to the registry."""

    def __init__(self, name, registry):
        self.name = name
        self.registry = registry

    def invoke(self, agent_input, on_chunk=None, context=None):
        return self.registry.invoke(self, agent_input, on_chunk, context)

    def respond(self, agent_input, on_chunk=None, context=None):
        return {"text": f"{self.name}:{agent_input['text']}"}


def test_tool_service_and_agent_registry_call_their_hooks():
    from llmspell.agents.registry import AgentRegistry
    from llmspell.hooks import ServiceHooks
    from llmspell.tools.service import ToolService

    services = Services(config.load(None, environ={}))
    tools = ToolService(registry=_echo_tools("calc", "other"), hooks=ServiceHooks(services))
    agents = AgentRegistry(None, hooks=ServiceHooks(services))
    assert tools.invoke("calc", {"x": 1})["result"] == {"x": 1}  # no hooks yet
    hooks = services.hooks  # made after the services were made
    agents._store("a", _Agent("a", agents))
    agents._store("b", _Agent("b", agents))
    hooks.register("BeforeToolExecution", lambda c: {
        "type": "modified", "data": {"parameters": {"x": 2}}})
    hooks.register("BeforeAgentExecution", lambda c: (
        {"type": "redirect", "target": "b"} if c.data["agent_name"] == "a" else None))
    hooks.register("AfterAgentExecution", lambda c: {
        "type": "modified", "data": {"output": {"text": c.data["output"]["text"] + "!"}}})
    assert tools.invoke("calc", {"x": 1})["result"] == {"x": 2}
    assert agents.get("a").invoke({"text": "hi"}) == {"text": "b:hi!"}
    hooks.register("BeforeToolDiscovery", lambda c: "catalog closed")
    with pytest.raises(HookCancelled, match="Tool discovery cancelled by hook: catalog closed"):
        tools.summaries()
    hooks.register("BeforeAgentInit", lambda c: "no more agents")
    with pytest.raises(HookCancelled, match="Agent 'c' creation cancelled by hook"):
        agents._store("c", _Agent("c", agents))
    assert agents.get("c") is None
    hooks.register("BeforeAgentShutdown", lambda c: "keep it")
    with pytest.raises(HookCancelled, match="Agent 'a' shutdown cancelled by hook: keep it"):
        agents.remove("a")
    assert agents.get("a") is not None


def test_no_service_method_is_patched():
    """Hooks run inside the services' own methods: nothing replaces them at run time."""
    from llmspell.agents.registry import AgentRegistry
    from llmspell.hooks import ServiceHooks
    from llmspell.tools.service import ToolService

    services = _services()
    tools = ToolService(registry=_echo_tools("calc"), hooks=ServiceHooks(services))
    agents = AgentRegistry(None, hooks=ServiceHooks(services))
    tools.invoke("calc", {})
    tools.summaries()
    assert not {"invoke", "summaries", "discover"} & set(vars(tools))
    assert type(agents.agents) is dict
