"""Workflow global and engine: each kind, error strategies, timeouts, callbacks, metrics."""

from __future__ import annotations

import threading

import pytest
from lua_text import lua_fmt

from llmspell.workflows import Engine, LuaGate, Step, Workflow, WorkflowError
from llmspell.workflows.model import Branch, ErrorStrategy

STEP = 'type = "custom", ["function"] = '


def test_sequential_passes_outputs_and_result_shape(lua):
    run = lua(lua_fmt("""
      local wf = Workflow.sequential({name = "pipe", description = "d", steps = {
        {name = "inc", ${STEP} function(input) return input.n + 1 end},
        {name = "dbl", ${STEP} function(x, ctx) return {v = x * 2, prev = ctx.outputs.inc} end},
        {name = "upper", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "v={{step.dbl.v}}"}},
      }})
      local r = wf:execute({n = 4})
      local x = r.metadata.extra
      return {text = r.text, ok = r.success, type = x.workflow_type, name = x.workflow_name,
              total = x.total_steps, good = x.successful_steps, failed = x.failed_steps,
              rate = x.success_rate, dbl = x.outputs.dbl, id = x.workflow_id == wf.id,
              exec = x.execution_id == r.execution_id, media = #r.media,
              upper = r.output.result.result, stored = State.get("workflow:" ..
                r.execution_id .. ":inc"), got = wf:get_output("inc"),
              fields = wf.type .. "/" .. wf.name}
    """, STEP=STEP))
    v = run.value
    assert v["upper"] == "V=10" and v["ok"] is True
    assert v["type"] == "sequential" and v["name"] == "pipe" and v["fields"] == "sequential/pipe"
    assert (v["total"], v["good"], v["failed"], v["rate"]) == (3, 3, 0, 100)
    assert v["dbl"] == {"v": 10, "prev": 5}
    assert v["id"] and v["exec"] and v["media"] == 0
    assert v["stored"] == 5 and v["got"] == 5
    assert v["text"].startswith("Sequential workflow 'pipe' completed successfully. 3 steps ")


def test_fail_fast_raises_and_continue_goes_on(lua):
    run = lua(lua_fmt("""
      local ran = {}
      local steps = {
        {name = "a", ${STEP} function() ran[#ran + 1] = "a"; return 1 end},
        {name = "bad", ${STEP} function() error("kaput") end},
        {name = "c", ${STEP} function(x) ran[#ran + 1] = "c"; return x end},
      }
      local ff = Workflow.sequential({name = "ff", steps = steps})
      local ok, err = pcall(ff.execute, ff, {})
      local cont = Workflow.sequential({name = "cont", steps = steps,
                                        error_strategy = "continue"})
      local r = cont:execute({})
      return {ok = ok, err = tostring(err), ran = ran, out = r.output, failed =
              r.metadata.extra.failed_steps, success = r.success,
              errors = r.metadata.extra.errors, m = cont:get_metrics().execution,
              fm = ff:get_metrics().execution}
    """, STEP=STEP))
    v = run.value
    assert v["ok"] is False
    assert "Workflow 'ff' failed at step 'bad'" in v["err"] and "kaput" in v["err"]
    assert v["ran"] == ["a", "a", "c"]
    assert v["out"] == 1 and v["failed"] == 1 and v["success"] is False
    assert "bad: " in v["errors"][0]
    assert v["m"]["total_executions"] == 1 and v["m"]["failed_executions"] == 1
    assert v["fm"]["failed_executions"] == 1 and v["fm"]["steps_failed"] == 1


def test_retry_strategy_and_retry_count(lua):
    run = lua(lua_fmt("""
      local n = 0
      local wf = Workflow.sequential({name = "r",
        error_strategy = {type = "retry", max_attempts = 4, backoff_ms = 1},
        steps = {{name = "flaky", ${STEP} function()
          n = n + 1; if n < 3 then error("not yet") end; return n end}}})
      local r = wf:execute({})
      local m = 0
      local wf2 = Workflow.sequential({name = "r2", steps = {
        {name = "s", retry_count = 2, ${STEP} function() m = m + 1; error("always") end}}})
      local ok = pcall(wf2.execute, wf2, {})
      return {out = r.output, attempts = r.metadata.extra.step_results[1].attempts,
              retries = wf:get_metrics().execution.retries, m = m, ok = ok}
    """, STEP=STEP))
    assert run.value == {"out": 3, "attempts": 3, "retries": 2, "m": 3, "ok": False}


