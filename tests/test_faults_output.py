"""A script's printed lines reach a pipe at once: a killed script has lost none of them."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _lines_before_kill(tmp_path: Path, code: str, want: int, until: bytes = b"") -> list[str]:
    script = tmp_path / "s.lua"
    script.write_text(code)
    # as users run it: Python's own stdout buffering on (no PYTHONUNBUFFERED)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "run", str(script)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    got = b""
    deadline = time.monotonic() + 30
    try:
        while ((got.count(b"\n") < want or until not in got)
               and time.monotonic() < deadline):
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                got += chunk
        assert proc.poll() is None, "the script ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()  # type: ignore[union-attr]
    return got.decode().splitlines()


SPIN = "local t = os.clock() while os.clock() - t < 60 do end\n"


@pytest.mark.parametrize("flush", ["", "io.stdout:flush()", "io.flush()"])
def test_printed_lines_arrive_before_a_kill(tmp_path: Path, flush: str) -> None:
    code = "for i = 1, 3 do print('line ' .. i) end\n" + flush + "\n" + SPIN
    assert _lines_before_kill(tmp_path, code, 3) == ["line 1", "line 2", "line 3"]


def test_io_write_without_newline_arrives_too(tmp_path: Path) -> None:
    code = "io.write('progress: 50%\\n') io.stdout:write('partial') io.stdout:flush()\n" + SPIN
    assert _lines_before_kill(tmp_path, code, 1, b"partial") == ["progress: 50%", "partial"]
