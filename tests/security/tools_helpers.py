"""Shared helpers for the tools' attack tests (tests/security/test_sec_tools_*.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

SECRET_NAME = "MY_SERVICE_TOKEN"
SECRET_VALUE = "tok-4f9a1c2e7b3d5a6f"


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    max_rss_mb: float  # the llmspell process's own peak resident memory


def run_cli(script: str, tmp_path: Path, *args: str, config: str | None = None,
            timeout: float = 60, env: dict[str, str] | None = None) -> Finished:
    """Run ``llmspell [-c cfg] run ARGS attack.lua`` in ``tmp_path`` and wait for it.

    Reaped with ``wait4`` so the test can read the process's own peak memory. A run that
    outlives ``timeout`` is killed (code -9).
    """
    path = tmp_path / "attack.lua"
    path.write_text(script)
    cmd = [sys.executable, "-m", "llmspell"]
    if config is not None:
        cfg = tmp_path / "attack.toml"
        cfg.write_text(config)
        cmd += ["-c", str(cfg)]
    cmd += ["run", *args, str(path)]
    full_env = dict(os.environ)
    full_env.update(env or {})
    out_path, err_path = tmp_path / "attack.out", tmp_path / "attack.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=full_env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(proc.returncode, out_path.read_text(), err_path.read_text(),
                    usage.ru_maxrss / 1024)


def stopped(done: Finished) -> None:
    """The tool was stopped in time: the script went on (the call failed, it printed
    "after false") or the script ended with its own timeout; never the watchdog's last
    resort ("did not stop") nor a hang."""
    assert "did not stop" not in done.stderr, done.stderr
    assert done.code in (0, 1), (done.code, done.stderr)
    assert "after\tfalse" in done.stdout or "timed out" in done.stderr, done
