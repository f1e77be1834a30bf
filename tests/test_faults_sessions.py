"""Sessions survive a process killed in the middle of a delete (real SIGKILL).

A delete is one SQLite transaction; the artifact content files that it frees are removed
only after the commit. A kill before the commit leaves the session and every artifact
readable; a kill after it leaves no rows, and the orphaned content files are collected
the next time the store is opened.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
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


CHURN = """
math.randomseed(tonumber(ARGS[1]))
local blocks = {}
for b = 1, 4 do  -- four distinct big contents, shared between sessions (deduplicated)
  local parts = {}
  for i = 1, 100000 do parts[i] = string.char(math.random(32, 126)) end
  blocks[b] = table.concat(parts)
end
local previous
for i = 1, 100000 do
  local sid = Session.create({name = "s" .. i})
  local a = Artifact.store(sid, "text", "big", blocks[i % 4 + 1])
  Artifact.store(sid, "text", "other", blocks[(i + 1) % 4 + 1])
  if previous then
    if i % 2 == 0 then Session.delete(previous)
    else Artifact.delete(previous, Artifact.list(previous)[1].artifact_id) end
  end
  previous = sid
  print(i)
end
"""

CHECK = """
local bad, n = 0, 0
for _, s in ipairs(Session.list()) do
  for _, meta in ipairs(Artifact.list(s.id)) do
    n = n + 1
    local ok, got = pcall(Artifact.get, s.id, meta.artifact_id)
    if not ok or #got.content ~= 100000 then bad = bad + 1 end
  end
end
print(n, bad)
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_kills_during_stores_and_deletes_lose_no_content(tmp_path: Path,
                                                                seed: int) -> None:
    script = tmp_path / "churn.lua"
    script.write_text(CHURN)
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(_config(tmp_path)),
                             "run", str(script), "--", str(seed)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    target = 5 + seed * 7
    for line in proc.stdout:
        if line.strip().isdigit() and int(line) >= target:
            break
    time.sleep(random.Random(seed).uniform(0.0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()  # type: ignore[union-attr]
    check = _run(tmp_path, CHECK)
    assert check.returncode == 0, check.stderr
    count, bad = check.stdout.split()[:2]
    assert int(count) > 0 and bad == "0", check.stdout
