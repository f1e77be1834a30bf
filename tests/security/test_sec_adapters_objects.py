"""Attack: reach the metatable of an object a global returns and rewrite its methods.

Agent builders and instances, session builders, Debug timers and Replay's objects used to
share a plain, reachable metatable per run: ``getmetatable(Agent.builder()).__index`` was a
table a script could rewrite, changing every other builder's methods (and what other code
in the run — a required module, a hook — gets). Every such object is now a
``lua/objects.py`` object: its metatable is protected, its table holds plain data only,
and its methods fail as strings when called wrongly.
"""

from __future__ import annotations

from typing import Any

import pytest

SESSIONS_ON = {"runtime": {"sessions": {"enabled": True}}}

MAKERS = {
    "agent_builder": "Agent.builder()",
    "agent": 'Agent.builder():name("a"):model("openai/gpt-4o-mini"):build()',
    "session_builder": "Session.builder()",
    "timer": 'Debug.timer("t")',
    "replay_config": "Replay.create_config()",
    "replay_mode": "Replay.modes.exact",
    "modification": 'Replay.create_modification("a", 1)',
    "schedule": "Replay.schedules.once(1)",
    "comparator": "Replay.create_comparator()",
}

ATTACK = """
local obj = %s
local mt = getmetatable(obj)
local patched = pcall(function() getmetatable(obj).__index.pwned = true end)
local reset = pcall(setmetatable, obj, {__index = {pwned = true}})
local fields = {}
for k, v in pairs(obj) do fields[#fields + 1] = k .. "=" .. type(v) end
table.sort(fields)
local method
for k, v in pairs({name = 1, build = 1, stop = 1, get_mode = 1, get_path = 1,
                   type_name = 1, compare_json = 1, get_state = 1}) do
  if type(obj[k]) == "function" then method = obj[k] end
end
local ok, err = pcall(method)
return {mt = tostring(mt), patched = patched, reset = reset, fields = fields,
        dot_ok = ok, dot_err = type(err), pwned = obj.pwned == true}
"""

EXPECTED_FIELDS = {"agent": ["name=string"], "timer": ["id=string", "name=string"]}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_objects_are_sealed(lua: Any, kind: str) -> None:
    run = lua(ATTACK % MAKERS[kind], config=SESSIONS_ON)
    v = run.value
    assert v["mt"] == "false"  # getmetatable gives no table
    assert v["patched"] is False and v["reset"] is False and v["pwned"] is False
    assert list(v.get("fields") or []) == EXPECTED_FIELDS.get(kind, [])  # no handles, no methods
    assert v["dot_ok"] is False and v["dot_err"] == "string"


def test_one_builder_cannot_change_another(lua: Any) -> None:
    run = lua("""
      local b = Agent.builder()
      pcall(function() getmetatable(b).__index.build = function() return "pwned" end end)
      pcall(function() rawset(b, "build", function() return "pwned" end) end)
      local ok, err = pcall(function() return Agent.builder():name("x"):build() end)
      return {ok = ok, err = tostring(err)}
    """)
    assert run.value == {"ok": False, "err": "Model is required"}
