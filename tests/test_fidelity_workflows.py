"""Workflow behaviour upstream scripts depend on (issue 11 § 2), through the real globals.

Upstream facts (rs-llmspell 219d9cae): the `execute()` result text is the summary
sentence of `llmspell-workflows/src/{sequential,parallel,conditional,loop}.rs`; step
parameters reach tools with `{{...}}` untouched; the builder's conditional workflow is
made from `then_steps`/`else_steps` only (`llmspell-bridge/src/lua/globals/workflow.rs`).
"""

from __future__ import annotations

import re
from pathlib import Path

from lua_text import lua_fmt

DURATION = r"\d+(\.\d+)?(ns|µs|ms|s)"
STEP = 'type = "custom", ["function"] = '


def test_execute_text_is_upstreams_summary_sentence(lua) -> None:
    run = lua(lua_fmt("""
      local seq = Workflow.sequential({name = "pipe", steps = {
        {name = "a", ${STEP} function() return "first output" end},
        {name = "b", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "last output"}},
      }})
      local par = Workflow.parallel({name = "fan", branches = {
        {name = "x", steps = {{name = "s", ${STEP} function() return 1 end}}},
        {name = "y", steps = {{name = "s", ${STEP} function() return 2 end}}},
      }})
      local cond = Workflow.conditional({name = "pick", branches = {
        {name = "yes", condition = {type = "always"},
          steps = {{name = "s", ${STEP} function() return "chosen" end}}},
        {name = "no", condition = {type = "never"},
          steps = {{name = "s", ${STEP} function() return "not chosen" end}}},
      }})
      local loop = Workflow.loop({name = "count", iterator = {range = {start = 0,
        ["end"] = 3}}, body = {{name = "it", ${STEP} function(x, ctx)
          return ctx.iteration end}}})
      local cont = Workflow.sequential({name = "half", error_strategy = "continue",
        steps = {{name = "bad", ${STEP} function() error("kaput") end},
                 {name = "ok", ${STEP} function() return 1 end}}})
      local s = seq:execute({input = "go"})
      return {seq = s.text, seq_out = s.output.result.result,
              seq_step = s.metadata.extra.outputs.a, par = par:execute({}).text,
              cond = cond:execute({}).text, loop = loop:execute({}).text,
              cont = cont:execute({}).text}
    """, STEP=STEP))
    v = run.value
    assert re.fullmatch(r"Sequential workflow 'pipe' completed successfully\. 2 steps "
                        rf"executed\. Duration: {DURATION}", v["seq"]), v["seq"]
    # step outputs stay where the spec puts them
    assert v["seq_out"] == "LAST OUTPUT" and v["seq_step"] == "first output"
    assert re.fullmatch(r"Parallel workflow 'fan' completed successfully\. 2 branches "
                        rf"executed, 2 succeeded, 0 failed\. Duration: {DURATION}", v["par"])
    assert re.fullmatch(r"Conditional workflow 'pick' completed successfully\. 1 branches "
                        r"matched out of 2, 1 executed\. 1 steps total, 1 succeeded, 0 "
                        rf"failed\. Duration: {DURATION}", v["cond"]), v["cond"]
    assert re.fullmatch(r"Loop workflow 'count' completed successfully\. 3 of 3 iterations "
                        rf"completed\. Duration: {DURATION}", v["loop"]), v["loop"]
    assert re.fullmatch(r"Sequential workflow 'half' failed: bad: .*kaput\. 2 steps "
                        rf"executed, 1 failed\. Duration: {DURATION}", v["cont"]), v["cont"]


def test_templates_never_break_a_tool_step_that_works_upstream(lua) -> None:
    run = lua(lua_fmt("""
      local wf = Workflow.sequential({name = "tpl", steps = {
        {name = "doc", ${STEP} function() return {text = "agent style reply"} end},
        {name = "data", ${STEP} function() return {n = 1, tags = {"a"}} end},
        {name = "nothing", ${STEP} function() return nil end},
        {name = "flag", ${STEP} function() return true end},
        {name = "num", ${STEP} function() return 42 end},
        -- a whole-string template that resolves to a table: its text / its JSON
        {name = "up_text", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.doc}}"}},
        {name = "up_json", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.data}}"}},
        {name = "up_flag", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.flag}}"}},
        {name = "up_num", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.num}}"}},
        -- templates that resolve to nothing stay as written
        {name = "nil_prev", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.nothing}}"}},
        {name = "unknown", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "{{step.nope.field}}"}},
        {name = "in_text", type = "tool", tool = "text_manipulator",
          input = {operation = "uppercase", input = "x {{shared.missing}} {{name}}"}},
      }})
      local r = wf:execute({})
      local o = r.metadata.extra.outputs
      return {ok = r.success, text = o.up_text.result.result, json = o.up_json.result.result,
              nil_prev = o.nil_prev.result.result, unknown = o.unknown.result.result,
              in_text = o.in_text.result.result, flag = o.up_flag.result.result,
              num = o.up_num.result.result}
    """, STEP=STEP))
    v = run.value
    assert v["ok"] is True
    assert v["text"] == "AGENT STYLE REPLY"
    assert v["json"] == '{"N":1,"TAGS":["A"]}'
    assert v["flag"] == "TRUE" and v["num"] == "42"
    assert v["nil_prev"] == "{{STEP.NOTHING}}"
    assert v["unknown"] == "{{STEP.NOPE.FIELD}}"
    assert v["in_text"] == "X {{SHARED.MISSING}} {{NAME}}"


def test_conditional_builder_ignores_add_step_with_one_warning(cli, tmp_path: Path) -> None:
    script = tmp_path / "cond.lua"
    script.write_text(lua_fmt("""
      local ran = {}
      local function step(name)
        return {name = name, ${STEP} function() ran[#ran + 1] = name; return name end}
      end
      local wf = Workflow.builder():name("router"):conditional()
        :condition({type = "always"})
        :add_step(step("stray1"))
        :add_then_step(step("then1"))
        :add_else_step(step("else1"))
        :add_step(step("stray2"))
        :build()
      local r = wf:execute({input = "go"})
      wf:execute({input = "again"})
      return {ran = table.concat(ran, ","), out = r.output}
    """, STEP=STEP))
    proc = cli("run", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"out":"then1","ran":"then1,then1"}'
    warnings = [line for line in proc.stderr.splitlines() if "add_step" in line]
    assert len(warnings) == 1, proc.stderr
    assert "'stray1'" in warnings[0] and "'stray2'" in warnings[0]
    assert "router" in warnings[0] and warnings[0].startswith("warning:")
