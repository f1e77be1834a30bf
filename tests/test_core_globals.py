"""Debug, Logger, Utils and Config as scripts use them."""

from __future__ import annotations

import pytest


def test_debug_levels_filter_and_capture(lua, capsys):
    run = lua("""
        Debug.info("shown", "app")
        Debug.debug("below level", "app")
        Debug.setLevel("debug")
        Debug.debug("now shown", "app.db")
        Debug.addModuleFilter("app.db", false)
        Debug.info("filtered", "app.db.pool")
        Debug.info("still shown", "app.web")
        local entries = Debug.getCapturedEntries()
        local out = {}
        for _, e in ipairs(entries) do out[#out + 1] = e.level .. ":" .. e.message end
        return {out, Debug.getLevel(), Debug.setLevel("nope"), Debug.getFilterSummary().total_rules}
    """)
    assert run.value == [["INFO:shown", "DEBUG:now shown", "INFO:still shown"], "DEBUG", False, 1]
    err = capsys.readouterr().err
    assert "[INFO ] [app] shown" in err
    assert "filtered" not in err


def test_debug_advanced_filters(lua):
    run = lua("""
        Debug.setDefaultFilterEnabled(false)
        local ok = Debug.addAdvancedFilter("^net%.", "regex", true)
        local ok2 = Debug.addAdvancedFilter("x", "bogus", true)
        Debug.addAdvancedFilter("net[.]http", "regex", true)
        Debug.info("a", "net.http")
        Debug.info("b", "disk")
        return {ok, ok2, #Debug.getCapturedEntries()}
    """)
    assert run.value[1] is False
    assert run.value[2] == 1


def test_debug_log_with_data_and_bad_level(lua):
    run = lua("""
        Debug.logWithData("info", "with data", {n = 1})
        local e = Debug.getCapturedEntries(1)[1]
        local ok, err = pcall(Debug.log, "loud", "x")
        local ok2, err2 = pcall(Debug.logWithData, "info", "x", {f = print})
        return {e.metadata.n, ok, err, ok2, err2}
    """)
    assert run.value[0] == 1
    assert run.value[1] is False and "unknown level 'loud'" in run.value[2]
    assert run.value[3] is False and "not JSON-convertible" in run.value[4]


def test_debug_timer(lua):
    run = lua("""
        local t = Debug.timer("work")
        local s = 0 for i = 1, 10000 do s = s + i end
        local lapped = t:lap("half")
        local running = t:elapsed()
        local stopped = t:stop()
        return {type(t.id), lapped, running >= 0, stopped >= running, t:stop() == nil,
                t:elapsed() == nil, Debug.recordEvent(t.id, "late")}
    """)
    assert run.value == ["string", True, True, True, True, True, False]


def test_debug_reports(lua):
    run = lua("""
        local t = Debug.timer("phase")
        t:lap("one")
        Debug.recordEvent(t.id, "marker", {k = 1})
        t:stop()
        return {Debug.performanceReport(), JSON.parse(Debug.jsonReport()), Debug.flameGraph()}
    """)
    report, data, flame = run.value
    assert "phase" in report and "lap one" in report
    assert data["timers"][0]["name"] == "phase"
    assert data["timers"][0]["events"][0]["name"] == "marker"
    assert flame.splitlines()[0].startswith("phase;one ")


def test_debug_dump(lua):
    run = lua("""
        local t = {b = {1, 2}, a = "x"}
        t.self = t
        return {Debug.dump(t), Debug.dumpCompact({1, 2, {x = 1}}, "v"),
                Debug.dumpWithOptions({long = string.rep("z", 50)}, {max_string_length = 5,
                compact_mode = true})}
    """)
    full, compact, limited = run.value
    assert 'a = "x"' in full and "self = <cycle>" in full and "[1] = 1" in full
    assert compact == "v:\n{1, 2, {x = 1}}"
    assert limited == '{long = "zzzzz..."}'


def test_debug_memory_and_stack(lua):
    run = lua("""
        local m = Debug.memoryStats()
        local snap = Debug.memorySnapshot()
        local function inner() return Debug.stackTrace(), Debug.stackTraceJson() end
        local text, json = inner()
        return {m.used_bytes > 0, m.resident_bytes > m.used_bytes, type(m.collections),
                snap.active_trackers, text, JSON.parse(json).frames[1].source}
    """)
    assert run.value[:4] == [True, True, "number", 0]
    assert "#0: in function 'inner' (test.lua:4)" in run.value[4]
    assert run.value[5] == "test.lua"


