"""Debug as upstream shapes it (issue 11): level names, dump labels, stack traces."""

from __future__ import annotations

import json
from typing import Any


def test_levels_are_upper_case_names(lua: Any) -> None:
    run = lua("""
      Debug.setLevel("warn")
      local level = Debug.getLevel()
      Debug.warn("careful", "m")
      Debug.error("broken")
      local out = {}
      for _, e in ipairs(Debug.getCapturedEntries()) do out[#out + 1] = e.level end
      Debug.setLevel("warning")
      return {level, out, Debug.getLevel()}
    """)
    assert run.value == ["WARN", ["WARN", "ERROR"], "WARN"]


def test_dump_with_label_puts_the_dump_on_the_next_line(lua: Any) -> None:
    run = lua('return {Debug.dump({a = 1}, "config"), Debug.dump(5, "n"), Debug.dump("x")}')
    assert run.value == ['config:\n{\n  a = 1\n}', "n:\n5", '"x"']


def test_stack_trace_text(lua: Any) -> None:
    run = lua("""
      local function f() local s = Debug.stackTrace() return s end
      local function g() local s = f() return s end
      local s = g()
      return s
    """)
    lines = run.value.splitlines()
    assert lines[0] == "Stack trace:"
    assert lines[1] == "  #0: in function 'f' (test.lua:2)"
    assert lines[2] == "  #1: in function 'g' (test.lua:3)"
    assert lines[3].startswith("  #2: in ") and lines[3].endswith("(test.lua:4)")
    assert run.value.endswith("\n")


def test_stack_trace_text_truncated_and_locals(lua: Any) -> None:
    run = lua("""
      local function f(a) local b = "v"
        local s = Debug.stackTrace({max_depth = 1, capture_locals = true}) return s end
      local s = f(7)
      return s
    """)
    assert run.value.splitlines() == ["Stack trace:", "  #0: in function 'f' (test.lua:3)",
                                      "    Locals:", "      a = 7", '      b = "v"',
                                      "  ... (truncated at 1 frames)"]


def test_stack_trace_json_object(lua: Any) -> None:
    run = lua("""
      local function f() local s = Debug.stackTraceJson({max_depth = 2}) return s end
      local function g() local s = f() return s end
      local function h() local r = g() return r end
      local s = h()
      return s
    """)
    data = json.loads(run.value)
    assert set(data) == {"frames", "max_depth", "truncated", "error"}
    assert data["max_depth"] == 2 and data["truncated"] is True and data["error"] is None
    first = data["frames"][0]
    assert set(first) == {"name", "source", "line", "line_defined", "what", "num_upvalues",
                          "num_params", "locals", "upvalues"}
    assert first["name"] == "f" and first["source"] == "test.lua" and first["line"] == 2
    assert first["what"] == "Lua" and first["locals"] == {} and first["upvalues"] == {}
    assert len(data["frames"]) == 2
