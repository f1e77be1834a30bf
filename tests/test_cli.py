"""The CLI through real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "cookbook-upstream" / "configs"
# Upstream-schema configs: our own fixtures, plus upstream's files when ../shared is present.
SCHEMA_CONFIGS = sorted((Path(__file__).parent / "fixtures" / "upstream-schema").glob("*.toml")) \
    + (sorted(UPSTREAM.glob("*.toml")) if UPSTREAM.is_dir() else [])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_prints_output_then_result(cli, tmp_path):
    write(tmp_path, "s.lua", "print('hello') return {b = 2, a = 1}")
    proc = cli("run", "s.lua")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == 'hello\n{"a":1,"b":2}\n'


def test_no_return_prints_null(cli, tmp_path):
    write(tmp_path, "s.lua", "print('x')")
    assert cli("run", "s.lua").stdout == "x\nnull\n"


def test_script_arguments(cli, tmp_path):
    # spec § 21.3: --name value; a --flag followed by another --x (or at the end) is "true";
    # bare words are positional; everything is a string; arg has the positional ones only.
    write(tmp_path, "a.lua", "return ARGS[1] .. '|' .. ARGS[2] .. '|' .. ARGS.name .. '|'"
                             " .. ARGS.flag .. '|' .. ARGS.last .. '|' .. #arg .. '|' .. arg[0]"
                             " .. '|' .. tostring(arg.name)")
    proc = cli("run", "a.lua", "--", "pos1", "--name", "value", "pos2", "--flag", "--last")
    assert proc.stdout.strip() == "pos1|pos2|value|true|true|2|a.lua|nil"


def test_output_json_and_pretty(cli, tmp_path):
    write(tmp_path, "s.lua", "print('line') return {x = 1}")
    proc = cli("--output", "json", "run", "s.lua")
    assert proc.stdout.endswith('{\n  "x": 1\n}\n')
    pretty = cli("--output", "pretty", "run", "s.lua").stdout
    assert "Console Output:\n  line\n" in pretty
    assert 'Output: {\n  "x": 1\n}' in pretty
    assert "Engine: lua" in pretty and "Execution time:" in pretty


def test_string_result_is_raw_in_text_and_quoted_in_json(cli):
    assert cli("exec", "return 'hi'").stdout == "hi\n"
    assert cli("--output", "json", "exec", "return 'hi'").stdout == '"hi"\n'


def test_runtime_error_exit_1_with_file_line(cli, tmp_path):
    write(tmp_path, "bad.lua", "local x = 1\nerror('broken here')\n")
    proc = cli("run", "bad.lua")
    assert proc.returncode == 1
    assert "bad.lua:2: broken here" in proc.stderr
    assert "stack traceback:" in proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr


def test_prints_before_error_remain_and_no_result(cli, tmp_path):
    write(tmp_path, "bad.lua", "print('before')\nerror('x')\n")
    proc = cli("run", "bad.lua")
    assert proc.stdout == "before\n"


def test_missing_script(cli):
    proc = cli("run", "nope.lua")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: Script file not found: nope.lua"


def test_syntax_error(cli, tmp_path):
    write(tmp_path, "syn.lua", "local = 3")
    proc = cli("run", "syn.lua")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: syn.lua:1:")
    assert proc.stderr.count("\n") == 1


def test_bad_config_type(cli, tmp_path):
    write(tmp_path, "c.toml", "[runtime]\nmax_concurrent_scripts = 'many'\n")
    write(tmp_path, "s.lua", "return 1")
    proc = cli("-c", "c.toml", "run", "s.lua")
    assert proc.returncode == 1
    assert "runtime.max_concurrent_scripts: expected an integer" in proc.stderr


def test_unknown_config_key_warns(cli, tmp_path):
    write(tmp_path, "c.toml", "[runtime]\nfancy = 1\n")
    write(tmp_path, "s.lua", "return 1")
    proc = cli("-c", "c.toml", "run", "s.lua")
    assert proc.returncode == 0
    assert "warning: c.toml: unknown config key 'runtime.fancy' (ignored)" in proc.stderr


def test_config_from_env_var(cli, tmp_path):
    write(tmp_path, "c.toml", "[runtime.security]\nallow_file_access = true\n")
    proc = cli("exec", "return Config.isFileAccessAllowed()",
               env={"LLMSPELL_CONFIG": str(tmp_path / "c.toml")})
    assert proc.stdout == "true\n"


def test_discovered_config_in_cwd(cli, tmp_path):
    write(tmp_path, "llmspell.toml", "[runtime.security]\nallow_file_access = true\n"
                                     "[events]\nbuffer_size = 7\n")
    proc = cli("exec", "return {Config.isFileAccessAllowed(), Config.get('events.buffer_size')}")
    # a config in the current folder keeps its settings but grants no rights (issue 10)
    assert json.loads(proc.stdout) == [False, 7]
    assert "grants no rights" in proc.stderr and "allow_file_access" in proc.stderr


@pytest.mark.parametrize("path", SCHEMA_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_validate_upstream_configs(cli, path):
    proc = cli("validate", "-c", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "Configuration is valid" in proc.stdout


def test_validate_bad(cli, tmp_path):
    write(tmp_path, "c.toml", "[rag]\nenabled = 'yes'\n")
    proc = cli("validate", "-c", "c.toml")
    assert proc.returncode == 1
    assert "rag.enabled: expected a boolean" in proc.stderr


def test_info(cli):
    proc = cli("info", "--all")
    assert proc.returncode == 0
    assert "LuaJIT 2.1" in proc.stdout
    assert "data_dir:" in proc.stdout


def test_init_writes_and_refuses_overwrite(cli, tmp_path):
    assert cli("init").returncode == 0
    text = (tmp_path / "llmspell.toml").read_text()
    assert "[runtime.security]" in text
    again = cli("init")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert cli("init", "--force").returncode == 0
    assert cli("validate", "-c", "llmspell.toml").returncode == 0


def test_providers_lists_config(cli, tmp_path):
    write(tmp_path, "c.toml", "[providers.openai]\nprovider_type = 'openai'\n"
                              "api_key_env = 'MY_KEY'\nmodel = 'gpt-4o-mini'\n")
    proc = cli("-c", "c.toml", "--output", "json", "providers")
    rows = json.loads(proc.stdout)
    assert rows[0]["name"] == "openai"
    assert rows[0]["model"] == "gpt-4o-mini"


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("llmspell 0.")
    for command in ("run", "exec", "validate", "info", "init", "providers"):
        proc = cli(command, "--help")
        assert proc.returncode == 0, command
        assert "Usage" in proc.stdout


def test_bad_flag_exit_2(cli):
    assert cli("run", "--nope", "x.lua").returncode == 2


def test_unknown_engine(cli):
    proc = cli("--engine", "javascript", "exec", "return 1")
    assert proc.returncode == 1
    assert "not available" in proc.stderr


def test_timeout_flag(cli):
    proc = cli("exec", "--timeout", "0.3", "while true do end")
    assert proc.returncode == 1
    assert "timed out" in proc.stderr


def test_os_exit_code_and_flush(cli):
    proc = cli("exec", "io.write('partial') print(' line') os.exit(7)")
    assert proc.returncode == 7
    assert proc.stdout == "partial line\n"


def test_ctrl_c_stops_tight_loop(tmp_path, isolated_home):
    (tmp_path / "loop.lua").write_text("print('started')\nwhile true do end\n")
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "run", "loop.lua"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def test_rag_backend_flag_validation(cli):
    proc = cli("exec", "--rag-backend", "faiss", "return 1")
    assert proc.returncode == 1
    assert "Unknown RAG backend: faiss: use 'hnsw' or 'postgres'" in proc.stderr


def test_startup_imports_stay_light(tmp_path, isolated_home):
    (tmp_path / "h.lua").write_text("print(JSON.stringify({a = 1}))")
    code = ("import sys, runpy; sys.argv = ['llmspell', 'run', 'h.lua'];\n"
            "try:\n    runpy.run_module('llmspell', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('httpx', 'numpy', 'hnswlib', 'rich') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_watchdog_ends_a_script_stuck_in_one_c_call(cli):
    # A pathological pattern keeps LuaJIT inside string.find: the count hook never runs.
    code = ('print(string.find(string.rep("a", 28), string.rep("a?", 28) .. '
            'string.rep("a", 28) .. "b"))')
    proc = cli("exec", "--timeout", "0.3", code, timeout=30)
    assert proc.returncode == 1
    assert "timed out after 300 ms and did not stop" in proc.stderr
