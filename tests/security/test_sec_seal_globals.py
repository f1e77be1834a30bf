"""Attack: replace a standard global before the first touch of an llmspell global.

Our own Lua chunks (state cache, streaming, JSON, Debug/Utils helpers, workflow
conditions, Tool/Agent metatables) must have been compiled and bound before the script's
first line: a script that swaps ``load``, ``setmetatable``, ``pairs``, ``type`` or the
string library must neither receive privileged values (Python callables, the abort token)
nor change what those globals do.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.lua.runtime import Runtime

# A `load` that records every call and every value passed to the function it returns.
SPY_LOAD = """
local real_load, select, type = load, select, type
SPY = {calls = 0, got = {}}
load = function(src, ...)
  SPY.calls = SPY.calls + 1
  local f, err = real_load(src, ...)
  if not f then return f, err end
  return function(...)
    for i = 1, select("#", ...) do SPY.got[#SPY.got + 1] = (select(i, ...)) end
    return f(...)
  end
end
loadstring = load
"""


def _python_objects(rt: Runtime, values: Any) -> list[str]:
    """Names of the Python objects (or the abort token) among ``values`` (a Lua table)."""
    from lupa import luajit21 as lupa

    same = rt.lua.execute(b"return function(a, b) return rawequal(a, b) end")
    bad = []
    for value in values.values() if values is not None else []:
        if same(value, rt.abort_token):
            bad.append("abort token")
        elif not isinstance(value, bytes | int | float | bool) and value is not None \
                and lupa.lua_type(value) is None:
            bad.append(type(value).__name__)
    return bad


def _run(lua: Any, code: str) -> tuple[Any, Runtime]:
    run = lua(code)
    return run.value, run.runtime


@pytest.mark.parametrize("touch", [
    'State.save("s", "k", {x = 1}); local v = State.load("s", "k"); assert(v.x == 1)',
    'local s = Streaming.create(function() coroutine.yield(1) end); assert(s:next() == 1)',
    'assert(JSON.parse(JSON.stringify({a = 1})).a == 1)',
    'assert(Debug.dump({a = 1}) ~= nil)',
    'assert(Utils.trim("  x ") == "x")',
])
def test_replaced_load_receives_nothing_from_our_chunks(lua: Any, touch: str) -> None:
    value, rt = _run(lua, SPY_LOAD + touch + "\nreturn SPY.calls")
    assert value == 0, "an llmspell chunk was compiled through the script's `load`"
    assert _python_objects(rt, rt.lua.globals()[b"SPY"][b"got"]) == []


def test_replaced_load_and_workflow_string_condition(lua: Any) -> None:
    value, rt = _run(lua, SPY_LOAD + """
      local wf = Workflow.builder():name("w"):conditional()
        :condition("input == 'yes'")
        :add_then_step({name = "t", type = "tool", tool = "calculator",
                        input = {input = "1+1"}})
        :add_else_step({name = "e", type = "tool", tool = "calculator",
                        input = {input = "2+2"}})
        :build()
      local r = wf:execute({input = "yes"})
      return {calls = SPY.calls, ok = r.success}
    """)
    assert value["calls"] == 0
    assert value["ok"] is True
    assert _python_objects(rt, rt.lua.globals()[b"SPY"][b"got"]) == []


def test_replaced_setmetatable_does_not_change_tool_and_agent(lua: Any) -> None:
    value, _ = _run(lua, """
      local calls = 0
      local real = setmetatable
      setmetatable = function(t, mt) calls = calls + 1; return t end
      local tool = Tool.calculator
      local b = Agent.builder()
      local b2 = b:name("x")
      return {calls = calls, tool = tool and tool.name, builder = type(b2) == "table"}
    """)
    assert value == {"calls": 0, "tool": "calculator", "builder": True}


def test_replaced_pairs_type_tostring_do_not_reach_utils_and_debug(lua: Any) -> None:
    value, _ = _run(lua, """
      local calls = 0
      local rp, rt, rs = pairs, type, tostring
      pairs = function(...) calls = calls + 1; return rp(...) end
      type = function(...) calls = calls + 1; return rt(...) end
      tostring = function(...) calls = calls + 1; return rs(...) end
      ipairs = function(...) calls = calls + 1; return next, {}, nil end
      local keys = Utils.keys({b = 1, a = 2})
      local copy = Utils.deepCopy({1, {2}})
      local d = Debug.dumpCompact({a = 1, b = {true}})
      local j = JSON.stringify({z = 1, a = {1, 2}})
      State.save("s", "k", {1, 2})
      local n = #State.load("s", "k")
      type, pairs, tostring = rt, rp, rs
      return {calls = calls, keys = keys, copy = copy[2][1], n = n, j = j,
              d = d:find("a = 1", 1, true) ~= nil}
    """)
    assert value == {"calls": 0, "keys": ["a", "b"], "copy": 2, "n": 2,
                     "j": '{"a":[1,2],"z":1}', "d": True}


def test_replaced_string_functions_do_not_reach_our_chunks(lua: Any) -> None:
    value, _ = _run(lua, """
      local calls = 0
      local names = {"format", "match", "gsub", "find", "sub", "rep", "gmatch", "byte",
                     "char", "lower", "upper", "len"}
      local saved = {}
      for _, n in ipairs(names) do
        local real = string[n]
        saved[n] = real
        string[n] = function(...) calls = calls + 1; return real(...) end
      end
      local trim = Utils.trim("  padded  ")
      local split = Utils.split("a,b", ",")
      local d = Debug.dump({x = "y"}, "lbl")
      local j = JSON.stringify({s = "q\\"x"})
      local p = JSON.parse('{"k": [1, 2.5, "s"]}')
      State.save("s", "k", {t = "text"})
      local st = State.load("s", "k").t
      local trace = Debug.stackTrace()
      for n, f in pairs(saved) do string[n] = f end
      return {calls = calls, trim = trim, split = #split, j = j, p = p.k[2], st = st,
              d = d ~= nil, trace = type(trace) == "string"}
    """)
    assert value == {"calls": 0, "trim": "padded", "split": 2, "j": '{"s":"q\\"x"}',
                     "p": 2.5, "st": "text", "d": True, "trace": True}


def test_replaced_coroutine_functions_do_not_change_streaming(lua: Any) -> None:
    value, _ = _run(lua, """
      local calls = 0
      local real_resume, real_create = coroutine.resume, coroutine.create
      coroutine.resume = function(...) calls = calls + 1; return real_resume(...) end
      coroutine.create = function(...) calls = calls + 1; return real_create(...) end
      local s = Streaming.create(function() for i = 1, 3 do Streaming.yield(i) end end)
      local got = s:collect()
      return {calls = calls, n = #got}
    """)
    assert value == {"calls": 0, "n": 3}


def test_changed_string_metatable_does_not_reach_our_chunks(lua: Any) -> None:
    value, _ = _run(lua, """
      local calls = 0
      local mt = getmetatable("")
      local index = mt.__index
      mt.__index = function(s, k) calls = calls + 1; return index[k] end
      local trim = Utils.trim("  x  ")
      local d = Debug.dump("s")
      State.save("s", "k", {"v"})
      local v = State.load("s", "k")[1]
      mt.__index = index
      return {calls = calls, trim = trim, v = v}
    """)
    assert value == {"calls": 0, "trim": "x", "v": "v"}


def test_environment_of_internal_functions_is_out_of_reach(lua: Any) -> None:
    value, _ = _run(lua, """
      local results = {}
      for _, f in ipairs({JSON.stringify, Utils.trim, Debug.dump, Streaming.create}) do
        local ok, env = pcall(getfenv, f)
        results[#results + 1] = ok and env ~= _G and "leak" or "ok"
        local ok2 = pcall(setfenv, f, {})
        results[#results + 1] = ok2 and "changed" or "ok"
      end
      -- from a callback, level 2 is the llmspell function that called it
      local seen
      pcall(Utils.map, {1}, function() local env = getfenv(2); seen = env end)
      results[#results + 1] = (seen and seen ~= _G) and "leak" or "ok"
      local changed = pcall(Utils.map, {1}, function() local f = setfenv(2, {}) end)
      results[#results + 1] = changed and "changed" or "ok"
      results[#results + 1] = Utils.trim(" x ") == "x" and "ok" or "broken"
      return results
    """)
    assert set(value) == {"ok"}


def test_lazy_global_metatable_installs_nothing_elsewhere(lua: Any) -> None:
    value, _ = _run(lua, """
      local mt = getmetatable(State)
      local other = {}
      pcall(mt.__index, other, "save")
      pcall(mt.__newindex, other, "x", 1)
      return {n = next(other) == nil and 0 or 1, save = type(State.save)}
    """)
    assert value == {"n": 0, "save": "function"}


def test_repl_helpers_ignore_a_script_that_replaces_string_functions(lua: Any) -> None:
    rt, _ = lua.runtime()
    try:
        helpers = rt.chunk("repl_helpers")(rt.chunk("json")()[b"stringify"])
        rt.run_source(b"""
          string.gmatch = function() error("hijacked") end
          string.find = function() error("hijacked") end
          load = function() error("hijacked") end
          tostring = function() return "hijacked" end
        """, "t.lua")
        names = helpers[b"names"](b"Utils")
        shown = helpers[b"show"](1, b"s", rt.table({"a": 1}))
        ok = helpers[b"check"](b"return 1 +")
    finally:
        rt.close()
    assert b"trim" in list(names.values())
    assert shown == b'1\t"s"\t{"a":1}'
    assert ok[0] is False and b"<eof>" in ok[1]


def test_getfenv_and_setfenv_keep_their_meaning_for_script_functions(lua: Any) -> None:
    value, _ = _run(lua, """
      local env = setmetatable({}, {__index = _G})
      local function k() local e = getfenv(1) return e end
      setfenv(k, env)
      local function h() setfenv(1, setmetatable({y = 7}, {__index = _G})) local v = y return v end
      local bad = select(2, pcall(getfenv, 1000))
      return {k = k() == env, h = h(), g = getfenv() == _G, zero = getfenv(0) == _G, bad = bad}
    """)
    assert value == {"k": True, "h": 7, "g": True, "zero": True,
                     "bad": "bad argument #1 to 'getfenv' (invalid level)"}