def test_parallel_branches_and_required_flag(lua):
    run = lua(lua_fmt("""
      local wf = Workflow.parallel({name = "p", branches = {
        {name = "left", steps = {{name = "l", ${STEP} function(i) return i.base + 1 end}}},
        {name = "right", steps = {
          {name = "r1", ${STEP} function(i) return i.base + 2 end},
          {name = "r2", ${STEP} function(x) return x * 10 end}}},
        {name = "opt", required = false, steps = {
          {name = "o", ${STEP} function() error("optional failure") end}}},
      }, error_strategy = "continue"})
      local r = wf:execute({base = 1})
      local simple = Workflow.parallel({name = "s", steps = {
        {name = "x", ${STEP} function() return "X" end},
        {name = "y", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "y"}}}})
      local r2 = simple:execute({})
      return {out = r.output, success = r.success, branches = r.metadata.extra.branches,
              x = r2.output.x, y = r2.output.y.result.result}
    """, STEP=STEP))
    v = run.value
    assert v["out"] == {"left": 2, "right": 30}
    assert v["success"] is True
    assert v["branches"] == {"left": "completed", "right": "completed", "opt": "failed"}
    assert v["x"] == "X" and v["y"] == "Y"


def test_parallel_fail_fast_on_required_branch(lua):
    run = lua(lua_fmt("""
      local wf = Workflow.parallel({name = "p", steps = {
        {name = "ok", ${STEP} function() return 1 end},
        {name = "bad", ${STEP} function() error("branch broke") end}}})
      local ok, err = pcall(wf.execute, wf, {})
      return tostring(err)
    """, STEP=STEP))
    assert "Workflow 'p' failed in branch 'bad'" in run.value and "branch broke" in run.value


def test_parallel_tool_steps_really_overlap():
    """Three branches call a backend that only returns once all three are inside it."""
    barrier = threading.Barrier(3, timeout=10)
    threads = set()

    def tool(name, params):
        threads.add(threading.get_ident())
        barrier.wait()  # raises BrokenBarrierError if the calls did not overlap
        return {"tool": name}

    engine = Engine(LuaGate(), tool=tool)
    wf = Workflow("io", "parallel", steps=[Step(f"s{i}", "tool", tool=f"t{i}") for i in range(3)])
    result = engine.execute(wf, {})
    assert result["output"] == {"s0": {"tool": "t0"}, "s1": {"tool": "t1"},
                                "s2": {"tool": "t2"}}
    assert len(threads) == 3 and threading.get_ident() not in threads


def test_lua_steps_in_parallel_branches_run_on_the_script_thread(lua):
    """Branch threads hand Lua work back to the script's thread (no deadlock)."""
    run = lua(lua_fmt("""
      local order = {}
      local steps = {}
      for i = 1, 4 do
        steps[i] = {name = "b" .. i, type = "workflow", workflow = Workflow.sequential({
          name = "inner" .. i, steps = {
            {name = "t", type = "tool", tool = "uuid_generator",
              input = {operation = "generate"}},
            {name = "lua", ${STEP} function(x) order[#order + 1] = i; return i * i end}}})}
      end
      local r = Workflow.parallel({name = "p", steps = steps, max_concurrency = 2}):execute({})
      table.sort(order)
      return {out = r.output, order = order}
    """, STEP=STEP))
    assert run.value == {"out": {"b1": 1, "b2": 4, "b3": 9, "b4": 16}, "order": [1, 2, 3, 4]}


