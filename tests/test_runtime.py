"""The Lua runtime as scripts see it: printing, 5.4 conveniences, errors, exit, limits."""

from __future__ import annotations

import pytest

from llmspell.errors import ScriptError, ScriptExit


@pytest.mark.parametrize("expr, shown", [
    ("3.0", "3"), ("2.5", "2.5"), ("0.1", "0.1"), ("1e-7", "0.0000001"), ("1/3",
     "0.3333333333333333"), ("-0.5", "-0.5"), ("2^53", "9007199254740992"),
    ("1e21", "1000000000000000000000"), ("0/0", "NaN"), ("1/0", "inf"), ("nil", "nil"),
    ("true", "true"), ("{}", "table"), ("print", "function"),
])
def test_print_formats_like_upstream(lua, expr, shown):
    assert lua(f"print({expr})").stdout == shown + "\n"


def test_print_joins_with_tabs(lua):
    assert lua("print('a', 1, nil, false)").stdout == "a\t1\tnil\tfalse\n"


def test_print_honours_tostring_metamethod(lua):
    run = lua("print(setmetatable({}, {__tostring = function() return 'obj' end}))")
    assert run.stdout == "obj\n"


def test_io_write_has_no_newline_and_returns_stdout(lua):
    run = lua("local f = io.write('a', 1, 'b') f:write('c') io.stdout:write('d\\n')")
    assert run.stdout == "a1bcd\n"


def test_format_like_lua54(lua):
    run = lua("return {string.format('%s %s %d', true, nil, 3.0),"
              " select(2, pcall(string.format, '%d', 3.5))}")
    assert run.value[0] == "true nil 3"
    assert "number has no integer representation" in run.value[1]
    assert "bad argument #2 to 'format'" in run.value[1]


def test_lua54_conveniences(lua):
    run = lua("""
        local p = table.pack(1, nil, 3)
        local a, b = table.unpack({7, 8})
        return {p.n, a + b, math.type(1), math.type(1.5), math.type('x') == nil,
                math.tointeger(4.0), utf8.len('héllo'), utf8.char(72, 233),
                #table.move({1, 2, 3}, 1, 3, 2)}
    """)
    assert run.value == [3, 15, "integer", "float", True, 4, 5, "Hé", 4]


def test_utf8_codes_and_codepoint(lua):
    run = lua("""
        local out = {}
        for _, c in utf8.codes('aé€') do out[#out + 1] = c end
        return {out, {utf8.codepoint('aé', 1, -1)}, utf8.offset('aé€', 3)}
    """)
    assert run.value == [[97, 233, 8364], [97, 233], 4]


def test_math_random_is_seeded_per_run(lua):
    first = lua("return math.random(1, 1000000)").value
    seen = {lua("return math.random(1, 1000000)").value for _ in range(4)}
    assert len(seen | {first}) > 1


def test_tostring_of_large_integers(lua):
    assert lua("return tostring(123456789012345)").value == "123456789012345"


def test_error_has_file_line_and_traceback(lua):
    with pytest.raises(ScriptError) as info:
        lua("local function f()\n  error('boom')\nend\nf()")
    assert info.value.message == "test.lua:2: boom"
    assert "test.lua:4: in main chunk" in info.value.traceback
    assert "llmspell:" not in info.value.traceback


def test_syntax_error_is_one_line(lua):
    with pytest.raises(ScriptError) as info:
        lua("x = = 1")
    assert info.value.message.startswith("test.lua:1:")
    assert "unexpected symbol" in info.value.message


def test_error_with_table_value(lua):
    with pytest.raises(ScriptError) as info:
        lua("error({code = 42})")
    assert "error object is a table value" in info.value.message


def test_api_errors_are_strings_under_pcall(lua):
    # Upstream scripts do "Error: " .. err: the error value must be a string.
    run = lua("local ok, e = pcall(function() local r = JSON.parse('{bad') return r end)"
              " return 'Error: ' .. e")
    assert run.value.startswith("Error: test.lua:1: JSON parse error:")


def test_os_exit_is_not_caught_by_pcall(lua):
    with pytest.raises(ScriptExit) as info:
        lua("pcall(os.exit, 3) print('not reached')")
    assert info.value.code == 3


def test_os_exit_runs_close_hooks(lua):
    rt, _ = lua.runtime()
    closed = []
    rt.on_close(lambda: closed.append(True))
    with pytest.raises(ScriptExit):
        rt.run_source(b"os.exit(true)", "t.lua")
    rt.close()
    assert closed == [True]


def test_args_tables(lua):
    rt, _ = lua.runtime(script_args={"0": "s.lua", "1": "a", "2": "b", "name": "v"})
    value = rt.run_source(b"return {ARGS[0], ARGS[1], ARGS[2], ARGS.name, #arg, arg.name}",
                          "s.lua")
    assert value == ["s.lua", "a", "b", "v", 2]


def test_result_conversion(lua):
    assert lua("return {1, 2, x = 3}").value == {"x": 3}
    assert lua("return {1, 2}").value == [1, 2]
    assert lua("return {}").value == {}
    assert lua("return 'text'").value == "text"
    assert lua("return print").value == "<function>"


def test_non_utf8_strings_survive(lua):
    run = lua("return JSON.parse(JSON.stringify('\\255\\254')) == '\\255\\254'")
    assert run.value is True


def test_lazy_globals_exist_and_fill_on_first_use(lua):
    run = lua("return {type(JSON), type(Debug), type(Logger), type(Utils), type(Config),"
              " type(JSON.stringify)}")
    assert run.value == ["table"] * 5 + ["function"]
