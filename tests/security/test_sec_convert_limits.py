"""Conversion limits belong to the run: each runtime's converter is bounded by its own
``max_memory_bytes``, whatever other runtimes the process made (they used to share one
module-global setting, so the last runtime made set the bounds of every other).

The value is a DAG: 17 levels, each table holding the previous one twice, so 2^17 leaves
(about 262,000 nodes once expanded) from 18 small tables. A 4 MB cap allows 65,536
nodes; the default 50 MB cap allows 781,250.
"""

from __future__ import annotations

from typing import Any

DAG = "local t = {'leaf'} for i = 1, 17 do t = {t, t} end "
SMALL = {"runtime": {"security": {"max_memory_bytes": 4_000_000}}}
BIG: dict[str, Any] = {}

TOOL = DAG + """
local ok, err = pcall(Tool.invoke, 'json_processor', {operation = 'query', input = t,
                                                      query = 'length'})
return {ok = ok, err = type(err) == 'string' and err or ''}
"""
STATE = DAG + """
local ok, err = pcall(State.save, 'dag', 'k', t)
return {ok = ok, err = type(err) == 'string' and err or ''}
"""


def test_a_small_cap_holds_after_a_bigger_runtime_is_made(lua: Any) -> None:
    small, _ = lua.runtime(SMALL)
    big, _ = lua.runtime(BIG)  # made second: it must not loosen the first run's bounds
    try:
        for code in (TOOL, STATE):
            got = small.run_source(code.encode(), "small.lua")
            assert got["ok"] is False
            assert "value too large to convert" in got["err"], got
    finally:
        big.close()
        small.close()


def test_a_big_cap_is_not_narrowed_by_a_smaller_runtime(lua: Any) -> None:
    big, _ = lua.runtime(BIG)
    small, _ = lua.runtime(SMALL)  # made second: it must not narrow the first run's bounds
    try:
        for code in (TOOL, STATE):
            got = big.run_source(code.encode(), "big.lua")
            assert got == {"ok": True, "err": ""}, got
    finally:
        small.close()
        big.close()


def test_state_save_of_a_dag_fails_with_the_converters_message(lua: Any) -> None:
    # the Lua-side JSON writer gives such a value to the Python path (which counts and
    # stops) instead of building megabytes of text in the capped heap
    run = lua(STATE, config=SMALL)
    assert run.value["ok"] is False
    assert run.value["err"].startswith(
        "State.save: value for key 'dag:k' cannot be stored: value too large to convert")