def test_conditional_builder_then_else_and_lua_condition(lua):
    run = lua(lua_fmt("""
      local function make(flag)
        local wf = Workflow.builder():name("c"):conditional()
          :condition({type = "shared_data_equals", key = "mode", value = "fast"})
          :add_then_step({name = "fast", ${STEP} function() return "took fast" end})
          :add_else_step({name = "slow", ${STEP} function() return "took slow" end})
          :build()
        if flag then wf:set_shared_data("mode", "fast") end
        return wf:execute({})
      end
      local a, b = make(true), make(false)
      local fn_wf = Workflow.conditional({name = "f", branches = {
        {name = "big", condition = function(ctx) return ctx.input.n > 10 end,
          steps = {{name = "s", ${STEP} function() return "big" end}}},
        {name = "small", condition = {type = "always"},
          steps = {{name = "s", ${STEP} function() return "small" end}}}}})
      return {a = a.output, ab = a.metadata.extra.branch, b = b.output,
              bb = b.metadata.extra.branch, big = fn_wf:execute({n = 50}).output,
              small = fn_wf:execute({n = 1}).output}
    """, STEP=STEP))
    assert run.value == {"a": "took fast", "ab": "then", "b": "took slow", "bb": "else",
                         "big": "big", "small": "small"}


def test_unknown_types_and_missing_builder_type_raise(lua):
    run = lua(lua_fmt("""
      local e1 = select(2, pcall(function() return Workflow.builder():build() end))
      local e2 = select(2, pcall(function()
        return Workflow.builder():sequential():add_step({name = "x", type = "magic"}) end))
      local e3 = select(2, pcall(function()
        return Workflow.builder():conditional():condition({type = "sometimes"}) end))
      local e4 = select(2, pcall(Workflow.sequential, {steps = {}}))
      local wf = Workflow.sequential({name = "e", steps = {
        {name = "s", ${STEP} function() return 1 end}}})
      local e5 = select(2, pcall(wf.execute, wf, {input = ""}))
      local e6 = select(2, pcall(wf.get_output, wf, "s"))
      return {tostring(e1), tostring(e2), tostring(e3), tostring(e4), tostring(e5),
              tostring(e6)}
    """, STEP=STEP))
    v = run.value
    assert "Workflow type not specified" in v[0]
    assert "Unknown step type: magic" in v[1]
    assert "Unknown condition type: sometimes" in v[2]
    assert "Failed to get workflow name" in v[3]
    assert "Workflow input text cannot be empty" in v[4]
    assert "No workflow execution found. Run execute() first." in v[5]


def test_loop_range_collection_while_and_conditions(lua):
    run = lua(lua_fmt("""
      local body = {{name = "sq", ${STEP} function(x, ctx) return x * x end}}
      local r1 = Workflow.loop({name = "r", iterator = {range = {start = 1, ["end"] = 5}},
                                body = body}):execute({})
      local r2 = Workflow.loop({name = "c", iterator = {collection = {3, 4}},
                                body = body}):execute({})
      local w = Workflow.loop({name = "w", iterator = {while_condition = "iteration <= 3"},
        body = {{name = "it", ${STEP} function(x, ctx) return ctx.iteration end}},
        max_iterations = 10}):execute({})
      local calls = 0
      local b = Workflow.builder():loop():name("b"):with_range({start = 0, ["end"] = 100})
        :loop_condition(function(ctx) calls = calls + 1; return ctx.iteration <= 5 end)
        :add_step({name = "id", ${STEP} function(x) return x end}):build():execute({})
      local br = Workflow.loop({name = "br", iterator = {range = {start = 0, ["end"] = 100}},
        body = body, break_conditions = {function(ctx) return ctx.prev >= 16 end}})
        :execute({})
      return {r1 = r1.output, r2 = r2.output, w = w.output, wexit = w.metadata.extra.loop_exit,
              b = b.output, calls = calls, bexit = b.metadata.extra.loop_exit,
              br = br.output, brexit = br.metadata.extra.loop_exit}
    """, STEP=STEP))
    v = run.value
    assert v["r1"] == [1, 4, 9, 16]  # end is exclusive
    assert v["r2"] == [9, 16]
    assert v["w"] == [1, 2, 3] and v["wexit"] == "while_condition"
    assert v["b"] == [0, 1, 2, 3, 4] and v["calls"] == 6 and v["bexit"] == "loop_condition"
    assert v["br"] == [0, 1, 4, 9, 16] and v["brexit"] == "break_condition"


