"""lua/objects.py (a Python class as a Lua object) and lua/args.py (argument checks)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from llmspell import config as config_mod
from llmspell.errors import ApiError, ScriptError
from llmspell.lua import args
from llmspell.lua.objects import LuaObject, lua_methods, lua_objects
from llmspell.lua.runtime import Output, Runtime


class Counter(LuaObject):
    lua_name = "Counter"
    lua_names = {"current_value": "currentValue"}

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: Any = None) -> Counter:
        self.n += args.integer(k, "Counter:add", 1)
        return self

    def current_value(self) -> int:
        return self.n

    def boom(self) -> None:
        raise ValueError("broken inside")

    def refuse(self) -> None:
        raise ApiError("Counter:refuse: no")

    def child(self) -> Counter:
        return Counter()

    def _private(self) -> str:
        return "hidden"

    def lua_fields(self) -> dict[str, Any]:
        return {"kind": "counter"}


class Global(LuaObject):
    lua_name = "Counters"

    def new(self) -> Counter:
        return Counter()

    def double(self, x: Any = None) -> float:
        return args.number(x, "Counters.double", 1) * 2


def _runtime(tmp_path: Any) -> Runtime:
    settings = config_mod.from_dict({}, environ={})
    rt = Runtime(settings, script_path=tmp_path / "t.lua", output=Output(stream=io.BytesIO()))
    table = rt.table({})
    lua_objects(rt).install(table, Global())
    rt.lua.globals()[b"Counters"] = table
    return rt


def _run(tmp_path: Any, code: str) -> Any:
    rt = _runtime(tmp_path)
    try:
        return rt.run_source(code.encode(), "t.lua")
    finally:
        rt.close()


def test_public_methods_only() -> None:
    assert set(lua_methods(Counter)) == {"add", "currentValue", "boom", "refuse", "child"}


def test_methods_are_colon_calls_and_chain(tmp_path: Any) -> None:
    value = _run(tmp_path, """
      local c = Counters.new()
      local same = c:add(2):add(3) == c
      local other = Counters.new()
      other:add(10)
      return {c:currentValue(), other:currentValue(), same, c.kind, Counters.double(4),
              c:child():currentValue(), getmetatable(c) == getmetatable(other)}
    """)
    # getmetatable answers false for both, so the last entry is true either way
    assert value == [5, 10, True, "counter", 8, 0, True]


def test_errors_name_the_method(tmp_path: Any) -> None:
    value = _run(tmp_path, """
      local c = Counters.new()
      local function err(f, ...) return select(2, pcall(f, ...)) end
      return {err(c.add, c, "x"), err(c.boom, c), err(c.refuse, c), err(c.add, 3),
              err(c.currentValue), err(c.add, {}, 1), err(Counters.double, "x")}
    """)
    assert value[0] == "Counter:add: argument #1 must be an integer, got string"
    assert value[1] == "Counter:boom: broken inside"
    assert value[2] == "Counter:refuse: no"
    assert value[3] == "Counter:add: call it as a method, obj:add(...)"
    assert value[4] == "Counter:currentValue: call it as a method, obj:currentValue(...)"
    assert value[5] == "Counter:add: call it as a method, obj:add(...)"
    assert value[6] == "Counters.double: argument #1 must be a number, got string"


def test_uncaught_error_names_the_script_line(tmp_path: Any) -> None:
    with pytest.raises(ScriptError, match=r"t.lua:3: Counter:add: argument #1 must be an"):
        _run(tmp_path, """
          local c = Counters.new()
          c:add(nil)
        """)


# -- args ----------------------------------------------------------------------------


def test_text_accepts_strings_and_numbers() -> None:
    assert args.text(b"abc", "F.f") == "abc"
    assert args.text(3, "F.f") == "3"
    assert args.text(2.5, "F.f") == "2.5"
    assert args.text(1e20, "F.f") == "1e+20"
    for bad, kind in ((None, "nil"), (True, "boolean")):
        with pytest.raises(ApiError) as exc:
            args.text(bad, "F.f", 2, name="key")
        assert str(exc.value) == f"F.f: argument #2 (key) must be a string, got {kind}"
    assert args.optional_text(None, "F.f", default="d") == "d"


def test_numbers_integers_booleans() -> None:
    assert args.number(2.5, "F.f") == 2.5
    with pytest.raises(ApiError, match=r"^F.f: argument #1 must be a number, got string$"):
        args.number(b"2", "F.f")
    with pytest.raises(ApiError, match=r"must be a number, got boolean"):
        args.number(True, "F.f")
    assert args.integer(3.0, "F.f") == 3
    with pytest.raises(ApiError, match=r"^F.f: argument #1 must be an integer, got number$"):
        args.integer(2.5, "F.f")
    with pytest.raises(ApiError, match=r"^F.f: argument #3 must be an integer >= 1, got 0$"):
        args.integer(0, "F.f", 3, minimum=1)
    assert args.optional_integer(None, "F.f", default=7) == 7
    assert args.boolean(False, "F.f") is False
    with pytest.raises(ApiError, match="must be a boolean, got nil"):
        args.boolean(None, "F.f")
    assert args.truthy(0) and not args.truthy(None) and not args.truthy(False)


def test_one_of() -> None:
    assert args.one_of(b"low", ("low", "high"), "F.f") == "low"
    with pytest.raises(ApiError, match=r"^F.f: argument #1 must be one of low, high, got 'x'$"):
        args.one_of(b"x", ("low", "high"), "F.f")


def test_tables_functions_and_data(tmp_path: Any) -> None:
    rt = _runtime(tmp_path)
    try:
        t = rt.eval("{1, 2}")
        f = rt.eval("function() end")
        assert args.table(t, "F.f") is not None
        assert args.table_data(t, "F.f") == [1, 2]
        assert args.function(f, "F.f") is f
        assert args.optional_function(None, "F.f") is None
        with pytest.raises(ApiError, match=r"^F.f: argument #1 must be a table, got string$"):
            args.table(b"x", "F.f")
        with pytest.raises(ApiError, match=r"^F.f: argument #2 must be a function, got table$"):
            args.function(t, "F.f", 2)
        with_fn = rt.eval("{a = function() end}")
        with pytest.raises(ApiError, match=r"^F.f: Unsupported Lua type"):
            args.data(with_fn, "F.f")
        assert args.data(with_fn, "F.f", functions=True)["a"] is not None
    finally:
        rt.close()




def test_fields_names_and_field(tmp_path: Any) -> None:
    rt = _runtime(tmp_path)
    try:
        assert args.fields(rt.eval("{a = 1}"), "F.f") == {"a": 1}
        assert args.fields(rt.eval("{}"), "F.f") == {}
        assert args.optional_fields(None, "F.f") == {}
        with pytest.raises(ApiError, match=r"^F.f: argument #2 \(opts\) must be a table of "
                                           r"named fields, got an array$"):
            args.fields(rt.eval("{1, 2}"), "F.f", 2, name="opts")
        assert args.names(rt.eval('{"a", "b"}'), "F.f") == ["a", "b"]
        assert args.names(rt.eval("{}"), "F.f") == []
        with pytest.raises(ApiError, match=r"^F.f: argument #1 must be an array of strings$"):
            args.names(rt.eval('{"a", 2}'), "F.f")
    finally:
        rt.close()
    data = {"n": 3, "s": "x", "b": True, "tags": {}, "meta": []}
    assert args.field(data, "n", "integer", "F.f") == 3
    assert args.field(data, "missing", "number", "F.f", default=9) == 9
    assert args.field(data, "tags", "names", "F.f") == []
    assert args.field(data, "meta", "fields", "F.f") == {}
    with pytest.raises(ApiError, match=r"^F.f: b must be an integer$"):
        args.field(data, "b", "integer", "F.f")
    with pytest.raises(ApiError, match=r"^F.f: s must be a number$"):
        args.field(data, "s", "number", "F.f")


class Many(LuaObject):
    lua_name = "Many"

    def items(self) -> list[Any]:
        return [Counter(), Counter(), "plain"]


def test_a_list_of_objects_is_an_array_of_their_tables(tmp_path: Any) -> None:
    rt = _runtime(tmp_path)
    try:
        rt.lua.globals()[b"many"] = lua_objects(rt).new(Many())
        value = rt.run_source(b"""
          local xs = many:items()
          return {#xs, xs[1]:add(2):currentValue(), xs[2].kind, xs[3],
                  getmetatable(xs[1]) == false}
        """, "t.lua")
    finally:
        rt.close()
    assert value == [3, 2, "counter", "plain", True]
