"""json_processor's jq: no environment, no modules, bounded memory and time, stoppable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from lua_text import lua_fmt
from tools_helpers import SECRET_NAME, SECRET_VALUE, run_cli


def jq(lua, query: str, value: str = "{}") -> tuple[bool, str]:
    run = lua(f"""
        local ok, r = pcall(Tool.invoke, "json_processor",
                            {{operation = "query", input = {value}, query = {query!r}}})
        if not ok then return {{false, tostring(r)}} end
        return {{true, r.text or JSON.stringify(r.result)}}
    """)
    return run.value[0], run.value[1]


def test_env_and_dollar_env_are_empty(lua, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    monkeypatch.setenv("PLAIN_SETTING", "visible-elsewhere")
    for query in (f"$ENV.{SECRET_NAME}", f"env.{SECRET_NAME}", "$ENV", "env",
                  "[$ENV | keys[]]", "def f: $ENV; f | length"):
        ok, text = jq(lua, query)
        assert ok, text
        assert SECRET_VALUE not in text and "visible-elsewhere" not in text, (query, text)
    assert jq(lua, "[$ENV, env]") == (True, "[\n  {},\n  {}\n]")


def test_import_and_include_are_refused(lua, tmp_path):
    (tmp_path / "m.jq").write_text('def secret: "from-a-module-file";')
    (tmp_path / "d.json").write_text('{"stolen": "from-a-data-file"}')
    where = str(tmp_path)
    for query in (lua_fmt('import "m" as m {search: "${where}"}; m::secret', where=where),
                  lua_fmt('include "m" {search: "${where}"}; secret', where=where),
                  lua_fmt('import "d" as $d {search: "${where}"}; $d', where=where),
                  lua_fmt('# a comment \\\nimport "d" as $d {search: "${where}"}; $d', where=where),
                  '"m" | modulemeta', "get_search_list"):
        ok, text = jq(lua, query)
        assert not ok, (query, text)
        assert "from-a-" not in text
        assert "json_processor" in text or "not available" in text, text


def test_words_inside_strings_are_data(lua):
    ok, text = jq(lua, '[.[] | select(. == "import" or . == "env")]',
                  '{"import", "env", "other"}')
    assert ok and "import" in text and "env" in text and "other" not in text


def test_range_bomb_is_refused_without_allocating(tmp_path):
    done = run_cli("""
        local ok, err = pcall(Tool.invoke, "json_processor",
                              {operation = "query", input = {}, query = "[range(1e7)]"})
        print(ok, err)
        local ok2, err2 = pcall(Tool.invoke, "json_processor", {operation = "query",
                                input = {}, query = "[range(3e6)] | tostring"})
        print(ok2, err2)
    """, tmp_path)
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("false") and ("memory" in lines[0] or "limit" in lines[0])
    assert lines[1].startswith("false")
    assert done.max_rss_mb < 250, done.max_rss_mb


def test_never_yielding_program_honours_the_script_timeout(tmp_path):
    done = run_cli("""
        local ok = pcall(Tool.invoke, "json_processor", {operation = "query", input = {},
                                                         query = "until(false; .)"})
        print("still running", ok)
    """, tmp_path, "--timeout", "2", timeout=40)
    assert "did not stop" not in done.stderr, done.stderr
    assert done.code in (0, 1), (done.code, done.stderr)
    assert "still running\tfalse" in done.stdout or "timed out" in done.stderr, done


def test_ctrl_c_stops_a_running_jq_program(tmp_path):
    script = tmp_path / "spin.lua"
    script.write_text("""
        print("started"); io.stdout:flush()
        Tool.invoke("json_processor", {operation = "query", input = {},
                                       query = "until(false; .)"})
    """)
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "run", str(script)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(0.5)  # let the jq program start
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("one Ctrl-C did not stop a running jq program") from None
    assert code == 130
