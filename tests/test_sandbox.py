"""Escape attempts: each must fail, and each test would fail if the rule were missing."""

from __future__ import annotations

import pytest

from llmspell.errors import ScriptMemoryError, ScriptTimeout

# Each snippet returns true only if it reached something the sandbox must deny.
ESCAPES = {
    "python global": "return python ~= nil",
    "python in package.loaded": "return package.loaded.python ~= nil",
    "require python": "return (pcall(require, 'python'))",
    "require ffi": "return (pcall(require, 'ffi'))",
    "jit global": "return jit ~= nil",
    "require jit": "return (pcall(require, 'jit'))",
    "string.buffer preload": "return (pcall(require, 'string.buffer'))",
    "package.loadlib": "return package.loadlib ~= nil",
    "package.cpath loaders": "return package.loaders ~= nil or package.searchers ~= nil",
    "string.dump": "return string.dump ~= nil",
    "bytecode via load": """
        local ok, f = pcall(load, "\\27LJ\\2\\0", "x", "b")
        return f ~= nil
    """,
    "bytecode via loadstring": "return loadstring('\\27LJ\\2\\0abc') ~= nil",
    "getfenv reaches python": "return getfenv(0).python ~= nil or getfenv(print).python ~= nil",
    "debug.getupvalue": "return debug.getupvalue ~= nil",
    "debug.getregistry": "return debug.getregistry ~= nil",
    "debug.sethook (disable timeout)": "return debug.sethook ~= nil",
    "debug.getinfo func": "return debug.getinfo(print).func ~= nil",
    "io.popen without permission": "return (pcall(io.popen, 'echo hi'))",
    "os.execute without permission": "return (pcall(os.execute, 'true'))",
    "io.open without file access": "return (pcall(io.open, '/etc/hostname'))",
    "io.lines without file access": "return (pcall(io.lines, '/etc/hostname'))",
    "os.remove without file access": "return (pcall(os.remove, '/tmp/llmspell-nope'))",
    "dofile": "return (pcall(dofile, '/etc/hostname'))",
    "loadfile": "return (pcall(loadfile, '/etc/hostname'))",
    "io.output redirect": "return (pcall(io.output, '/tmp/llmspell-redirect'))",
    "python attribute through a global's function": """
        local f = JSON.stringify
        return pcall(function() return f.__globals__ end) == true and f.__globals__ ~= nil
    """,
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempt_fails(lua, name):
    assert lua(ESCAPES[name]).value is False


def test_python_object_attributes_are_denied(lua):
    # The raw Python callable behind a global must not expose attributes even if reached.
    run = lua("""
        local ok, err = pcall(function()
            local mt = getmetatable(JSON.stringify)
            return mt
        end)
        return {ok = ok, kind = type(err)}
    """)
    assert run.value["kind"] in ("nil", "boolean")  # Lua closures have no metatable


def test_file_access_outside_allowed_paths(lua, tmp_path):
    inside = tmp_path / "in.txt"
    inside.write_text("hello")
    config = {"runtime": {"security": {"allow_file_access": True,
                                       "allowed_paths": [str(tmp_path)]}}}
    run = lua(f"""
        local f = assert(io.open({str(inside)!r}))
        local text = f:read("*a") f:close()
        local ok, err = pcall(io.open, "/etc/hostname")
        return {{text = text, ok = ok, err = err}}
    """, config=config)
    assert run.value["text"] == "hello"
    assert run.value["ok"] is False
    assert "outside the allowed paths" in run.value["err"]


def test_symlink_leaving_allowed_root_is_refused(lua, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to("/etc/hostname")
    config = {"runtime": {"security": {"allow_file_access": True,
                                       "allowed_paths": [str(root)]}}}
    run = lua(f"return select(2, pcall(io.open, {str(root / 'link')!r}))", config=config)
    assert "outside the allowed paths" in run.value


def test_dotdot_escape_is_refused(lua, tmp_path):
    config = {"runtime": {"security": {"allow_file_access": True,
                                       "allowed_paths": [str(tmp_path)]}}}
    path = str(tmp_path / ".." / ".." / "etc" / "hostname")
    run = lua(f"return select(2, pcall(io.open, {path!r}))", config=config)
    assert "outside the allowed paths" in run.value


def test_process_spawn_when_allowed(lua):
    config = {"runtime": {"security": {"allow_process_spawn": True}}}
    run = lua("local p = io.popen('echo spawned') local s = p:read('*l') p:close() return s",
              config=config)
    assert run.value == "spawned"


def test_endless_loop_stops_at_timeout(lua):
    with pytest.raises(ScriptTimeout):
        lua("while true do end", timeout=0.3)


def test_endless_loop_inside_pcall_cannot_swallow_timeout(lua):
    with pytest.raises(ScriptTimeout):
        lua("while true do pcall(function() while true do end end) end", timeout=0.3)


def test_endless_loop_in_coroutine_stops(lua):
    with pytest.raises(ScriptTimeout):
        lua("local co = coroutine.create(function() while true do end end)"
            " while true do coroutine.resume(co) end", timeout=0.3)


def test_xpcall_handler_cannot_swallow_timeout(lua):
    with pytest.raises(ScriptTimeout):
        lua("while true do xpcall(function() while true do end end, function() return 1 end)"
            " end", timeout=0.3)


def test_memory_bomb_hits_the_cap(lua):
    with pytest.raises(ScriptMemoryError):
        lua("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 64) .. i end",
            config={"runtime": {"security": {"max_memory_bytes": 20_000_000}}})


def test_string_rep_bomb_hits_the_cap(lua):
    with pytest.raises(ScriptMemoryError):
        lua("local s = string.rep('x', 1e8)",
            config={"runtime": {"security": {"max_memory_bytes": 20_000_000}}})


def test_require_is_limited_to_script_folder(lua, tmp_path):
    (tmp_path / "helper.lua").write_text("return {answer = 42}")
    run = lua("local h = require('helper') return {h.answer, pcall(require, '..secret')}")
    assert run.value[0] == 42
    assert run.value[1] is False


def test_require_cannot_reach_outside_through_symlink(lua, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.lua"
    outside.write_text("return 'escaped'")
    (tmp_path / "evil.lua").symlink_to(outside)
    run = lua("return {pcall(require, 'evil')}")
    assert run.value[0] is False
    assert "not found" in run.value[1]