def test_nested_workflow_step_and_templates(lua):
    run = lua(lua_fmt("""
      local inner = Workflow.sequential({name = "inner", steps = {
        {name = "greet", ${STEP} function(i) return "hello " .. i.who end}}})
      local outer = Workflow.sequential({name = "outer", steps = {
        {name = "pick", ${STEP} function(i) return {who = i.name} end},
        {name = "nested", type = "workflow", workflow = inner},
        {name = "show", ${STEP} function(x, ctx) return ctx.parameters.msg end,
          parameters = {msg = "[{{step.nested}}] from {{input.name}}"}}}})
      return outer:execute({name = "bob"}).output
    """, STEP=STEP))
    assert run.value == "[hello bob] from bob"


def test_callbacks_are_really_called(lua):
    run = lua(lua_fmt("""
      local log = {}
      local wf = Workflow.sequential({name = "cb", steps = {
        {name = "s", ${STEP} function(i) if i.fail then error("bad input") end return 1 end}}})
      local reg = wf:on_before_execute(function(ctx)
        log[#log + 1] = "before:" .. ctx.workflow_name end)
      wf:on_after_execute(function(result) log[#log + 1] = "after:" .. tostring(result.success) end)
      wf:on_error(function(ctx) log[#log + 1] = "error:" .. ctx.failed_step end)
      wf:execute({})
      pcall(wf.execute, wf, {fail = true})
      local seen = {}
      Workflow.setDefaultErrorHandler(function(ctx) seen[#seen + 1] = ctx.error end)
      local other = Workflow.sequential({name = "o", steps = {
        {name = "x", ${STEP} function() error("oops") end}}})
      pcall(other.execute, other, {})
      local cancel = Workflow.sequential({name = "no", steps = {
        {name = "x", ${STEP} function() return 1 end}}})
      cancel:on_before_execute(function() return false end)
      local ok, err = pcall(cancel.execute, cancel, {})
      return {log = log, seen = seen, reg = reg.message, hook_type = reg.hook_type,
              err = tostring(err), m = wf:get_metrics().execution}
    """, STEP=STEP))
    v = run.value
    assert v["log"] == ["before:cb", "after:true", "before:cb", "error:s"]
    assert "Workflow 'o' failed at step 'x'" in v["seen"][0] and "oops" in v["seen"][0]
    assert "cancelled by on_before_execute" in v["seen"][1]
    assert v["reg"] == "Hook registered" and v["hook_type"] == "on_before_execute"
    assert "cancelled by on_before_execute" in v["err"]
    m = v["m"]
    assert m["total_executions"] == 2 and m["successful_executions"] == 1
    assert m["failed_executions"] == 1 and m["average_duration_ms"] > 0


def test_step_timeout_stops_a_busy_lua_step_and_the_script_goes_on(lua):
    run = lua(lua_fmt("""
      local wf = Workflow.sequential({name = "t", error_strategy = "continue", steps = {
        {name = "spin", timeout_ms = 100, ${STEP} function() while true do end end},
        {name = "after", ${STEP} function() return "still alive" end}}})
      local r = wf:execute({})
      local n = 0
      for i = 1, 300000 do n = n + 1 end   -- the script's own deadline is intact
      return {out = r.output, err = r.metadata.extra.step_results[1].error, n = n}
    """, STEP=STEP), timeout=30)
    v = run.value
    assert v["out"] == "still alive" and "timed out" in v["err"] and v["n"] == 300000


def test_workflow_timeout_on_blocking_steps():
    release = threading.Event()

    def tool(name, params):
        release.wait(10)
        return {}

    engine = Engine(LuaGate(), tool=tool)
    wf = Workflow("slow", "parallel", timeout_ms=100,
                  branches=[Branch("a", [Step("a", "tool", tool="x")])])
    try:
        with pytest.raises(WorkflowError, match="timed out after 100 ms"):
            engine.execute(wf, {})
    finally:
        release.set()
    assert wf.metrics.failed_executions == 1


