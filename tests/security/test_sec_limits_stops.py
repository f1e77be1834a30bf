"""Every value crossing the Lua/Python boundary is bounded, and a memory error inside a
callback becomes a Lua error (never a deadlock or a crash).

The attacks run as real ``llmspell run`` subprocesses (a deadlock or a 500 MB expansion
must not take the test runner with it); peak memory is read from ``wait4``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# 20 levels, each table holding the previous one twice: 2^20 leaves from 21 tables.
DAG = "local t = {'leaf'}\nfor i = 1, 20 do t = {t, t} end\n"
# Generous: a bare `llmspell run` is ~60 MB resident; the unbounded expansions reach 300+ MB.
MAX_RSS_KB = 220_000


def run(tmp_path: Path, body: str, *flags: str, within: float = 20.0,
        env: dict[str, str] | None = None) -> tuple[int, str, str, float, int]:
    """Run a script; return (exit code, stdout, stderr, seconds, peak RSS in KB)."""
    (tmp_path / "attack.lua").write_text(body)
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    began = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "llmspell", "run", *flags, "attack.lua"],
                                cwd=tmp_path, stdout=out, stderr=err,
                                env={**os.environ, **(env or {})})
        deadline = began + within
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"still running after {within} s (deadlock or unbounded work): "
                            f"{err_path.read_text()[-500:]!r}")
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, out_path.read_text(), err_path.read_text(),
            time.monotonic() - began, usage.ru_maxrss)


def test_shared_subtables_as_tool_params_fail_fast(tmp_path: Path) -> None:
    body = DAG + "Tool.invoke('json_processor', {operation = 'query', input = t, query = '.'})\n"
    code, _, err, seconds, rss = run(tmp_path, body, "--timeout", "30")
    assert code == 1
    assert "Tool.invoke: value too large to convert" in err
    assert "Traceback" not in err
    assert seconds < 10
    assert rss < MAX_RSS_KB


def test_shared_subtables_as_return_value_fail_fast(tmp_path: Path) -> None:
    code, out, err, seconds, rss = run(tmp_path, DAG + "return t\n", "--timeout", "30")
    assert code == 1
    assert "too large to convert" in err
    assert "leaf" not in out
    assert seconds < 10
    assert rss < MAX_RSS_KB


def test_error_is_catchable_by_pcall(tmp_path: Path) -> None:
    body = (DAG + "local ok, e = pcall(Tool.invoke, 'json_processor', "
            "{operation = 'query', input = t, query = '.'})\n"
            "print(ok, type(e), e)\n")
    code, out, err, _, _ = run(tmp_path, body, "--timeout", "30")
    assert code == 0, err
    assert out.startswith("false\tstring\tTool.invoke: value too large to convert")


def test_one_string_repeated_counts_every_time(tmp_path: Path) -> None:
    # 1 MB of Lua memory, 100 MB once expanded: the byte budget counts each use, nested
    # or as fields of the params record itself.
    body = ("local s = string.rep('x', 1000000)\nlocal t = {}\n"
            "for i = 1, 100 do t[i] = s end\n"
            "local ok, e = pcall(Tool.invoke, 'json_processor', "
            "{operation = 'query', input = t, query = 'length'})\n"
            "print(ok, e)\n"
            "local params = {operation = 'query', query = 'length'}\n"
            "for i = 1, 100 do params['k' .. i] = s end\n"
            "print(pcall(Tool.invoke, 'json_processor', params))\n")
    code, out, err, _, rss = run(tmp_path, body, "--timeout", "30")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("false\tTool.invoke: value too large to convert")
    assert lines[1].startswith("false\tTool.invoke: value too large to convert")
    assert rss < MAX_RSS_KB


def test_one_subtable_under_many_keys_counts_every_time(tmp_path: Path) -> None:
    # a flat record whose every field is the same 16-level DAG: one budget for the call
    body = ("local t = {'leaf'}\nfor i = 1, 16 do t = {t, t} end\n"
            "local params = {operation = 'query', query = 'length'}\n"
            "for i = 1, 64 do params['k' .. i] = t end\n"
            "local ok, e = pcall(Tool.invoke, 'json_processor', params)\n"
            "print(ok, e)\n")
    code, out, err, seconds, rss = run(tmp_path, body, "--timeout", "30")
    assert code == 0, err
    assert out.startswith("false\tTool.invoke: value too large to convert")
    assert rss < MAX_RSS_KB


def test_tool_result_larger_than_the_heap(tmp_path: Path) -> None:
    # The tool builds 15 MB from 1 MB of input (under text_manipulator's own 16 MiB cap);
    # pushing a result that does not fit the Lua heap from inside the callback used to
    # deadlock the process (no timeout, no Ctrl-C). First seen as 45 MB into 50 MB.
    body = ("local s = string.rep('x', 1000000)\n"
            "local ok, e = pcall(Tool.invoke, 'text_manipulator', {operation = 'replace', "
            "input = s, options = {from = 'x', to = string.rep('y', 15)}})\n"
            "print(ok, type(e))\nprint(e)\nprint('still running')\n")
    code, out, err, seconds, _ = run(tmp_path, body, "--timeout", "20",
                                     env={"LLMSPELL_MAX_MEMORY_BYTES": "16000000"})
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "false\tstring"
    assert "memory" in lines[1]
    assert "still running" in lines
    assert seconds < 15


@pytest.mark.parametrize("free", [3, 100])
def test_callbacks_with_a_full_heap_do_not_deadlock(tmp_path: Path, free: int) -> None:
    # fill the heap to the brim, free a few small tables, then call back into Python:
    # the results pushed from inside the callback used to fail there and deadlock.
    body = ("local results = {}\nfor i = 1, 40 do results[i] = false end\n"
            "local hold = {}\n"
            "pcall(function() while true do hold[#hold + 1] = {1, 2, 3, 4} end end)\n"
            f"for k = 1, {free} do hold[#hold] = nil end\n"
            "collectgarbage()\n"
            "for i = 1, 40 do\n"
            "  results[i] = pcall(Tool.invoke, 'uuid_generator', {operation = 'generate'})\n"
            "end\n"
            "hold = nil\ncollectgarbage()\n"
            "print('still running')\n")
    code, out, err, _, _ = run(tmp_path, body, "--timeout", "20",
                               env={"LLMSPELL_MAX_MEMORY_BYTES": "20000000"})
    assert (code, out) == (0, "still running\n") or (code == 1 and "memory limit" in err)
    assert "Traceback" not in err
