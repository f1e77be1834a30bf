"""Walk everything a script can reach and check that no Python object and no abort token
is among it: globals (recursively, with metatables through the script's own
``getmetatable``), values returned by their functions on typical and wrong calls, error
values caught with pcall, arguments of callbacks (hooks, events, streaming, workflow
steps and conditions, Agent stream callbacks) and coroutine results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lupa import luajit21 as lupa

from llmspell.lua.runtime import Runtime

if TYPE_CHECKING:
    from llm_stub_support import Stub

pytest_plugins = ["llm_stub_support"]

WALKER = r"""
local FOUND, seen = {}, {}
local type, next, getmetatable, pcall, select, tostring = type, next, getmetatable, pcall,
  select, tostring
local SKIP = {}
for _, f in ipairs({os.exit, io.read, io.lines, Utils.sleep, Event.receive, coroutine.yield,
                    Streaming.yield, print, io.write, collectgarbage, error,
                    io.stdin.read, io.stdin.lines, io.stdout.write, io.stderr.write,
                    State.restore_backup, State.cleanup_backups, io.close}) do
  SKIP[f] = true
end
local funcs = {}

local function walk(v, path, depth, owner)
  local t = type(v)
  if t ~= "table" and t ~= "function" and t ~= "userdata" and t ~= "thread" then return end
  if seen[v] then return end
  seen[v] = true
  FOUND[#FOUND + 1] = v
  if depth > 8 then return end
  if t == "function" then funcs[#funcs + 1] = {f = v, path = path, owner = owner} end
  if t == "table" then
    for k, x in next, v do
      walk(k, path .. ".<key>", depth + 1)
      walk(x, path .. "." .. tostring(k), depth + 1, v)
    end
  end
  local ok, mt = pcall(getmetatable, v)
  if ok then walk(mt, path .. ".<mt>", depth + 1) end
end

local function note(path, ...)
  for i = 1, select("#", ...) do walk((select(i, ...)), path, 0) end
end

-- touch every lazy global, then walk the globals
for _, name in ipairs({"JSON", "Debug", "Config", "Logger", "Utils", "State", "Tool",
                       "Agent", "Provider", "Event", "Hook", "Workflow", "Streaming",
                       "Replay", "Session", "Artifact", "RAG"}) do
  local g = _G[name]
  if type(g) == "table" then local _ = g.__touch end
end
walk(_G, "_G", 0)
for k, v in next, _G do walk(v, tostring(k), 0) end
for k, v in next, package.loaded do walk(v, tostring(k), 0) end

-- call every function found, with typical and wrong arguments; walk what comes back
local args = {{}, {"x"}, {{}}, {"x", "y"}, {"x", {}}, {1, 2}}
local done = 0
local i = 1
while i <= #funcs and done < 8000 do
  local item = funcs[i]
  i = i + 1
  local path = item.path
  if not SKIP[item.f] then
    for _, a in ipairs(args) do
      done = done + 1
      note(path .. "()", pcall(item.f, unpack(a)))
      if item.owner ~= nil then  -- as a method of the table it was found in
        done = done + 1
        note(path .. "(self)", pcall(item.f, item.owner, unpack(a)))
      end
    end
  end
end

-- callbacks' arguments and coroutine results
Hook.register("BeforeWorkflowStage", function(...) note("hook", ...) end)
Hook.register("AfterWorkflowStage", function(...) note("hook", ...) end)
local sid = Event.subscribe("walk.*")
Event.publish("walk.x", {a = 1})
note("event", Event.receive(sid, 0))
local wf = Workflow.sequential({name = "w", steps = {
  {name = "a", type = "custom", ["function"] = function(...) note("step", ...) return 1 end},
  {name = "b", type = "custom", ["function"] = function(...) note("step", ...) error("x") end},
}})
note("wf", pcall(wf.execute, wf, {input = "i"}))
local cw = Workflow.conditional({name = "c", branches = {
  {name = "b1", condition = function(...) note("cond", ...) return true end,
   steps = {{name = "s", type = "custom", ["function"] = function(...) note("s", ...) end}}}}})
note("cwf", pcall(cw.execute, cw, {n = 1}))
local s = Streaming.create(function(...) note("stream", ...); Streaming.yield(1); error("e") end)
note("next", pcall(s.next, s))
note("next", pcall(s.next, s))
local co = coroutine.create(function(...) note("co", ...) coroutine.yield({}) error({}) end)
note("co", coroutine.resume(co, 1))
note("co", coroutine.resume(co))
note("wrap", pcall(coroutine.wrap(function() error("w") end)))
note("xpcall", xpcall(function() error({}) end, function(...) note("handler", ...) return 1 end))
note("xpcall", xpcall(function() local x = nil; return x.y end,
                      function(...) note("handler", ...) return ... end))
if AGENT_MODEL then
  local a = Agent.builder():name("walk"):model(AGENT_MODEL):build()
  note("agent", a)
  note("invoke", pcall(a.invoke, a, {text = "hi"}))
  note("stream", pcall(a.invokeStream, a, {text = "stream"}, function(...) note("chunk", ...) end))
  note("tools", pcall(a.invoke, a, {text = "hi"}))
end
WALKED = FOUND
return #FOUND
"""


def _bad_values(rt: Runtime) -> list[str]:
    same = rt.lua.execute(b"return function(a, b) return rawequal(a, b) end")
    found = rt.lua.globals()[b"WALKED"]
    bad = []
    for value in found.values():
        if same(value, rt.abort_token):
            bad.append("the abort token")
        elif lupa.lua_type(value) is None:
            bad.append(f"a Python {type(value).__name__}")
    return bad


def _walk(lua: Any, prefix: str = "", config: dict[str, Any] | None = None) -> Runtime:
    rt, _ = lua.runtime(config, timeout=60)
    try:
        count = rt.run_source((prefix + WALKER).encode(), "walk.lua")
    finally:
        rt.close()
    assert count > 300  # the walk did reach the globals and their results
    return rt


def test_nothing_python_is_reachable(lua: Any) -> None:
    rt = _walk(lua)
    assert _bad_values(rt) == []


def test_nothing_python_is_reachable_with_sessions_and_files(lua: Any, tmp_path: Any) -> None:
    config = {"runtime": {"sessions": {"enabled": True},
                          "security": {"allow_file_access": True,
                                       "allowed_paths": [str(tmp_path)]}}}
    rt = _walk(lua, config=config)
    assert _bad_values(rt) == []


def test_nothing_python_is_reachable_through_agents(lua: Any, stub: Stub) -> None:
    rt = _walk(lua, prefix='AGENT_MODEL = "openai/gpt-4o-mini"\n')
    assert _bad_values(rt) == []


def test_nothing_python_is_reachable_after_replacing_load(lua: Any) -> None:
    prefix = """
      local real_load = load
      load = function(src, ...)
        local f, err = real_load(src, ...)
        if not f then return f, err end
        return function(...) CAPTURED[#CAPTURED + 1] = {...}; return f(...) end
      end
      CAPTURED = {}
      State.save("a", "b", 1); Streaming.create(function() end)
      load = real_load
    """
    rt = _walk(lua, prefix=prefix)
    assert _bad_values(rt) == []