def test_engine_retry_backoff_counts(monkeypatch):
    calls = []

    def fn(value, ctx):
        calls.append(value)
        if len(calls) < 2:
            raise RuntimeError("first try fails")
        return "ok"

    wf = Workflow("r", "sequential", steps=[Step("s", "custom", fn=fn)],
                  error_strategy=ErrorStrategy("retry", max_attempts=3, backoff_ms=0))
    result = Engine(LuaGate()).execute(wf, {"input": "x"})
    assert result["output"] == "ok" and wf.metrics.retries == 1


def test_module_functions(lua):
    run = lua(lua_fmt("""
      Workflow.clear()
      local wf = Workflow.sequential({name = "a", steps = {
        {name = "s", ${STEP} function() return 1 end}}})
      local id = Workflow.register("sequential", {name = "b", steps = {
        {name = "s", ${STEP} function() return 2 end}}})
      local listed = Workflow.list()
      local got = Workflow.get(wf.id)
      local by_type = Workflow.get("loop")
      local ran = Workflow.instance(id):execute({}).output
      Workflow.remove(id)
      local ok = pcall(Workflow.get, id)
      Workflow.enableDebug(true)
      local dbg = Workflow.isDebugEnabled()
      Workflow.enableDebug(false)
      return {types = Workflow.types(), n = #listed, first = listed[1].type, got = got.name,
              loop = by_type.type, ran = ran, ok = ok, dbg = dbg, info = wf:get_info().id == wf.id,
              valid = wf:validate().valid, dbgt = wf:debug().type}
    """, STEP=STEP))
    v = run.value
    assert v["types"] == ["sequential", "conditional", "loop", "parallel"]
    assert v["n"] == 6 and v["first"] == "instance" and v["got"] == "a"
    assert v["loop"] == "loop" and v["ran"] == 2 and v["ok"] is False and v["dbg"] is True
    assert v["info"] is True and v["valid"] is True and v["dbgt"] == "sequential"


def test_emit_outputs_and_state(lua):
    run = lua(lua_fmt("""
      local sid = Event.subscribe("workflow.*")
      local wf = Workflow.sequential({name = "e", steps = {
        {name = "s", ${STEP} function() return "v" end}}})
      local res = wf:emit("custom.thing", {x = 1})
      wf:execute({})
      local types = {}
      while true do
        local e = Event.receive(sid, 0)
        if not e then break end
        types[#types + 1] = e.event_type
      end
      local set = wf:set_state("k", {a = 1})
      return {emit = res.success, name = res.event_name, types = types,
              list = wf:list_outputs(), all = wf:get_all_outputs(), set = set,
              state = wf:get_state("k"), cleared = wf:clear_outputs().deleted,
              after = #wf:list_outputs(), exec = #wf:get_execution_id()}
    """, STEP=STEP))
    v = run.value
    assert v["emit"] is True and v["name"] == "custom.thing"
    assert v["types"] == ["workflow.started", "workflow.step.started",
                          "workflow.step.completed", "workflow.completed"]
    assert v["list"] == ["s"] and v["all"] == {"s": "v"} and v["set"] is True
    assert v["state"] == {"a": 1} and v["cleared"] == 1 and v["after"] == 0
    assert v["exec"] == 36


def test_workflow_stage_hooks_modify_output(lua):
    run = lua(lua_fmt("""
      Hook.register("AfterWorkflowStage", function(ctx)
        if ctx.data.step_name == "a" then
          return {type = "modified", data = {output = ctx.data.output .. "!"}}
        end
      end)
      local wf = Workflow.sequential({name = "h", steps = {
        {name = "a", ${STEP} function() return "hi" end},
        {name = "b", ${STEP} function(x) return x .. "?" end}}})
      return wf:execute({}).output
    """, STEP=STEP))
    assert run.value == "hi!?"


