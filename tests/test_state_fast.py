"""State.save/load/set/get through the run's converter: values round-trip exactly as
through JSON, Python sees what Lua wrote, any other write is seen by Lua, and every load
is a fresh copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmspell.api.state import state_service

CASES = r"""
local deep = {}
local cur = deep
for i = 1, 60 do cur.next = {i = i}; cur = cur.next end
return {
  {id = 1, name = "item", tags = {"a", "b"}},
  "plain", "", "héllo ✓", 0, -1 * 0, 1.5, 0.1, 1 / 3, 2 ^ 53, 2 ^ 63, 2 ^ 70, -2 ^ 63,
  1e-300, 123456789012345, -7, true, false,
  {}, {{}}, {a = {}}, {1, 2, 3, x = "dropped"}, {[2] = "b", k = 1}, {[1.0] = "one"},
  {[-5] = "neg", [10 ^ 15] = "big", [2 ^ 70] = "huge"},
  {["\0ctl\n\t\"\\"] = "esc", s = "\1\31\127/\b\f\r"},
  {bad = "\255\254 not utf-8", ["\200"] = 1},
  {nan = 0 / 0, inf = 1 / 0, ninf = -1 / 0, ok = 1},
  {[true] = "boolean keys are dropped", a = 1},
  {[1.5] = "a non-integral key takes the Python path", b = 2},
  {list = {1, "two", {three = 3}, {4}}, flag = false},
  deep,
  {[0 * -1] = "a -0 key is written 0", [1e15] = "big", [-3] = "negative"},
}
"""


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def in_lua(value: Any) -> Any:
    """What a Lua table can hold of a JSON value: object members that are null vanish."""
    if isinstance(value, dict):
        return {k: in_lua(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [in_lua(v) for v in value]
    return value


def run_cases(lua: Any, config: dict[str, Any]) -> tuple[Any, list[Any], list[Any]]:
    rt, _ = lua.runtime(config)
    refs: list[Any] = []
    loaded: list[Any] = []
    g = rt.lua.globals()
    # the converter's result followed by a JSON round trip: what must come back
    g[b"REF"] = rt.function(
        lambda v: refs.append(json.loads(json.dumps(rt.converter.to_python(v)))), "REF")
    g[b"GOT"] = rt.function(lambda v: loaded.append(rt.converter.to_python(v)), "GOT")
    rt.run_source(f"""
        local cases = (function() {CASES} end)()
        for i, v in ipairs(cases) do
            State.save("c", tostring(i), v)
            REF(v)
            GOT(State.load("c", tostring(i)))
            State.set("g" .. i, v)
            GOT(State.get("g" .. i))
        end
        return #cases
    """.encode(), "cases.lua")
    return rt, refs, loaded


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_values_round_trip_as_json(lua, tmp_path: Path, backend: str) -> None:
    config = {} if backend == "memory" else {"runtime": {"state_persistence": {
        "backend_type": "sqlite", "path": str(tmp_path / "s.db")}}}
    rt, refs, loaded = run_cases(lua, config)
    svc = state_service(rt)
    try:
        assert len(refs) == 33 and len(loaded) == 66
        for i, ref in enumerate(refs, 1):
            assert canonical(svc.get(f"c:{i}")) == canonical(ref), i
            assert canonical(svc.get(f"global:g{i}")) == canonical(ref), i
            assert canonical(loaded[2 * i - 2]) == canonical(in_lua(ref)), i
            assert canonical(loaded[2 * i - 1]) == canonical(in_lua(ref)), i
        assert svc.get("c:6") == 0 and type(svc.get("c:8")) is float
        assert svc.get("c:12") == 2 ** 70 and type(svc.get("c:12")) is float
        assert svc.get("c:11") == 2 ** 63 and svc.get("c:13") == -2 ** 63
        assert svc.get("c:28") == {"nan": None, "inf": None, "ninf": None, "ok": 1}
        assert svc.get("c:27")["bad"] == b"\xff\xfe not utf-8".decode("utf-8", "surrogateescape")
        # backups see canonical JSON texts
        assert svc.snapshot()["c:8"] == "0.1" and svc.snapshot()["c:9"] == json.dumps(1 / 3)
        if backend == "memory":
            # the text Lua wrote is the one json.dumps writes for the converted value
            for i, ref in enumerate(refs, 1):
                assert svc.store.data[f"c:{i}"] == svc.encode("k", ref), i
    finally:
        rt.close()


def test_copies_and_other_writers(lua) -> None:
    rt, _ = lua.runtime({})
    svc = state_service(rt)
    g = rt.lua.globals()
    g[b"PY_SET"] = rt.function(
        lambda k, v: svc.set(k.decode(), json.loads(v.decode())), "PY_SET")
    try:
        got = rt.run_source(b"""
            local v = {n = 1, inner = {x = 1}}
            State.save("s", "k", v)
            v.n = 2; v.inner.x = 2                      -- the store kept its own copy
            local a = State.load("s", "k")
            a.n = 3; a.inner.x = 3                      -- a load is a fresh copy
            local b = State.load("s", "k")
            PY_SET("s:k", '{"from": "python"}')         -- a Python service writes
            local c = State.load("s", "k")
            c.from = "mutated"                          -- converted once, copied after
            c = State.load("s", "k")
            PY_SET("s:k", '{"from": "python again"}')
            local c2 = State.load("s", "k")
            State.save("s", "k", {again = true})
            State.delete("s", "k")
            local d = State.load("s", "k")
            State.save("s", "k", "back")
            State.save("s", "k", nil)                   -- saving nil deletes
            return {b = b, c = c, c2 = c2.from, d = d == nil, e = State.load("s", "k") == nil,
                    keys = #State.list_keys("s")}
        """, "copies.lua")
        assert got == {"b": {"n": 1, "inner": {"x": 1}}, "c": {"from": "python"},
                       "c2": "python again", "d": True,
                       "e": True, "keys": 0}
        rt.run_source(b'State.save("s", "py", {list = {1, 2}})', "w.lua")
        seen = svc.get("s:py")
        seen["list"].append(3)  # Python callers get copies too
        assert svc.get("s:py") == {"list": [1, 2]}
    finally:
        rt.close()


def test_restore_replaces_what_lua_loads(lua, tmp_path: Path) -> None:
    config = {"runtime": {"state_persistence": {"backup": {"backup_dir": str(tmp_path)}}}}
    run = lua("""
        State.save("s", "k", {v = 1})
        local id = State.create_backup().backup_id
        State.save("s", "k", {v = 2})
        local before = State.load("s", "k").v
        State.restore_backup(id)
        return {before, State.load("s", "k").v}
    """, config=config)
    assert run.value == [2, 1]


def test_errors_keep_their_messages_and_positions(lua) -> None:
    run = lua("""
        local t = {}
        t.self = t
        local ok1, e1 = pcall(function() State.save("s", "f", {fn = print}) end)
        local ok2, e2 = pcall(function() State.save("s", "cycle", t) end)
        local ok3, e3 = pcall(function() State.set("big", string.rep("x", 200)) end)
        local ok4, e4 = pcall(function() State.save("s", "big", {string.rep("y", 300)}) end)
        local ok5, e5 = pcall(function() local x = State.load({}, "k") end)
        local ok6, e6 = pcall(State.save, "s", "f", {fn = print})
        return {e1 = e1, e2 = e2, e3 = e3, e4 = e4, e5 = e5, e6 = e6,
                oks = {ok1, ok2, ok3, ok4, ok5, ok6},
                none = State.load("s", "big") == nil and State.get("big") == nil}
    """, config={"runtime": {"state_persistence": {"max_state_size_bytes": 100}}})
    v = run.value
    assert v["oks"] == [False] * 6 and v["none"] is True
    assert v["e6"] == v["e1"].removeprefix("test.lua:4: ")  # called by pcall: no line
    assert v["e1"] == ("test.lua:4: State.save: value for key 's:f' cannot be stored: "
                       "Unsupported Lua type for JSON conversion")
    assert v["e2"].startswith("test.lua:5: State.save: value for key 's:cycle' cannot be "
                              "stored: table nesting too deep")
    assert v["e3"].startswith("test.lua:6: State.set: value for key 'global:big' is 202 bytes")
    assert "over the limit of 100" in v["e3"]
    assert v["e4"].startswith("test.lua:7: State.save: value for key 's:big' is 304 bytes")
    assert v["e5"].startswith("test.lua:8: State.load: scope (argument #1) must be a string")


def test_numbers_as_scope_and_key_take_the_python_path(lua) -> None:
    run = lua("""
        State.save(7, 1.5, {x = 1})
        State.set(3, "three")
        return {State.load("7", "1.5").x, State.get("3"), State.load(7, 1.5).x}
    """)
    assert run.value == [1, "three", 1]
