"""Streaming (coroutine streams) and Replay (configs, modifications, schedules, comparator)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmspell.replay import ReplayConfig, ReplayError, Schedule, apply_modification, compare_json


def test_stream_next_collect_and_done(lua):
    run = lua("""
      local s = Streaming.create(function()
        for i = 1, 3 do Streaming.yield(i * 10) end
      end)
      local first, done1 = s:next(), s:isDone()
      local rest = s:collect()
      return {first = first, done1 = done1, rest = rest, done = s:isDone(),
              after = s:next() == nil}
    """)
    assert run.value == {"first": 10, "done1": False, "rest": [20, 30], "done": True,
                         "after": True}


def test_stream_errors_end_the_stream_and_yield_outside_raises(lua):
    run = lua("""
      local s = Streaming.create(function() coroutine.yield(1); error("boom") end)
      local v = s:next()
      local ok, err = pcall(s.next, s)
      local ok2, err2 = pcall(Streaming.yield, 1)
      local ok3, err3 = pcall(Streaming.create, 42)
      return {v = v, ok = ok, err = tostring(err), done = s:isDone(), ok2 = ok2,
              err2 = tostring(err2), err3 = tostring(err3)}
    """)
    v = run.value
    assert v["v"] == 1 and v["ok"] is False and "boom" in v["err"] and v["done"] is True
    assert v["ok2"] is False and "inside the function given to Streaming.create" in v["err2"]
    assert "must be a function" in v["err3"]


def test_replay_config_and_modifications(lua):
    run = lua("""
      local cfg = Replay.create_config(Replay.modes.modified)
      cfg:add_modification("input.temperature", 0.25)
      local m = Replay.create_modification("tags.2", "changed")
      cfg:add_modification(m)
      local off = Replay.create_modification("input.model", "nope", false)
      cfg:add_modification(off)
      local out = cfg:apply({input = {temperature = 0.9, model = "m"}, tags = {"a", "b"}})
      local exact = Replay.create_config()
      exact:set_timeout_seconds(5)
      return {mode = cfg:get_mode():name(), compare = cfg:should_compare_results(),
              timeout = exact:get_timeout_seconds(), stop = cfg:should_stop_on_error(),
              n = #cfg:get_modifications(), out = out, path = m:get_path(),
              enabled = off:is_enabled(), exact_mode = exact:get_mode():name(),
              untouched = exact:apply({a = 1}).a, modes = {Replay.modes.exact:name(),
              Replay.modes.simulate:name(), Replay.modes.debug:name()}}
    """)
    v = run.value
    assert v["mode"] == "modified" and v["compare"] is True and v["stop"] is False
    assert v["timeout"] == 5 and v["n"] == 3 and v["path"] == "tags.2" and v["enabled"] is False
    assert v["out"] == {"input": {"temperature": 0.25, "model": "m"}, "tags": ["a", "changed"]}
    assert v["exact_mode"] == "exact" and v["untouched"] == 1
    assert v["modes"] == ["exact", "simulate", "debug"]


def test_replay_schedules_and_comparator(lua):
    run = lua("""
      local c = Replay.create_comparator()
      local same = c:compare_json({a = 1, b = {1, 2}}, {a = 1, b = {1, 2}})
      local diff = c:compare_json({a = 1, b = {1, 2}}, {a = 1, b = {1, 3}, c = true})
      local ok, err = pcall(Replay.schedules.cron, "61 * * * *")
      return {same = same.identical, score = same.similarity_score, diff = diff.identical,
              n = #diff.differences, path = diff.differences[1].path, summary = diff.summary,
              kinds = {Replay.schedules.once(1):type_name(),
                       Replay.schedules.interval(0, 60, 2):type_name(),
                       Replay.schedules.cron("0 9 * * mon-fri"):type_name()},
              err = tostring(err)}
    """)
    v = run.value
    assert v["same"] is True and v["score"] == 1 and v["diff"] is False
    assert v["n"] == 2 and v["path"] == "b[1]" and "2 differences" in v["summary"]
    assert v["kinds"] == ["once", "interval", "cron"]
    assert "out of range" in v["err"] and "minute 0-59" in v["err"]


def test_replay_service_directly():
    assert apply_modification({"a": [{"b": 1}]}, "$.a[0].b", 2) == {"a": [{"b": 2}]}
    with pytest.raises(ReplayError):
        apply_modification({"a": 1}, "a.b", 2)
    assert ReplayConfig(mode="simulate").apply({"x": 1}) == {"x": 1}
    monday_8 = datetime(2026, 11, 23, 8, 30, tzinfo=UTC).timestamp()
    nxt = Schedule("cron", expression="0 9 * * mon-fri").next_run(monday_8)
    assert datetime.fromtimestamp(nxt, UTC) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    every = Schedule("interval", delay=10, interval=5, max_executions=2, created=100)
    assert every.next_run(105) == 110 and every.next_run(111) == 115
    assert every.next_run(111, executed=2) is None
    assert Schedule("once", delay=3, created=100).next_run(50) == 103
    assert compare_json([1, "a"], [1, 2])["differences"][0]["description"] == \
        "type changed from string to number"


def _at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("expr", "after", "expected"), [
    # day-of-month OR day-of-week when both are restricted (Vixie cron)
    ("0 0 1 * mon", (2026, 12, 4, 21, 0), (2026, 12, 7, 0, 0)),
    ("0 0 29 2 *", (2026, 12, 4, 21, 0), (2028, 2, 29, 0, 0)),  # the next leap day
    ("@daily", (2026, 12, 4, 21, 0), (2026, 12, 5, 0, 0)),
    ("@hourly", (2026, 12, 4, 21, 10), (2026, 12, 4, 22, 0)),
    ("@weekly", (2026, 12, 4, 21, 0), (2026, 12, 6, 0, 0)),
    ("@monthly", (2026, 12, 4, 21, 0), (2027, 1, 1, 0, 0)),
    ("@yearly", (2026, 12, 4, 21, 0), (2027, 1, 1, 0, 0)),
    ("30 0 0 1 * *", (2026, 12, 4, 21, 0), (2027, 1, 1, 0, 0, 30)),  # seconds first
    ("0 0 * * 7", (2026, 12, 4, 21, 0), (2026, 12, 6, 0, 0)),  # 7 is Sunday too
    ("*/15 9-17 * * MON-FRI", (2026, 12, 4, 17, 50), (2026, 12, 7, 9, 0)),
])
def test_cron_schedules_follow_cron(expr: str, after: tuple[int, ...],
                                    expected: tuple[int, ...]) -> None:
    nxt = Schedule("cron", expression=expr, created=_at(*after)).next_run(_at(*after))
    assert nxt == _at(*expected)


def test_upstream_step_forms_count_from_the_last_run() -> None:
    base = _at(2026, 12, 4, 21, 7)
    for form, seconds in (("hourly", 3600), ("daily", 86400), ("weekly", 7 * 86400),
                          ("Daily", 86400)):
        assert Schedule("cron", expression=form, created=base).next_run(base) == base + seconds


@pytest.mark.parametrize(("expr", "message"), [
    ("0 0 30 2 *", "never fires"),
    ("", "empty"),
    ("* * *", "needs 5 fields"),
    ("@fortnightly", "@fortnightly"),
    ("1-2-3 * * * *", "1-2-3"),
    ("* " * 200, "longer than"),
])
def test_bad_cron_expressions_are_refused(expr: str, message: str) -> None:
    with pytest.raises(ReplayError, match=message):
        Schedule("cron", expression=expr)


def test_cron_via_lua(lua) -> None:
    run = lua("""
      local s = Replay.schedules.cron("@daily")
      local ok, err = pcall(Replay.schedules.cron, "0 0 31 2 *")
      return {kind = s:type_name(), next = s:next_run(0), ok = ok, err = tostring(err)}
    """)
    assert run.value["kind"] == "cron" and run.value["next"] == 86400
    assert run.value["ok"] is False and "never fires" in run.value["err"]


def test_croniter_is_imported_only_for_a_cron_schedule() -> None:
    import subprocess
    import sys

    code = ("import sys, llmspell.replay as r\n"
            "r.Schedule('interval', interval=5)\n"
            "assert 'croniter' not in sys.modules\n"
            "r.Schedule('cron', expression='@daily')\n"
            "assert 'croniter' in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