def test_logger_levels(lua, capsys):
    run = lua("""
        Logger.info("hello", {k = "v"})
        Logger.debug("quiet")
        local changed = Logger.setLevel("error")
        Logger.warn("dropped")
        Logger.error("loud")
        return {changed, Logger.getLevel(), Logger.setLevel("nonsense"),
                select(2, pcall(Logger.info, {}))}
    """)
    assert run.value[:3] == [True, "error", False]
    assert "message must be a string" in run.value[3]
    err = capsys.readouterr().err
    assert '[INFO ] [script] hello {"k":"v"}' in err
    assert "quiet" not in err and "dropped" not in err and "loud" in err


def test_utils_helpers(lua):
    run = lua("""
        return {
            Utils.split("a,b,,c", ","), Utils.split("a::b", "::"), Utils.trim("  x  "),
            Utils.startsWith("llmspell", "llm"), Utils.endsWith("a.lua", ".py"),
            Utils.keys({b = 1, a = 2}), Utils.values({b = 1, a = 2}), Utils.count({1, 2, x = 3}),
            Utils.contains({1, 2}, 2), Utils.isEmpty({}), Utils.merge({a = 1}, {b = 2}),
            Utils.map({1, 2}, function(v) return v * 10 end),
            Utils.filter({1, 2, 3, 4}, function(v) return v % 2 == 0 end),
            #Utils.uuid(), Utils.hash("abc"), Utils.hash("abc", "md5"),
            Utils.base64Decode(Utils.base64Encode("hi")), Utils.now() > 1.7e12,
        }
    """)
    assert run.value == [
        ["a", "b", "", "c"], ["a", "b"], "x", True, False, ["a", "b"], [2, 1], 3, True, True,
        {"a": 1, "b": 2}, [10, 20], [2, 4], 36,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "900150983cd24fb0d6963f7d28e17f72", "hi", True]


def test_utils_deep_copy_is_independent(lua):
    run = lua("""
        local t = {inner = {1, 2}}
        t.me = t
        local c = Utils.deepCopy(t)
        c.inner[1] = 99
        return {t.inner[1], c.me == c, c.me ~= t}
    """)
    assert run.value == [1, True, True]


@pytest.mark.parametrize("call, message", [
    ("Utils.split(3)", "Utils.split: argument #1 must be a string, got number"),
    ("Utils.hash('x', 'crc')", "Utils.hash: unknown algorithm 'crc'"),
    ("Utils.sleep(-1)", "Utils.sleep: expected milliseconds >= 0"),
    ("Utils.base64Decode('***')", "Utils.base64Decode: invalid base64"),
])
def test_utils_errors(lua, call, message):
    run = lua(f"local ok, e = pcall(function() local r = {call} return r end) return e")
    assert message in run.value


def test_utils_sleep_stops_at_the_deadline(lua):
    from llmspell.errors import ScriptTimeout

    with pytest.raises(ScriptTimeout):
        lua("Utils.sleep(60000)", timeout=0.3)


def test_config_is_read_only_and_redacts_secrets(lua):
    config = {"providers": {"openai": {"provider_type": "openai", "api_key": "sk-secret",
                                       "model": "gpt-4o-mini"}},
              "runtime": {"security": {"allow_file_access": True}}}
    run = lua("""
        local p = Config.getProvider("openai")
        local ok, err = pcall(Config.setProvider, "x", {})
        return {p.api_key, p.default_model, Config.listProviders(), Config.isFileAccessAllowed(),
                Config.get("rag.vector_storage.dimensions"), Config.get().providers.providers
                .openai.api_key, ok, err, Config.getProvider("none") == nil,
                Config.getPermissions().modify_providers}
    """, config=config)
    assert run.value[0] == "***"
    assert run.value[1:5] == ["gpt-4o-mini", ["openai"], True, 384]
    assert run.value[5] == "***"
    assert run.value[6] is False and "read-only" in run.value[7]
    assert run.value[8] is True and run.value[9] is False


def test_debug_messages_become_events_when_configured(lua):
    script = """
        local sub = Event.subscribe("debug.*")
        Debug.info("one", "mod")
        Logger.warn("two")
        local a = Event.receive(sub, 100)
        local b = Event.receive(sub, 100)
        return {a and a.data.message, b and b.data.message, b and b.data.level}
    """
    on = lua(script, config={"events": {"emit_debug_events": True}})
    assert on.value == ["one", "two", "WARN"]
    off = lua(script)
    assert off.value == {}
