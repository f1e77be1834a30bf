"""workflows/spec.py without Lua: plain data (and opaque handles) in, the model out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from llmspell.workflows.model import Workflow
from llmspell.workflows.spec import Draft, Parser, SpecError, describe, is_handle


class Handle:
    """Stands for a script function: opaque to the parser."""

    def __init__(self, label: str) -> None:
        self.label = label


class Resolver:
    def __init__(self) -> None:
        self.known = {"workflow_1": Workflow("inner", "sequential", id="workflow_1")}
        self.calls: list[tuple[str, Any]] = []

    def callback(self, fn: Any) -> Callable[..., Any]:
        self.calls.append(("callback", fn.label))
        return lambda *a: fn.label

    def expression(self, text: str) -> Callable[..., Any]:
        self.calls.append(("expression", text))
        return lambda *a: text

    def step_function(self, fn: Any, name: str | None) -> Callable[[Any, dict[str, Any]], Any]:
        self.calls.append(("step", fn.label if fn is not None else name))
        return lambda value, ctx: value

    def workflow(self, ref: Any) -> Workflow | None:
        wid = ref.get("id") if isinstance(ref, dict) else ref
        return self.known.get(wid)


@pytest.fixture
def parser() -> Parser:
    return Parser(Resolver(), "Workflow.sequential")


def test_spec_never_imports_lupa() -> None:
    code = "import sys, llmspell.workflows.spec; assert 'lupa' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sequential_of_every_step_kind(parser: Parser) -> None:
    fn = Handle("double")
    wf = parser.workflow("sequential", {
        "name": "p", "description": "d", "timeout_ms": 500, "error_strategy": "continue",
        "steps": [
            {"name": "t", "type": "tool", "tool": "calculator", "input": {"x": 1},
             "timeout_ms": 20, "retry_count": 2},
            {"name": "a", "type": "agent", "agent": {"name": "helper", "_agent": "h"},
             "input": "hi"},
            {"name": "w", "type": "workflow", "workflow": {"id": "workflow_1"}},
            {"name": "c", "function": fn, "parameters": {"k": True}},
            {"name": "g", "type": "lua", "function": "global_fn"},
        ]})
    assert (wf.name, wf.type, wf.description, wf.timeout_ms) == ("p", "sequential", "d", 500)
    assert wf.error_strategy.kind == "continue"
    t, a, w, c, g = wf.steps
    assert (t.tool, t.input, t.timeout_ms, t.retry_count) == ("calculator", {"x": 1}, 20, 2)
    assert (a.agent, a.input) == ("helper", "hi")
    assert w.workflow is not None and w.workflow.name == "inner"
    assert (c.type, c.fn_name, c.input) == ("custom", "<lua function>", {"k": True})
    assert c.fn is not None and c.fn(7, {}) == 7
    assert (g.type, g.fn_name) == ("custom", "global_fn")


@pytest.mark.parametrize(("cfg", "message"), [
    ({"steps": []}, "Failed to get workflow name"),
    ({"name": 5, "steps": []}, "Failed to get workflow name"),
    ({"name": "x"}, "Failed to get workflow steps"),
    ({"name": "x", "steps": "no"}, "Workflow.sequential: steps must be an array of step tables"),
    ({"name": "x", "steps": ["s"]}, "Workflow.sequential: a step must be a table, got string"),
    ({"name": "x", "steps": [{"type": "tool"}]},
     "Workflow.sequential: step is missing its 'name' (a string)"),
    ({"name": "x", "steps": [{"name": "s"}]},
     "Workflow.sequential: step 's' is missing its 'type' (tool, agent, workflow or custom)"),
    ({"name": "x", "steps": [{"name": "s", "type": "magic"}]}, "Unknown step type: magic"),
    ({"name": "x", "steps": [{"name": "s", "type": "tool"}]},
     "Workflow.sequential: tool step 's' needs 'tool' (a tool name)"),
    ({"name": "x", "steps": [{"name": "s", "type": "agent", "agent": {}}]},
     "Workflow.sequential: agent step 's' needs 'agent' (an agent name or instance)"),
    ({"name": "x", "steps": [{"name": "s", "type": "workflow", "workflow": "nope"}]},
     "Workflow.sequential: workflow step 's' needs 'workflow' (a workflow instance or id)"),
    ({"name": "x", "steps": [{"name": "s", "type": "custom", "function": 3}]},
     "Workflow.sequential: custom step 's' needs 'function' (a function or the name of a "
     "global function)"),
    ({"name": "x", "steps": [{"name": "s", "type": "tool", "tool": "t",
                              "input": {"f": Handle("f")}}]},
     "Workflow.sequential: step 's' input: Unsupported Lua type for JSON conversion"),
])
def test_bad_shapes_raise_the_scripts_message(parser: Parser, cfg: dict[str, Any],
                                             message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parser.workflow("sequential", cfg)
    assert str(exc.value) == message


def test_empty_table_is_an_empty_step_list(parser: Parser) -> None:
    assert parser.workflow("sequential", {"name": "x", "steps": {}}).steps == []


def test_parallel_branches_or_steps(parser: Parser) -> None:
    wf = parser.workflow("parallel", {"name": "p", "max_concurrency": 2, "branches": [
        {"name": "a", "steps": [{"name": "s", "type": "tool", "tool": "t"}]},
        {"steps": [], "required": False, "condition": {"type": "bogus"}},  # not read
    ]})
    assert [(b.name, b.required, b.condition) for b in wf.branches] == [
        ("a", True, None), ("branch_2", False, None)]
    assert wf.max_concurrency == 2
    only_steps = parser.workflow("parallel", {"name": "p", "steps": [
        {"name": "s", "type": "tool", "tool": "t"}]})
    assert [s.name for s in only_steps.steps] == ["s"] and only_steps.branches == []
    with pytest.raises(SpecError, match="^Failed to get workflow steps$"):
        parser.workflow("parallel", {"name": "p"})
    with pytest.raises(SpecError, match=r"branch #1 must be a table"):
        parser.workflow("parallel", {"name": "p", "branches": ["x"]})


def test_conditional_branches_conditions_and_default(parser: Parser) -> None:
    resolver = parser.resolve
    f = Handle("cond")
    wf = parser.workflow("conditional", {"name": "c", "branches": [
        {"name": "fast", "condition": f, "steps": []},
        {"condition": "n > 2", "steps": []},
        {"condition": {"type": "and", "conditions": [
            {"type": "shared_data_equals", "key": "k", "value": 1},
            {"type": "custom", "fn": Handle("inner")},
            {"type": "not", "condition": {"type": "never"}}]}, "steps": []},
        {"steps": []},
    ], "default_branch": [{"name": "e", "type": "tool", "tool": "t"}]})
    fast, expr, nested, plain = wf.branches
    assert fast.name == "fast" and fast.condition({}) == "cond"
    assert expr.name == "branch_2" and expr.condition({}) == "n > 2"
    assert nested.condition["type"] == "and"
    first, custom, negated = nested.condition["conditions"]
    assert first == {"type": "shared_data_equals", "key": "k", "value": 1}
    assert custom["fn"]() == "inner"
    assert negated == {"type": "not", "condition": {"type": "never"}}
    assert plain.condition == {"type": "always"}
    assert [s.name for s in wf.else_steps] == ["e"]
    assert ("expression", "n > 2") in resolver.calls  # type: ignore[attr-defined]
    named = parser.workflow("conditional", {"name": "c", "branches": [],
                                            "default_branch": "fast"})
    assert named.default_branch == "fast"


@pytest.mark.parametrize(("condition", "message"), [
    ({"type": "sometimes"}, "Unknown condition type: sometimes"),
    ({}, "Unknown condition type: None"),
    (5, "Workflow.sequential: a condition must be a table, a function or a string, "
        "got number"),
    ({"type": "input_equals", "value": {"f": Handle("x")}},
     "Workflow.sequential: condition field 'value': Unsupported Lua type for JSON conversion"),
])
def test_bad_conditions(parser: Parser, condition: Any, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parser.condition(condition)
    assert str(exc.value) == message


def test_conditional_needs_branches(parser: Parser) -> None:
    with pytest.raises(SpecError, match="conditional workflows need 'branches'"):
        parser.workflow("conditional", {"name": "c"})


def test_loop_iterators(parser: Parser) -> None:
    body = [{"name": "s", "type": "tool", "tool": "t"}]
    ranged = parser.workflow("loop", {"name": "l", "iterator": {"range": {"start": 1, "end": 3}},
                                      "body": body, "max_iterations": 5,
                                      "break_conditions": [{"type": "never"}],
                                      "loop_condition": Handle("go")})
    assert ranged.iterator == {"range": {"start": 1, "end": 3}}
    assert ranged.max_iterations == 5 and ranged.break_conditions == [{"type": "never"}]
    assert ranged.loop_condition is not None and ranged.loop_condition() == "go"
    listed = parser.workflow("loop", {"name": "l", "iterator": {"collection": ["a", "b"]},
                                      "steps": body})
    assert listed.iterator == {"collection": ["a", "b"]}
    valued = parser.iterator({"collection": {"values": [1, 2]}})
    assert valued == {"collection": [1, 2]}
    looped = parser.iterator({"while_condition": "i < 3"})
    assert looped["while_condition"]() == "i < 3"
    with pytest.raises(SpecError, match="loop workflows need 'iterator'"):
        parser.workflow("loop", {"name": "l", "body": body})
    with pytest.raises(SpecError, match="iterator needs range, collection or while_condition"):
        parser.iterator({})
    with pytest.raises(SpecError, match=r"iterator.range must be"):
        parser.iterator({"range": [1, 2]})
    with pytest.raises(SpecError, match="^Failed to get workflow steps$"):
        parser.workflow("loop", {"name": "l", "iterator": {"range": {}}})


def test_error_strategy_forms(parser: Parser) -> None:
    def strategy(value: Any) -> Any:
        return parser.workflow("sequential", {"name": "x", "steps": [],
                                              "error_strategy": value}).error_strategy

    assert strategy("retry").kind == "retry"
    assert strategy({"type": "retry", "max_attempts": 4, "backoff_ms": 1}).max_attempts == 4
    assert strategy("nonsense").kind == "fail_fast"
    assert strategy({"type": Handle("f")}).kind == "fail_fast"


def test_builder_draft(parser: Parser) -> None:
    with pytest.raises(SpecError, match="^Workflow type not specified$"):
        Draft().build()
    step = parser.step({"name": "s", "type": "tool", "tool": "t"})
    cond = Draft(type="conditional", condition={"type": "never"}, then_steps=[step],
                 else_steps=[step], steps=[step],
                 branches=[parser.branch({"steps": []}, 1)]).build()
    assert [b.name for b in cond.branches] == ["then", "branch_1"]
    assert cond.branches[0].condition == {"type": "never"}
    assert cond.branches[1].condition is None  # a builder branch without condition
    assert cond.steps == [] and cond.else_steps == [step]
    assert Draft(type="conditional", steps=[step]).ignored_steps == [step]
    loop = Draft(type="loop", name="l", steps=[step]).build()
    assert loop.iterator == {"range": {"start": 0, "end": 1}} and loop.name == "l"
    assert Draft(type="loop", loop_condition=lambda ctx: True).build().iterator is None
    par = Draft(type="parallel", steps=[step], branches=[]).build()
    assert par.steps == [step] and par.name.startswith("workflow_")


def test_handles_and_describe() -> None:
    assert is_handle(Handle("x")) and not is_handle({}) and not is_handle(None)
    assert [describe(v) for v in (None, True, 1, "s", [], Handle("x"))] == [
        "nil", "boolean", "number", "string", "table", "function"]


def test_workflow_objects_from_lua(lua: Any) -> None:
    """Both forms go through the one parser; instances are objects (lua/objects.py)."""
    run = lua("""
      local function f(x) return x end
      local t = Workflow.sequential({name = "t", steps = {{name = "s", ["function"] = f}}})
      local b = Workflow.builder():name("b"):sequential()
        :add_step({name = "s", ["function"] = f}):build()
      local keys = {}
      for k in pairs(t) do keys[#keys + 1] = k end
      table.sort(keys)
      local e1 = select(2, pcall(function() return t.execute({}) end))
      local e2 = select(2, pcall(Workflow.sequential, "x"))
      local e3 = select(2, pcall(function() return Workflow.builder():timeout_ms("x") end))
      return {keys = keys, mt = getmetatable(t), same = Workflow.instance(t.id) == t,
              out = t:execute({n = 1}).text ~= nil, b = b:get_info().name,
              shared_mt = getmetatable(b) == getmetatable(t), e1 = e1, e2 = e2, e3 = e3}
    """)
    v = run.value
    assert v["keys"] == ["id", "name", "type"] and v["mt"] is False and v["same"] is True
    assert v["out"] is True and v["b"] == "b"
    assert v["e1"].endswith("WorkflowInstance:execute: call it as a method, obj:execute(...)")
    assert v["e2"].endswith("Workflow.sequential: argument #1 must be a table, got string")
    assert v["e3"].endswith("WorkflowBuilder:timeout_ms: argument #1 must be a number, "
                            "got string")
