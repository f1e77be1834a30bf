"""JSON.stringify / JSON.parse follow spec § 11 and § 0.3."""

import pytest


@pytest.mark.parametrize("expr, text", [
    ("{b = 1, a = 2}", '{"a":2,"b":1}'),
    ("{1, 2, 3}", "[1,2,3]"),
    ("{}", "{}"),
    ("{1, 2, x = 'dropped'}", "[1,2]"),
    ("{[2] = 'b', [3] = 'c'}", '{"2":"b","3":"c"}'),
    ("1.5", "1.5"),
    ("3.0", "3"),
    ("0/0", "null"),
    ("nil", "null"),
    ("'é\"'", '"é\\""'),
    ("{nested = {list = {true, false}}}", '{"nested":{"list":[true,false]}}'),
])
def test_stringify(lua, expr, text):
    assert lua(f"return JSON.stringify({expr})").value == text


def test_stringify_refuses_functions(lua):
    run = lua("return select(2, pcall(JSON.stringify, {f = print}))")
    assert "Unsupported Lua type for JSON conversion" in run.value


def test_parse_null_becomes_nil_and_arrays_are_one_based(lua):
    run = lua("""
        local t = JSON.parse('{"a": null, "list": [10, 20], "o": {"k": "v"}}')
        return {t.a == nil, t.list[1], t.list[2], t.o.k}
    """)
    assert run.value == [True, 10, 20, "v"]


def test_parse_error_message(lua):
    run = lua("return select(2, pcall(JSON.parse, '{nope'))")
    assert "JSON parse error:" in run.value


def test_parse_requires_a_string(lua):
    run = lua("return select(2, pcall(JSON.parse, 42))")
    assert "JSON.parse: expected a string, got number" in run.value


def test_round_trip(lua):
    run = lua("""
        local t = {name = "x", n = 2, tags = {"a", "b"}, deep = {ok = true}}
        local back = JSON.parse(JSON.stringify(t))
        return JSON.stringify(back) == JSON.stringify(t)
    """)
    assert run.value is True


def test_cycle_is_an_error_not_a_crash(lua):
    run = lua("local t = {} t.self = t return select(2, pcall(JSON.stringify, t))")
    assert "nesting too deep" in run.value


def test_parse_escapes_and_numbers(lua):
    run = lua(r"""
        local t = JSON.parse('{"s": "a\\n\\"q\\" \\u00e9 \\ud83d\\ude00", "n": [-1.5e2, 0, 3]}')
        return {t.s, t.n[1], t.n[2], t.n[3]}
    """)
    assert run.value == ['a\n"q" é 😀', -150, 0, 3]


def test_stringify_escapes_control_characters(lua):
    run = lua(r"return JSON.stringify({s = 'tab\there\1'})")
    assert run.value == '{"s":"tab\\there\\u0001"}'


def test_parse_reports_position(lua):
    run = lua("return select(2, pcall(JSON.parse, '{\\n  \"a\": }'))")
    assert "JSON parse error: expected value at line 2 column 8" in run.value


def test_stringify_float_forms(lua):
    run = lua("return JSON.stringify({1e-7, 0.1, 1e300, 123456789012345678})")
    assert run.value == "[1e-7,0.1,1e300,123456789012345680]"


def test_trailing_garbage_is_an_error(lua):
    run = lua("return select(2, pcall(JSON.parse, '[1] x'))")
    assert "trailing characters" in run.value


def test_python_and_lua_json_agree(lua):
    from llmspell import jsonutil

    data = {"b": [1, 2.5, "x"], "a": {"nested": True}, "u": "é"}
    run = lua("return JSON.stringify(JSON.parse(...))".replace(
        "...", repr(jsonutil.dumps(data))))
    assert run.value == jsonutil.dumps(data)
