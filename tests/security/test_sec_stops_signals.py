"""Stop means stop: Ctrl-C, time limits and close hooks end the run whatever runs.

Each attack runs a real ``llmspell run`` subprocess. A script first writes ``started`` to
stderr (written and flushed at once), then enters something that does not return on its
own: a C call (a backtracking ``string.find``), a finalizer loop, a jq program, a
``SystemShutdown`` hook, an ``xpcall`` whose message handler loops. Bounds are generous
(a loaded 2-core CI machine); the design target is 1 s.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A pattern that backtracks for minutes inside one C call (string.find).
BACKTRACK = ("string.find(string.rep('a', 30), "
             "string.rep('a?', 30) .. string.rep('a', 30) .. 'b')")
STARTED = "io.stderr:write('started\\n')\n"


def start(tmp_path: Path, body: str, *flags: str) -> subprocess.Popen[str]:
    (tmp_path / "attack.lua").write_text(body)
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "run", *flags, "attack.lua"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if line != "started\n":
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"script did not start: {line!r} {err!r}")
    return proc


def finish(proc: subprocess.Popen[str], within: float) -> tuple[int, str, float]:
    """Wait at most ``within`` seconds; the run must have ended by then."""
    began = time.monotonic()
    try:
        _, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the process was still running {within} s later")
    return proc.returncode, err, time.monotonic() - began


def interrupt(proc: subprocess.Popen[str], within: float = 3.0) -> tuple[int, str]:
    time.sleep(0.3)  # let the script get into its long call
    proc.send_signal(signal.SIGINT)
    code, err, _ = finish(proc, within)
    return code, err


def test_ctrl_c_during_a_backtracking_string_find(tmp_path: Path) -> None:
    proc = start(tmp_path, STARTED + BACKTRACK + "\nprint('finished')\n")
    code, err = interrupt(proc)
    assert code == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def test_ctrl_c_during_a_finalizer_loop(tmp_path: Path) -> None:
    # newproxy gives userdata a __gc that runs with hooks disabled; the finalizer loop
    # must not be able to start (or must be stopped), and Ctrl-C must end the run.
    body = (STARTED + "pcall(function()\n"
            "  local p = newproxy(true)\n"
            "  getmetatable(p).__gc = function() while true do end end\n"
            "  p = nil\n"
            "  collectgarbage() collectgarbage()\n"
            "end)\n"
            "while true do end\n")
    proc = start(tmp_path, body)
    code, _ = interrupt(proc)
    assert code == 130


# The jq binding holds the GIL for as long as the program runs, so no thread of ours can
# act until it returns: the CLI's reaper process ends llmspell (SIGKILL) instead. The
# tools' branch runs jq in a sandbox process (tools/isolated.py) while llmspell waits in
# Python; then Ctrl-C is handled normally (exit 130).
JQ_IN_PROCESS = not (Path(__file__).resolve().parents[2] / "llmspell/tools/isolated.py").exists()


def test_ctrl_c_during_a_long_jq_program(tmp_path: Path) -> None:
    body = (STARTED + "Tool.invoke('json_processor', {operation = 'query', "
            "input = {a = 1}, query = 'until(false; .)'})\nprint('finished')\n")
    proc = start(tmp_path, body)
    code, _ = interrupt(proc)
    assert code in ((130, -signal.SIGKILL) if JQ_IN_PROCESS else (130,))


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    # a shutdown hook that swallows every error keeps running Lua; two presses end it.
    body = (STARTED + "while true do pcall(function() " + BACKTRACK + " end) end\n")
    proc = start(tmp_path, body)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code, _, _ = finish(proc, 3.0)
    assert code in (130, -signal.SIGINT)


def test_shutdown_hook_stuck_in_a_c_call_is_stopped(tmp_path: Path) -> None:
    # SystemShutdown hooks get a grace period (5 s); one stuck in a C call is ended then.
    body = (STARTED + "Hook.register('SystemShutdown', function() " + BACKTRACK
            + " return 'continue' end)\nprint('done')\n")
    proc = start(tmp_path, body)
    code, err, _ = finish(proc, 12.0)
    assert code != 0
    assert "shutdown" in err.lower()


def test_ctrl_c_during_a_shutdown_hook(tmp_path: Path) -> None:
    body = (STARTED + "Hook.register('SystemShutdown', function() "
            "io.stderr:write('hook\\n') " + BACKTRACK + " return 'continue' end)\n")
    proc = start(tmp_path, body)
    assert proc.stderr is not None
    assert proc.stderr.readline() == "hook\n"
    code, _ = interrupt(proc)
    assert code == 130


def test_shutdown_hook_lua_loop_is_stopped_by_its_deadline(tmp_path: Path) -> None:
    # each stop raised inside the message handler used to become "error in error handling"
    body = (STARTED + "Hook.register('SystemShutdown', function()\n"
            "  while true do xpcall(error, function() while true do end end) end\n"
            "end)\n")
    proc = start(tmp_path, body)
    _, err, _ = finish(proc, 12.0)
    assert "shutdown" in err.lower()


def test_timeout_cannot_be_swallowed_by_a_looping_xpcall_handler(tmp_path: Path) -> None:
    # error -> handler loops -> the time limit fires inside the handler: "error in error
    # handling" must not turn the stop into an ordinary error that the script survives.
    body = (STARTED + "while true do\n"
            "  xpcall(function() error('x') end, function(e) while true do end end)\n"
            "  io.stderr:write('survived\\n')\n"
            "end\n")
    proc = start(tmp_path, body, "--timeout", "1")
    code, err, _ = finish(proc, 8.0)
    assert code == 1
    assert "timed out" in err
    assert "survived" not in err


def test_timeout_inside_an_erroring_xpcall_handler(tmp_path: Path) -> None:
    body = (STARTED + "local n = 0\n"
            "while true do\n"
            "  local ok, e = xpcall(function() error('x') end, function(e)\n"
            "    local t = os.clock() while os.clock() - t < 0.05 do end\n"
            "    error('handler failed')\n"
            "  end)\n"
            "  n = n + 1\n"
            "  if os.clock() > 1.5 then io.stderr:write('survived\\n') end\n"
            "end\n")
    proc = start(tmp_path, body, "--timeout", "1")
    code, err, _ = finish(proc, 8.0)
    assert code == 1
    assert "timed out" in err
    assert "survived" not in err


def test_timeout_during_a_c_call_with_a_result_still_ends(tmp_path: Path) -> None:
    # the watchdog: a single C call past the deadline ends the process.
    proc = start(tmp_path, STARTED + BACKTRACK + "\n", "--timeout", "1")
    code, err, _ = finish(proc, 8.0)
    assert code == 1
    assert "timed out" in err


# -- in-process checks (no watchdog: the stop must come from the sandbox itself) -------

def test_no_newproxy_and_file_metatable_locked(lua) -> None:
    run = lua("local f = io.tmpfile()\n"
              "return {type(newproxy), getmetatable(f), pcall(setmetatable, f, {})}",
              config={"runtime": {"security": {"allow_file_access": True}}})
    assert run.value[0] == "nil"
    assert run.value[1] == "file"
    assert run.value[2] is False


def test_debug_still_counts_collections(lua) -> None:
    run = lua("collectgarbage() collectgarbage()\nreturn Debug.memoryStats().collections")
    assert run.value >= 2


def test_xpcall_handler_cannot_swallow_the_time_limit(lua) -> None:
    from llmspell.errors import ScriptTimeout

    code = ("local survived = 0\n"
            "for i = 1, 40 do\n"
            "  xpcall(function() error('x') end, function(e) while true do end end)\n"
            "  survived = survived + 1\n"
            "end\n"
            "return survived")
    with pytest.raises(ScriptTimeout):
        lua(code, timeout=0.3)


def test_coroutine_cannot_swallow_the_time_limit(lua) -> None:
    from llmspell.errors import ScriptTimeout

    code = ("for i = 1, 40 do\n"
            "  local co = coroutine.create(function()\n"
            "    xpcall(function() error('x') end, function(e) while true do end end)\n"
            "  end)\n"
            "  coroutine.resume(co)\n"
            "end\n")
    with pytest.raises(ScriptTimeout):
        lua(code, timeout=0.3)


GIL_HOLDER = """
from llmspell import config
from llmspell.lua.runtime import Runtime
rt = Runtime(config.from_dict({}, environ={}), watchdog=True)
rt.lua.globals()[b"stuck"] = rt.function(lambda: sum(range(10**13)), "stuck")
print("ready", flush=True)
rt.run_source(b"stuck()", "x.lua")
"""


def test_ctrl_c_ends_a_native_call_that_holds_the_gil(tmp_path: Path) -> None:
    # no Python thread can run while a C loop holds the GIL: the spawned reaper process
    # (not a fork of llmspell) ends the process after REAPER_SECONDS
    proc = subprocess.Popen([sys.executable, "-c", GIL_HOLDER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert "llmspell did not respond; ended" in proc.stderr.read()
