"""Attack: get hold of a Python object and rewrite lupa's metatable for Python objects.

Every permission check of Lua's own io/os (path_check, spawn_check) and the time limit
(the count hook's check) are Python callables. lupa gives all Python objects one shared
metatable: a script that reaches it and replaces ``__call`` would turn each check into
"allowed". The metatable must be out of reach (``getmetatable`` gives no table) and the
checks must hold whatever a script does.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmspell.errors import ScriptError, ScriptTimeout

# Try every route we know to a Python object, then rewrite its metatable's __call so that
# every Python callable answers "allowed" (true, "/etc/passwd").
ATTACK = """
local found = {}
local real_load = load
load = function(src, ...)
  local f, err = real_load(src, ...)
  if not f then return f, err end
  return function(...)
    for i = 1, select("#", ...) do found[#found + 1] = (select(i, ...)) end
    return f(...)
  end
end
pcall(function() State.save("a", "b", 1) end)
pcall(function() Streaming.create(function() end) end)
load = real_load
for _, f in ipairs({State.save, State.load, Tool.invoke, JSON.parse, Utils.hash}) do
  local ok, e = pcall(f, {}, {}, {})
  found[#found + 1] = e
end
local patched = 0
for _, v in ipairs(found) do
  if type(v) == "userdata" then
    local mt = getmetatable(v)
    if type(mt) == "table" then
      pcall(function()
        mt.__call = function() return true, "/etc/passwd" end
        patched = patched + 1
      end)
    end
  end
end
ATTACKED = patched
"""

FILES_ON = {"runtime": {"security": {"allow_file_access": True}}}


def test_io_open_outside_allowed_paths_still_refused(lua: Any, tmp_path: Any) -> None:
    with pytest.raises(ScriptError, match="outside the allowed paths"):
        lua(ATTACK + 'local f = io.open("/etc/passwd") return f and f:read("*a")',
            config={"runtime": {"security": {"allow_file_access": True,
                                             "allowed_paths": [str(tmp_path)]}}})


def test_io_open_with_file_access_off_still_refused(lua: Any) -> None:
    with pytest.raises(ScriptError, match="file access is disabled"):
        lua(ATTACK + 'local f = io.open("/etc/passwd") return f and f:read("*a")')


def test_io_popen_still_refused(lua: Any) -> None:
    with pytest.raises(ScriptError, match="process spawning is disabled"):
        lua(ATTACK + 'local p = io.popen("echo pwned") return p and p:read("*a")')


def test_os_execute_still_refused(lua: Any) -> None:
    with pytest.raises(ScriptError, match="process spawning is disabled"):
        lua(ATTACK + 'return os.execute("true")')


def test_endless_loop_still_times_out(lua: Any) -> None:
    with pytest.raises(ScriptTimeout):
        lua(ATTACK + "while true do end", timeout=1)


def test_no_python_object_metatable_is_reachable(lua: Any) -> None:
    rt, _ = lua.runtime()

    def probe(*_: Any) -> int:
        return 7

    rt.lua.globals()[b"probe"] = probe  # a Python object handed to Lua on purpose
    try:
        value = rt.run_source(b"""
          local mt = getmetatable(probe)
          local ok = pcall(setmetatable, probe, {})
          local ok2 = pcall(function() getmetatable(probe).__call = nil end)
          return {mt = type(mt), set = ok, changed = ok2, still = probe()}
        """, "t.lua")
    finally:
        rt.close()
    assert value["mt"] != "table"
    assert value["set"] is False and value["changed"] is False and value["still"] == 7


def test_python_exception_values_carry_no_metatable(lua: Any) -> None:
    rt, _ = lua.runtime()

    def fails(*_: Any) -> None:
        raise ValueError("boom")

    rt.lua.globals()[b"fails"] = fails
    try:
        value = rt.run_source(b"""
          local ok, e = pcall(fails)
          return {ok = ok, mt = type(getmetatable(e))}
        """, "t.lua")
    finally:
        rt.close()
    assert value["ok"] is False and value["mt"] != "table"


def test_attack_finds_nothing_to_patch(lua: Any) -> None:
    run = lua(ATTACK + "return ATTACKED")
    assert run.value == 0


def test_exception_escaping_a_callback_reaches_lua_as_a_string(lua: Any) -> None:
    rt, _ = lua.runtime()

    def raw(*_: Any) -> None:  # not through the call protocol: raises straight into Lua
        raise RuntimeError("escaped")

    rt.lua.globals()[b"wrapped"] = rt._lua_wrap(raw)
    try:
        value = rt.run_source(b"""
          local ok, e = pcall(function() wrapped() end)
          return {ok = ok, kind = type(e), text = e}
        """, "t.lua")
    finally:
        rt.close()
    assert value["ok"] is False and value["kind"] == "string"
    assert value["text"].startswith("t.lua:2: internal error")
