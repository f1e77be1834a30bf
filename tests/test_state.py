"""State: the service over memory and SQLite stores, and the State global."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from stores import open_store

from llmspell import config as config_mod
from llmspell.errors import ConfigError, StateError
from llmspell.state.service import StateService, StateValueError, open_state
from llmspell.state.sqlite_store import STATE_FORMAT_VERSION, SQLiteStore
from llmspell.state.store import MemoryStore, prefix_bounds


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> StateService:
    service = StateService(open_store(request.param, request, tmp_path), max_value_bytes=1000)
    yield service
    service.close()


def sqlite_config(path: Path, **extra: object) -> dict:
    section = {"backend_type": "sqlite", "path": str(path), **extra}
    return {"runtime": {"state_persistence": section}}


def test_round_trip_and_copy_semantics(svc: StateService) -> None:
    value = {"a": [1, 2.5, "x", True, None], "b": {"c": "é"}}
    svc.save("global", "k", value)
    got = svc.load("global", "k")
    assert got == value
    got["a"].append(99)
    assert svc.load("global", "k") == value  # a load is a copy


def test_scopes_are_separate_and_prefix_safe(svc: StateService) -> None:
    svc.save("user:1", "name", "ann")
    svc.save("user:10", "name", "bob")
    svc.save("user", "x", 1)
    assert svc.list_keys("user:1") == ["name"]
    # full keys are scope:key, so "user" sees the nested scopes' keys too (as upstream)
    assert sorted(svc.list_keys("user")) == ["10:name", "1:name", "x"]
    assert svc.load("user:10", "name") == "bob"
    assert svc.load("user:2", "name") is None
    assert svc.delete("user:1", "name") is True
    assert svc.delete("user:1", "name") is False
    assert svc.list_keys("user:1") == []


def test_none_deletes(svc: StateService) -> None:
    svc.set("global:k", 5)
    svc.set("global:k", None)
    assert svc.keys("global:") == []


def test_unstorable_values_name_the_key(svc: StateService) -> None:
    with pytest.raises(StateValueError, match="'global:f'"):
        svc.save("global", "f", {"x": object()})
    with pytest.raises(StateValueError, match="'global:big'.*max_state_size_bytes"):
        svc.save("global", "big", "x" * 2000)
    assert svc.load("global", "big") is None


def test_prefix_bounds() -> None:
    assert prefix_bounds("ab:") == ("ab:", "ab;")
    assert prefix_bounds("") == ("", None)


def test_sqlite_persists_between_opens(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = StateService(SQLiteStore(path))
    first.save("global", "n", 1)
    first.close()
    second = StateService(SQLiteStore(path))
    assert second.load("global", "n") == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STATE_FORMAT_VERSION
    conn.close()
    second.close()


def test_open_state_picks_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memory = open_state(config_mod.from_dict({}, environ={}))
    assert memory.backend == "memory"
    disabled = open_state(config_mod.from_dict(
        sqlite_config(tmp_path / "x.db", enabled=False), environ={}))
    assert disabled.backend == "memory"
    assert not (tmp_path / "x.db").exists()
    cfg = {"runtime": {"state_persistence": {"backend_type": "rocksdb",
                                              "path": str(tmp_path / "r.db")}}}
    durable = open_state(config_mod.from_dict(cfg, environ={}))
    assert durable.backend == "sqlite"
    assert durable.path == tmp_path / "r.db"
    durable.close()
    assert "rocksdb" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="backend_type = 'redis' is not one of"):
        config_mod.from_dict(
            {"runtime": {"state_persistence": {"backend_type": "redis"}}}, environ={})
    settings = config_mod.from_dict({}, environ={})  # set after validation: still refused
    settings.set("runtime.state_persistence.backend_type", "redis")
    with pytest.raises(StateError, match="unknown backend 'redis'"):
        open_state(settings)


def test_default_path_is_under_xdg_data_home(isolated_home: Path) -> None:
    svc = open_state(config_mod.from_dict(
        {"runtime": {"state_persistence": {"backend_type": "sqlite"}}}, environ={}))
    svc.save("global", "x", 1)
    svc.close()
    assert (isolated_home / "xdg_data_home" / "llmspell" / "state.db").is_file()


# -- files that are not ours -------------------------------------------------------

def test_garbage_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"definitely not sqlite\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StateError, match="not an llmspell database.*refusing"):
        SQLiteStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def test_corrupt_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    svc = StateService(SQLiteStore(path))
    for i in range(200):
        svc.save("global", f"k{i}", "v" * 100)
    svc.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(StateError, match="refusing"):
        SQLiteStore(path)
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="another application.*users"):
        SQLiteStore(path)
    assert path.read_bytes() == before


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer llmspell.*format version 99"):
        SQLiteStore(path)


def test_sessions_file_is_not_a_state_file(tmp_path: Path) -> None:
    from llmspell.state.sqlite import open_database

    path = tmp_path / "x.db"
    open_database(path, "sessions", 1, "CREATE TABLE t (a)").close()
    with pytest.raises(StateError, match="holds llmspell sessions, not state"):
        SQLiteStore(path)


# -- the State global --------------------------------------------------------------

def test_state_global_functions(lua) -> None:
    run = lua("""
        State.save("global", "cfg", {name = "x", list = {1, 2, 3}, nested = {a = true}})
        State.set("count", 3)
        State.agent_set("a1", "mood", "calm")
        State.tool_set("t1", "calls", 7)
        State.save("workflow:w1", "step1", {out = "one"})
        State.save("workflow:w1", "step2", "two")
        local keys = State.list_keys("global"); table.sort(keys)
        local steps = State.workflow_list("w1"); table.sort(steps)
        State.delete("global", "cfg")
        return {
            keys = keys, steps = steps,
            count = State.get("count"), count2 = State.load("global", "count"),
            mood = State.agent_get("a1", "mood"), calls = State.tool_get("t1", "calls"),
            step1 = State.workflow_get("w1", "step1").out,
            gone = State.load("global", "cfg") == nil,
            missing = State.load("nope", "nope") == nil,
        }
    """)
    assert run.value == {
        "keys": ["cfg", "count"], "steps": ["step1", "step2"], "count": 3, "count2": 3,
        "mood": "calm", "calls": 7, "step1": "one", "gone": True, "missing": True}


def test_state_global_errors(lua) -> None:
    run = lua("""
        local ok1, e1 = pcall(State.save, "global", "fn", {f = function() end})
        local ok2, e2 = pcall(State.load, nil, "x")
        local ok3, e3 = pcall(State.set, "big", string.rep("x", 200))
        return {e1 = e1, e2 = e2, e3 = e3, ok = ok1 or ok2 or ok3}
    """, config={"runtime": {"state_persistence": {"max_state_size_bytes": 100}}})
    assert run.value["ok"] is False
    assert "'global:fn'" in run.value["e1"] and "Unsupported Lua type" in run.value["e1"]
    assert run.value["e2"] == "State.load: scope (argument #1) must be a string, got nil"
    assert "'global:big'" in run.value["e3"] and "max_state_size_bytes" in run.value["e3"]


def test_state_service_is_shared_with_python(lua) -> None:
    from llmspell.api.state import state_service

    rt, _ = lua.runtime()
    state_service(rt).set("workflow:e1:step", {"text": "hi"})
    value = rt.run_source(b"return State.workflow_get('e1', 'step').text", "t.lua")
    assert value == "hi"
    rt.close()


def test_sqlite_state_survives_runs_and_os_exit(cli, tmp_path: Path) -> None:
    db = tmp_path / "data" / "state.db"
    (tmp_path / "c.toml").write_text(
        f'[runtime.state_persistence]\nbackend_type = "sqlite"\npath = "{db}"\n')
    (tmp_path / "a.lua").write_text(
        'State.set("runs", (State.get("runs") or 0) + 1)\n'
        'State.save("user:1", "items", {"a", "b"})\nos.exit(3)\n')
    assert cli("-c", "c.toml", "run", "a.lua").returncode == 3
    assert cli("-c", "c.toml", "run", "a.lua").returncode == 3
    (tmp_path / "b.lua").write_text('return {State.get("runs"), State.load("user:1", "items")}')
    proc = cli("-c", "c.toml", "run", "b.lua")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == '[2,["a","b"]]'


def test_corrupt_state_file_gives_clear_cli_error(cli, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_text("hello, I am a text file\n")
    (tmp_path / "c.toml").write_text(
        f'[runtime.state_persistence]\nbackend_type = "sqlite"\npath = "{db}"\n')
    (tmp_path / "a.lua").write_text('State.set("x", 1)\n')
    proc = cli("-c", "c.toml", "run", "a.lua")
    assert proc.returncode == 1
    assert "not an llmspell database" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert db.read_text() == "hello, I am a text file\n"


TRICKY_VALUES = [
    "{}", "{1, 2, 3}", "{1, nil, 3}", "{[1] = 'a', [2] = 'b', x = 'dropped'}",
    "{[2] = 'b', [3] = 'c'}", "{[1] = 'a', [3] = 'c'}", "{[1.5] = 'f', [10] = 'ten'}",
    "{a = {b = {c = {1, {d = true}}}}}", "{0/0, 1/0, -1/0, 2.5, 3.0}", "{[true] = 1, y = 2}",
    "{'\\255\\254 bytes', 'é'}", "{[-1] = 'neg', [0] = 'zero'}", "12.75", "'s'", "true",
    "(function() local t = {} for i = 1, 40 do t[i] = i * 1.5 end t[20] = nil return t end)()",
]


@pytest.mark.parametrize("expr", TRICKY_VALUES)
def test_run_converter_agrees_with_convert(lua, expr: str) -> None:
    from llmspell.lua import convert

    rt, _ = lua.runtime()
    value = rt.eval(expr)
    expected = convert.to_python(value)
    data = rt.converter.to_python(value)
    assert data == expected or (data != data and expected != expected)
    assert convert.to_python(rt.converter.to_lua(expected)) == convert.to_python(
        convert.to_lua(rt.lua, expected))
    rt.close()


def test_memory_values_are_private_copies() -> None:
    svc = StateService(MemoryStore())
    value = {"a": [1, 2]}
    svc.set("global:k", value)
    value["a"].append(3)
    got = svc.get("global:k")
    assert got == {"a": [1, 2]}
    got["a"].append(4)
    assert svc.get("global:k") == {"a": [1, 2]}
    with pytest.raises(StateValueError):
        StateService(MemoryStore(), max_value_bytes=10).set("k", "x" * 50)


def test_state_events_when_enabled(lua) -> None:
    code = """
        local sub = Event.subscribe("state.*")
        State.set("a", 1)
        State.save("user:1", "b", {x = 1})
        State.delete("user:1", "b")
        State.delete("user:1", "never-there")
        State.save("global", "a", nil)
        local seen = {}
        while true do
            local e = Event.receive(sub, 10)
            if not e then break end
            seen[#seen + 1] = e.data.operation .. " " .. e.data.key
        end
        return seen
    """
    on = {"events": {"emit_state_events": True}}
    assert lua(code, config=on).value == [
        "save global:a", "save user:1:b", "delete user:1:b", "delete global:a"]
    assert lua(code).value == {}  # off by default


def test_memory_store_under_threads() -> None:
    import threading

    svc = StateService(MemoryStore())
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(2000):
                svc.set(f"t{n}:k{i}", {"i": i})
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        svc.keys("t1:")
        svc.snapshot()
    for t in threads:
        t.join()
    assert not errors
    assert len(svc.keys("")) == 8000 and svc.get("t3:k1999") == {"i": 1999}
