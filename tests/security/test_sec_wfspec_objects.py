"""Attack tests for lua/objects.py (wfspec): what a script can reach from an object.

A Python class exposed through ``lua/objects.py`` (workflow instances and builders, hook
handles) must give the script Lua values only: no Python object through ``pairs``,
``getmetatable``, method upvalues or results, and no way to pass a look-alike table off
as an object (a hook handle copied by its id used to unregister the real hook).
"""

from __future__ import annotations

from typing import Any

from test_lua_objects import _run, _runtime


def test_no_python_object_reachable_from_an_object(tmp_path: Any) -> None:
    value = _run(tmp_path, """
      local c = Counters.new()
      local keys = {}
      for k, v in pairs(c) do keys[#keys + 1] = k .. "=" .. type(v) end
      local mt = getmetatable(c)
      local changed = pcall(setmetatable, c, {})
      local method = c.add
      local ups = debug.getupvalue
      local env_ok = pcall(getfenv, method)
      local info = debug.getinfo(method)
      return {keys = keys, mt = tostring(mt), changed = changed, ups = ups == nil,
              env_ok = env_ok, method = type(method), func = info.func == nil,
              src = info.source}
    """)
    assert value["keys"] == ["kind=string"]
    assert value["mt"] == "false"
    assert value["changed"] is False
    assert value["ups"] is True
    assert value["env_ok"] is False  # the method runs in the private environment
    assert value["method"] == "function"
    assert value["func"] is True
    assert value["src"] == "=llmspell"


def test_walk_finds_only_lua_values(tmp_path: Any) -> None:
    rt = _runtime(tmp_path)
    try:
        rt.run_source(b"""
          local c = Counters.new()
          SEEN = {}
          local function walk(v, depth)
            if depth > 6 then return end
            SEEN[#SEEN + 1] = v
            if type(v) == "table" then
              for k, x in next, v do walk(k, depth + 1) walk(x, depth + 1) end
              walk(getmetatable(v), depth + 1)
            end
          end
          walk(c, 0)
          walk(Counters, 0)
          for _, r in ipairs({pcall(c.add, c, 1), pcall(c.boom, c), pcall(c.child, c)}) do
            walk(r, 0)
          end
        """, "t.lua")
        seen = rt.lua.globals()[b"SEEN"]
        from lupa import luajit21 as lupa

        for i in range(1, len(seen) + 1):
            item = seen[i]
            assert isinstance(item, bytes | int | float | bool) or lupa.lua_type(item) in (
                "table", "function"), repr(item)
    finally:
        rt.close()


def test_hook_handles_are_objects(tmp_path: Any) -> None:
    """api/hook.py on objects.py: a handle holds no forgeable id; look-alikes answer false."""
    value = _run(tmp_path, """
      local h = Hook.register("BeforeToolExecution", function() end)
      local fields = 0
      for _ in pairs(h) do fields = fields + 1 end
      local fake = {__hook_id = h:id()}
      local dot = select(2, pcall(function() return h.id() end))
      return {fields = fields, mt = getmetatable(h), id = type(h:id()), point = h:hook_point(),
              fake = Hook.unregister(fake), dot = dot, real = Hook.unregister(h),
              again = Hook.unregister(h),
              gone = select(2, pcall(function() return h:id() end))}
    """)
    assert value["fields"] == 0 and value["mt"] is False and value["id"] == "string"
    assert value["point"] == "BeforeToolExecution"
    assert value["fake"] is False and value["real"] is True and value["again"] is False
    assert value["dot"].endswith("HookHandle:id: call it as a method, obj:id(...)")
    assert value["gone"].endswith("Hook already unregistered")
