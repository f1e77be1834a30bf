"""Hooks and lifecycle events on real tool and agent calls (Tool.invoke, agent:invoke,
workflow steps, tools an agent calls)."""

from __future__ import annotations


def test_tool_hooks_modify_cancel_replace_and_events(lua):
    run = lua("""
      local sid = Event.subscribe("tool.execution.*")
      local h = Hook.register("BeforeToolExecution", function(ctx)
        if ctx.data.tool_name == "text_manipulator" then
          local p = ctx.data.parameters
          return {type = "modified", data = {parameters = {operation = p.operation,
                                                          input = p.input .. " (checked)"}}}
        end
        if ctx.data.tool_name == "uuid_generator" then return "no ids today" end
        if ctx.data.tool_name == "calculator" then
          return {type = "replace", data = {success = true, result = {result = 42}}}
        end
      end)
      local after = Hook.register("AfterToolExecution", function(ctx)
        if ctx.data.tool_name == "text_manipulator" then
          local r = ctx.data.result
          r.result.result = r.result.result .. "!"
          return {type = "modified", data = {result = r}}
        end
      end)
      local up = Tool.invoke("text_manipulator", {operation = "uppercase", input = "abc"})
      local ok, err = pcall(Tool.invoke, "uuid_generator", {operation = "generate"})
      local calc = Tool.invoke("calculator", {operation = "evaluate", input = "1+1"})
      local kinds = {}
      while true do
        local e = Event.receive(sid, 0)
        if not e then break end
        kinds[#kinds + 1] = e.event_type .. ":" .. e.data.tool_name
      end
      h:unregister()
      after:unregister()
      local plain = Tool.invoke("text_manipulator", {operation = "uppercase", input = "abc"})
      return {up = up.result.result, err = tostring(err), calc = calc.result.result,
              kinds = kinds, plain = plain.result.result}
    """)
    v = run.value
    assert v["up"] == "ABC (CHECKED)!"
    assert "Tool 'uuid_generator' cancelled by hook: no ids today" in v["err"]
    assert v["calc"] == 42 and v["plain"] == "ABC"
    assert v["kinds"] == ["tool.execution.started:text_manipulator",
                          "tool.execution.completed:text_manipulator"]


def test_tool_error_hook_supplies_a_fallback(lua):
    run = lua("""
      Hook.register("ToolError", function(ctx)
        return {type = "replace", data = {success = false, fallback = ctx.data.error}}
      end)
      local r = Tool.invoke("text_manipulator", {operation = "nope", input = "x"})
      return r.fallback
    """)
    assert "Invalid operation: nope" in run.value


def test_tool_hooks_apply_to_workflow_tool_steps_in_branch_threads(lua):
    run = lua("""
      local seen = 0
      Hook.register("BeforeToolExecution", function(ctx)
        seen = seen + 1
        return {type = "modified", data = {parameters = {operation = "lowercase",
                                                        input = ctx.data.parameters.input}}}
      end)
      local r = Workflow.parallel({name = "p", steps = {
        {name = "a", type = "tool", tool = "text_manipulator",
         input = {operation = "uppercase", input = "MiXeD"}},
        {name = "b", type = "tool", tool = "text_manipulator",
         input = {operation = "uppercase", input = "Other"}}}}):execute({})
      return {a = r.output.a.result.result, b = r.output.b.result.result, seen = seen}
    """)
    assert run.value == {"a": "mixed", "b": "other", "seen": 2}


def test_agent_hooks_modify_input_and_output_and_cancel(lua, stub):
    run = lua("""
      local a = Agent.builder():name("helper"):model("openai/gpt-4o-mini"):build()
      local sid = Event.subscribe("agent.execution.*")
      Hook.register("BeforeAgentExecution", function(ctx)
        if ctx.data.input.text == "forbidden" then return "policy: not allowed" end
        return {type = "modified", data = {input = {text = "[prefixed] " .. ctx.data.input.text}}}
      end)
      Hook.register("AfterAgentExecution", function(ctx)
        local out = ctx.data.output
        out.text = "REVIEWED: " .. out.text
        return {type = "modified", data = {output = out}}
      end)
      local r = a:invoke({text = "hello"})
      local ok, err = pcall(a.invoke, a, {text = "forbidden"})
      local kinds = {}
      while true do
        local e = Event.receive(sid, 0)
        if not e then break end
        kinds[#kinds + 1] = e.event_type
      end
      return {text = r.text, err = tostring(err), kinds = kinds}
    """)
    v = run.value
    assert v["text"].startswith("REVIEWED: [stub gpt-4o-mini ")
    assert "Agent 'helper' cancelled by hook: policy: not allowed" in v["err"]
    assert v["kinds"] == ["agent.execution.started", "agent.execution.completed"]
    sent = [e["body"]["messages"][-1]["content"] for e in stub.log() if e["endpoint"] == "chat"]
    assert sent[-1] == "[prefixed] hello"
    assert "forbidden" not in sent


def test_agent_init_and_shutdown_hooks(lua, stub):
    run = lua("""
      local log = {}
      Hook.register("BeforeAgentInit", function(ctx)
        log[#log + 1] = "init?" .. ctx.data.agent_name
        if ctx.data.agent_name == "rogue" then return "no rogue agents" end
      end)
      Hook.register("AfterAgentInit", function(ctx)
        log[#log + 1] = "init:" .. ctx.data.agent_name end)
      Hook.register("BeforeAgentShutdown", function(ctx)
        if ctx.data.agent_name == "keeper" then return "keep it" end
      end)
      Hook.register("AfterAgentShutdown", function(ctx)
        log[#log + 1] = "gone:" .. ctx.data.agent_name end)
      local a = Agent.builder():name("helper"):model("openai/gpt-4o-mini"):build()
      local ok, err = pcall(function()
        return Agent.builder():name("rogue"):model("openai/gpt-4o-mini"):build() end)
      local k = Agent.builder():name("keeper"):model("openai/gpt-4o-mini"):build()
      a:destroy()
      local ok2, err2 = pcall(k.destroy, k)
      return {log = log, err = tostring(err), err2 = tostring(err2), ok2 = ok2}
    """)
    v = run.value
    assert v["log"] == ["init?helper", "init:helper", "init?rogue", "init?keeper", "init:keeper",
                        "gone:helper"]
    assert "Agent 'rogue' creation cancelled by hook: no rogue agents" in v["err"]
    assert v["ok2"] is False and "Agent 'keeper' shutdown cancelled by hook: keep it" in v["err2"]


def test_tool_discovery_hooks_filter_the_listing(lua):
    run = lua("""
      local before = #Tool.list()
      Hook.register("AfterToolDiscovery", function(ctx)
        local kept = {}
        for _, t in ipairs(ctx.data.tools) do
          if t.name:match("^text") or t.name:match("^calc") then kept[#kept + 1] = t end
        end
        return {type = "modified", data = {tools = kept}}
      end)
      local names = {}
      for _, t in ipairs(Tool.list()) do names[#names + 1] = t.name end
      local found = #Tool.discover({category = "utility"})
      Hook.register("BeforeToolDiscovery", function(ctx) return "catalog is private" end)
      local ok, err = pcall(Tool.list)
      return {before = before, names = names, err = tostring(err), found = found}
    """)
    v = run.value
    assert v["before"] > 2 and v["names"] == ["calculator", "text_manipulator"]
    assert "Tool discovery cancelled by hook: catalog is private" in v["err"]
    assert v["found"] <= 2