def test_step_timeout_on_a_blocking_tool_step():
    release = threading.Event()

    def tool(name, params):
        release.wait(10)
        return {}

    wf = Workflow("s", "sequential", error_strategy=ErrorStrategy("continue"),
                  steps=[Step("stuck", "tool", tool="x", timeout_ms=50),
                         Step("next", "custom", fn=lambda v, ctx: "ran")])
    try:
        result = Engine(LuaGate(), tool=tool).execute(wf, {})
    finally:
        release.set()
    first = result["metadata"]["extra"]["step_results"][0]
    assert first["error"] == "step 'stuck' timed out after 50 ms"
    assert result["output"] == "ran"


def test_agent_steps_against_the_stub(lua, stub):
    run = lua(lua_fmt("""
      local a = Agent.builder():name("writer"):model("openai/gpt-4o-mini"):build()
      local b = Agent.builder():name("critic"):model("openai/gpt-4o-mini"):build()
      local seq = Workflow.sequential({name = "write", steps = {
        {name = "topic", ${STEP} function(i) return "Write about " .. i.topic end},
        {name = "draft", type = "agent", agent = "writer"},
        {name = "review", type = "agent", agent = "critic", input = "Review: {{prev}}"}}})
      local r = seq:execute({topic = "lua"})
      local par = Workflow.parallel({name = "both", steps = {
        {name = "w", type = "agent", agent = "writer", input = "one"},
        {name = "c", type = "agent", agent = b, input = "two"}}}):execute({})
      local missing = Workflow.sequential({name = "m", steps = {
        {name = "x", type = "agent", agent = "nobody"}}})
      local ok, err = pcall(missing.execute, missing, {})
      return {draft = r.metadata.extra.outputs.draft.text, review = r.output.text,
              w = par.output.w.text, c = par.output.c.text, err = tostring(err)}
    """, STEP=STEP))
    v = run.value
    assert v["draft"].startswith("[stub gpt-4o-mini ") and v["review"].startswith("[stub ")
    assert v["w"].startswith("[stub ") and v["c"].startswith("[stub ")
    assert "Agent 'nobody' not found" in v["err"]
    users = [e["body"]["messages"][-1]["content"] for e in stub.log()
             if e["endpoint"] == "chat"]
    assert "Write about lua" in users
    assert any(u.startswith("Review: [stub gpt-4o-mini ") for u in users)
    assert {"one", "two"} <= set(users)


def test_cookbook_scripts_of_this_area(cli):
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "cookbook"
    proc = cli("run", str(root / "workflows.lua"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "flaky_attempts": 3, "orders_processed": 3, "parallel_sum": 5050, "runs": 2,
        "words": 4}
    proc = cli("run", str(root / "hooks_events.lua"))
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout.strip().splitlines()[-1])
    assert value["price"] == "120.00 EUR (incl. VAT)" and value["cancelled"] is True
    assert value["shout"] == "QUIET" and value["write_blocked"] is True


def test_lua_hooks_fired_from_branch_threads_run_on_the_script_thread(lua):
    run = lua(lua_fmt("""
      local seen = {}
      Hook.register("BeforeWorkflowStage", function(ctx)
        seen[#seen + 1] = ctx.data.step_name
        if ctx.data.step_name == "b" then return {type = "modified", data = {input = 7}} end
      end)
      local inner = Workflow.parallel({name = "inner", steps = {
        {name = "c", ${STEP} function() return "c" end},
        {name = "d", type = "tool", tool = "uuid_generator",
          input = {operation = "generate"}}}})
      local r = Workflow.parallel({name = "outer", steps = {
        {name = "a", ${STEP} function() return "a" end},
        {name = "b", ${STEP} function(x) return x * 6 end},
        {name = "nested", type = "workflow", workflow = inner}}}):execute({})
      table.sort(seen)
      return {seen = seen, b = r.output.b, c = r.output.nested.c}
    """, STEP=STEP))
    assert run.value == {"seen": ["a", "b", "c", "d", "nested"], "b": 42, "c": "c"}


