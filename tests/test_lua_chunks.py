"""Our own Lua chunks: every one is compiled before the script runs, none calls string
methods through the string metatable (a script can change it)."""

from __future__ import annotations

import re
from pathlib import Path

from llmspell.lua import runtime

LUA_DIR = Path(runtime.__file__).parent
STRING_METHOD = re.compile(
    r"[\w\)\]\"']:(byte|char|find|format|gmatch|gsub|len|lower|match|rep|reverse|sub|upper)\(")


def test_every_chunk_file_is_compiled_up_front() -> None:
    files = {p.stem for p in LUA_DIR.glob("*.lua")} - {"prelude"}
    assert files == set(runtime.CHUNKS)


def test_no_chunk_calls_string_methods() -> None:
    for path in LUA_DIR.glob("*.lua"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("--", 1)[0]
            assert not STRING_METHOD.search(code), f"{path.name}:{number}: {line.strip()}"


def test_chunks_are_bound_before_the_script_runs(lua) -> None:  # type: ignore[no-untyped-def]
    rt, _ = lua.runtime()
    try:
        chunks = {name: rt.chunk(name) for name in runtime.CHUNKS}
        rt.run_source(b"load = nil; string = nil; setmetatable = nil; pairs = nil", "t.lua")
        module = chunks["json"]()
        assert module[b"stringify"](rt.table({"a": [1, 2]})) == b'{"a":[1,2]}'
    finally:
        rt.close()


GLOBAL_READS = rb"""
local src = ...
local util, band, rshift = require("jit.util"), require("bit").band, require("bit").rshift
local GGET = band(util.funcbc(util.funck(load("local function g() return x end"), -1), 1), 0xff)
local names = {}
local function scan(fn, top)
  local info = util.funcinfo(fn)
  for pc = 0, info.bytecodes do
    local ins = util.funcbc(fn, pc)
    if not ins then break end
    if not top and band(ins, 0xff) == GGET then
      names[#names + 1] = util.funck(fn, -rshift(ins, 16) - 1) .. "@" .. info.linedefined
    end
  end
  for i = -1, -info.gcconsts, -1 do
    local k = util.funck(fn, i)
    if type(k) == "proto" then scan(k, false) end
  end
end
scan(assert(load(src, "=chunk", "t")), true)
return table.concat(names, " ")
"""


def test_no_function_of_ours_reads_a_global_when_called() -> None:
    """The prelude's functions run in the script's _G: a global read at call time would see
    what the script put there. Our other chunks capture what they use as locals too."""
    from lupa import luajit21 as lupa

    plain = lupa.LuaRuntime(encoding=None)  # not a sandbox: it needs jit.util
    for path in LUA_DIR.glob("*.lua"):
        assert plain.execute(GLOBAL_READS, path.read_bytes()) == b"", path.name
