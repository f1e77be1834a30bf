"""Sessions survive a process killed in the middle of a delete (real SIGKILL).

A delete is one SQLite transaction; the artifact content files that it frees are removed
only after the commit. A kill before the commit leaves the session and every artifact
readable; a kill after it leaves no rows, and the orphaned content files are collected
the next time the store is opened.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmspell.sessions.store import SessionStore


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "sessions.toml"
    cfg.write_text("[runtime.sessions]\nenabled = true\nstorage_backend = \"sqlite\"\n"
                   f"path = \"{tmp_path / 'sessions.db'}\"\n")
    return cfg


def _run(tmp_path: Path, code: str, fault: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "s.lua"
    script.write_text(code)
    env = os.environ.copy()
    if fault:
        env["LLMSPELL_FAULT_POINT"] = fault
    return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(_config(tmp_path)),
                           "run", str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)


# ~150 KB of content that does not compress below the inline limit: stored as a file
MAKE = """
math.randomseed(7)
local parts = {}
for i = 1, 150000 do parts[i] = string.char(math.random(32, 126)) end
local content = table.concat(parts)
local sid = Session.create({name = "keep"})
local a = Artifact.store(sid, "text", "big.txt", content)
Artifact.store(sid, "text", "small.txt", "tiny")
print(sid)
print(a.sequence)
print(#content)
"""

READ = """
local sid = ARGS[1]
local out = {}
for _, meta in ipairs(Artifact.list(sid)) do
  local got = Artifact.get(sid, meta.artifact_id)
  out[#out + 1] = meta.name .. "=" .. #got.content
end
table.sort(out)
print(table.concat(out, ","))
"""


def _blob_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "sessions-artifacts"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("action", ["delete_session", "delete_artifact"])
def test_kill_before_commit_keeps_every_artifact(tmp_path: Path, action: str) -> None:
    made = _run(tmp_path, MAKE)
    assert made.returncode == 0, made.stderr
    sid, seq, size = made.stdout.split()[:3]
    assert any(not p.name.startswith(".") for p in _blob_files(tmp_path)), \
        "the big artifact should live in a content file"
    if action == "delete_session":
        code, fault = f"Session.delete('{sid}')", "sessions.delete.before_commit"
    else:
        code = f"Artifact.delete('{sid}', {{session_id = '{sid}', sequence = {seq}}})"
        fault = "sessions.delete_artifact.before_commit"
    killed = _run(tmp_path, code, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    read = _run(tmp_path, READ.replace("ARGS[1]", f"'{sid}'"))
    assert read.returncode == 0, read.stderr
    assert read.stdout.split()[0] == f"big.txt={size},small.txt=4"


def test_kill_after_commit_leaves_no_orphans(tmp_path: Path) -> None:
    made = _run(tmp_path, MAKE)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.split()[0]
    killed = _run(tmp_path, f"Session.delete('{sid}')", "sessions.delete.after_commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = _run(tmp_path, f"local ok = pcall(Session.load, '{sid}') print(ok)")
    assert after.returncode == 0, after.stderr
    # the session is gone and opening the store collected its content file
    assert [p for p in _blob_files(tmp_path)] == []


def test_trash_left_by_an_older_version_is_restored(tmp_path: Path) -> None:
    """Files an earlier llmspell renamed aside before a crash come back on open."""
    made = _run(tmp_path, MAKE)
    assert made.returncode == 0, made.stderr
    sid, _seq, size = made.stdout.split()[:3]
    (content,) = [p for p in _blob_files(tmp_path) if not p.name.startswith(".")]
    content.rename(content.with_name(f".trash-{content.name}-12345"))
    store = SessionStore(tmp_path / "sessions.db")
    store.close()
    assert content.is_file()
    read = _run(tmp_path, READ.replace("ARGS[1]", f"'{sid}'"))
    assert read.stdout.split()[0] == f"big.txt={size},small.txt=4", read.stderr
