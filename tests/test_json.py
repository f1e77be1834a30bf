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
