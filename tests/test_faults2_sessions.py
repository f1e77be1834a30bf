"""Artifact content files and SIGKILL (real processes): a content file that was moved
into place for an artifact whose row never committed is removed when a store next
opens, so the content folder holds exactly the files that rows point at."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "sessions.toml"
    cfg.write_text("[runtime.sessions]\nenabled = true\nstorage_backend = \"sqlite\"\n"
                   f"path = \"{tmp_path / 'sessions.db'}\"\n")
    return cfg


def _start(tmp_path: Path, code: str, fault: str | None = None) -> subprocess.Popen[str]:
    script = tmp_path / "s.lua"
    script.write_text(code)
    env = os.environ.copy()
    if fault:
        env["LLMSPELL_FAULT_POINT"] = fault
    return subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(_config(tmp_path)),
                             "run", str(script)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# each artifact ~100 KB of distinct, incompressible content: one content file each
STORE_MANY = """
math.randomseed(tonumber(ARGS and ARGS[1]) or os.time())
local sid = Session.create({name = "many"})
for n = 1, 400 do
  local parts = {}
  for i = 1, 100000 do parts[i] = string.char(math.random(32, 126)) end
  Artifact.store(sid, "text", "a" .. n .. ".txt", table.concat(parts))
  io.stdout:write("stored " .. n .. "\\n") io.stdout:flush()
end
"""

REOPEN = "print(#Session.list())"


def content_files(tmp_path: Path) -> set[str]:
    folder = tmp_path / "sessions-artifacts"
    return {p.name for p in folder.glob("??/*") if not p.name.startswith(".")}


def file_rows(tmp_path: Path) -> set[str]:
    with sqlite3.connect(tmp_path / "sessions.db") as db:
        return {r[0] for r in db.execute("SELECT hash FROM blobs WHERE in_file = 1")}


def test_a_kill_between_the_content_file_and_its_row_leaves_no_orphan(tmp_path: Path) -> None:
    killed = _start(tmp_path, STORE_MANY, fault="sessions.put_blob.after_rename")
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, "the fault point was not reached"
    reopened = _start(tmp_path, REOPEN)
    out, err = reopened.communicate(timeout=60)
    assert reopened.returncode == 0, err
    assert content_files(tmp_path) == file_rows(tmp_path) == set()
    assert not list((tmp_path / "sessions-artifacts").glob(".freed-*"))


def test_random_kills_during_artifact_store_never_leave_orphans(tmp_path: Path) -> None:
    rng = random.Random(15)
    stored = 0
    for round_ in range(6):
        proc = _start(tmp_path, STORE_MANY.replace("ARGS and ARGS[1]", str(round_)))
        time.sleep(rng.uniform(0.6, 1.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        stored += out.count("stored ")
        reopened = _start(tmp_path, REOPEN)
        assert reopened.communicate(timeout=60)[0].split()[0] == str(round_ + 1)
        assert content_files(tmp_path) == file_rows(tmp_path)
    assert stored > 0
    assert len(file_rows(tmp_path)) >= stored  # every acknowledged store kept its content
