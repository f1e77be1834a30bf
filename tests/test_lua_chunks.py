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