def test_script_timeout_inside_a_parallel_branch_stops_the_script(lua):
    from llmspell.errors import ScriptTimeout

    with pytest.raises(ScriptTimeout):
        lua(lua_fmt("""
          Workflow.parallel({name = "p", steps = {
            {name = "spin", timeout_ms = 60000, ${STEP} function() while true do end end},
            {name = "ok", ${STEP} function() return 1 end}}}):execute({})
          return "not reached"
        """, STEP=STEP), timeout=0.5)


def test_hook_errors_fail_the_hooked_call(lua):
    run = lua(lua_fmt("""
      Hook.register("BeforeWorkflowStage", function(ctx) error("hook bug") end)
      local wf = Workflow.sequential({name = "w", steps = {
        {name = "a", ${STEP} function() return 1 end}}})
      local ok, err = pcall(wf.execute, wf, {})
      return tostring(err)
    """, STEP=STEP))
    assert "hook at BeforeWorkflowStage failed" in run.value and "hook bug" in run.value


def test_workflow_timeout_stops_a_busy_lua_step(lua):
    run = lua(lua_fmt("""
      local wf = Workflow.sequential({name = "slow", timeout_ms = 150, steps = {
        {name = "spin", ${STEP} function() while true do end end}}})
      local ok, err = pcall(wf.execute, wf, {})
      return {ok = ok, err = tostring(err), m = wf:get_metrics().execution.failed_executions}
    """, STEP=STEP), timeout=30)
    assert run.value["ok"] is False
    assert "Workflow 'slow' timed out after 150 ms" in run.value["err"]
    assert run.value["m"] == 1


def test_validate_warns_about_unknown_tools(lua):
    run = lua("""
      Tool.list()
      local wf = Workflow.sequential({name = "v", steps = {
        {name = "t", type = "tool", tool = "no_such_tool"}}})
      local v = wf:validate()
      local ok, err = pcall(wf.execute, wf, {})
      return {valid = v.valid, warning = v.warnings[1], err = tostring(err)}
    """)
    v = run.value
    assert v["valid"] is True and "tool 'no_such_tool' is not registered" in v["warning"]
    assert "Tool 'no_such_tool' not found" in v["err"]


def test_builder_branches_collections_and_while(lua):
    run = lua(lua_fmt("""
      local par = Workflow.builder():name("p"):parallel():max_concurrency(1)
        :add_branch({name = "x", steps = {{name = "s", ${STEP} function() return "X" end}}})
        :add_branch({name = "y", required = false,
                     steps = {{name = "s", ${STEP} function() error("no") end}}})
        :build():execute({})
      local cond = Workflow.builder():name("c"):conditional()
        :add_branch({type = "input_contains", value = "urgent"},
                    {{name = "u", ${STEP} function() return "urgent path" end}})
        :add_else_step({name = "n", ${STEP} function() return "normal path" end})
        :build()
      local col = Workflow.builder():name("l"):loop():with_collection({"a", "b"})
        :add_step({name = "up", ${STEP} function(x) return x:upper() end}):build():execute({})
      local wh = Workflow.builder():name("w"):loop():with_while("iteration < 4")
        :max_iterations(10)
        :add_step({name = "n", ${STEP} function(x, ctx) return ctx.iteration end})
        :build():execute({})
      return {par = par.output, ok = par.success,
              u = cond:execute({input = "urgent: fix"}).output,
              n = cond:execute({input = "later"}).output, col = col.output, wh = wh.output}
    """, STEP=STEP))
    assert run.value == {"par": {"x": "X"}, "ok": True, "u": "urgent path", "n": "normal path",
                         "col": ["A", "B"], "wh": [1, 2, 3]}


def test_gate_refuses_lua_work_when_the_script_thread_never_waits(monkeypatch):
    import llmspell.workflows.gate as gate_mod

    monkeypatch.setattr(gate_mod, "STALL_SECONDS", 0.5)
    gate = LuaGate()
    errors = []

    def background():
        try:
            gate.call(lambda: "never runs")
        except RuntimeError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=background)
    t.start()
    t.join(10)
    assert errors and "Lua can only run on the script's thread" in errors[0]
