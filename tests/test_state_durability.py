"""Durability of the SQLite state file, tested with real processes.

- a writer SIGKILLed in the middle of 10,000 writes leaves a database that opens, passes
  PRAGMA integrity_check and holds every write acknowledged before the kill;
- two processes writing one file at once lose nothing and corrupt nothing;
- a file that is not ours (for sessions too) is refused and left byte-for-byte alone.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmspell import config as config_mod
from llmspell.errors import StateError
from llmspell.sessions.service import open_sessions


def write_config(tmp_path: Path, db: Path) -> Path:
    cfg = tmp_path / "state.toml"
    cfg.write_text(f'[runtime.state_persistence]\nbackend_type = "sqlite"\npath = "{db}"\n')
    return cfg


def llmspell(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "llmspell", *args]


def test_sigkill_mid_write_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    cfg = write_config(tmp_path, db)
    script = tmp_path / "writer.lua"
    script.write_text(
        "for i = 1, 10000 do\n"
        "  State.save('bench', 'k' .. i, {i = i, text = string.rep('x', 200)})\n"
        "  print(i)\n"
        "end\n")
    proc = subprocess.Popen(llmspell("-c", str(cfg), "run", str(script), cwd=tmp_path),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=os.environ.copy())
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        text = line.decode().strip()
        if text.isdigit():
            acked = int(text)
        if acked >= 500:
            break
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()  # type: ignore[union-attr]
    assert still_running, "the writer finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert 500 <= acked < 10000

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = dict(conn.execute("SELECT key, value FROM state"))
    conn.close()
    for i in range(1, acked + 1):
        assert json.loads(rows[f"bench:k{i}"]) == {"i": i, "text": "x" * 200}
    assert len(rows) < 10000  # it really was killed mid-way

    # and llmspell itself opens the file and carries on
    check = tmp_path / "check.lua"
    check.write_text("State.save('bench', 'after', true)\nreturn #State.list_keys('bench')")
    done = subprocess.run(llmspell("-c", str(cfg), "run", str(check), cwd=tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) == len(rows) + 1


def test_two_processes_share_one_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    cfg = write_config(tmp_path, db)
    procs = []
    for name, other in (("a", "b"), ("b", "a")):
        script = tmp_path / f"{name}.lua"
        script.write_text(
            # a barrier through the file itself, so the two really write at the same time
            f"State.save('ready', '{name}', true)\n"
            "local give_up = os.time() + 60\n"
            f"while State.load('ready', '{other}') == nil do\n"
            "  if os.time() > give_up then error('the other writer never started') end\n"
            "end\n"
            "for i = 1, 1000 do\n"
            f"  State.save('{name}', 'k' .. i, i)\n"
            f"  State.save('shared', 'k' .. i, '{name}')\n"
            "end\n")
        procs.append(subprocess.Popen(
            llmspell("-c", str(cfg), "run", str(script), cwd=tmp_path), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(proc, *proc.communicate(timeout=120)) for proc in procs]
    for proc, _, _ in results:
        assert proc.returncode == 0, "\n".join(e for _, _, e in results)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = dict(conn.execute("SELECT key, value FROM state"))
    spans = {name: conn.execute(
        "SELECT min(updated_at), max(updated_at) FROM state WHERE key >= ? AND key < ?",
        (f"{name}:", f"{name};")).fetchone() for name in ("a", "b")}
    conn.close()
    for name in ("a", "b"):
        assert all(rows[f"{name}:k{i}"] == str(i) for i in range(1, 1001))
    assert all(rows[f"shared:k{i}"] in ('"a"', '"b"') for i in range(1, 1001))
    assert len(rows) == 3002
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]  # they overlapped


def test_sessions_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    db.write_bytes(b"\x00\x01 not a database" * 100)
    before = db.read_bytes()
    cfg = {"runtime": {"sessions": {"storage_backend": "sqlite", "path": str(db)}}}
    with pytest.raises(StateError, match="not an llmspell database"):
        open_sessions(config_mod.from_dict(cfg, environ={}))
    assert db.read_bytes() == before
    assert not (tmp_path / "sessions-artifacts").exists()


def test_state_file_is_not_a_sessions_file(tmp_path: Path) -> None:
    from llmspell.state.sqlite_store import SQLiteStore

    db = tmp_path / "shared.db"
    SQLiteStore(db).close()
    cfg = {"runtime": {"sessions": {"storage_backend": "sqlite", "path": str(db)}}}
    with pytest.raises(StateError, match="holds llmspell state, not sessions"):
        open_sessions(config_mod.from_dict(cfg, environ={}))


def test_two_processes_store_artifacts_in_one_session(tmp_path: Path) -> None:
    from llmspell.sessions.service import SessionService
    from llmspell.sessions.store import SessionStore

    sessions_db = tmp_path / "sessions.db"
    setup = SessionService(SessionStore(sessions_db))
    sid = setup.create(name="shared")
    setup.close()
    cfg = write_config(tmp_path, tmp_path / "state.db")
    cfg.write_text(cfg.read_text() + "[runtime.sessions]\nenabled = true\n"
                   f'storage_backend = "sqlite"\npath = "{sessions_db}"\n')
    procs = []
    for name, other in (("a", "b"), ("b", "a")):
        script = tmp_path / f"{name}.lua"
        script.write_text(
            f"State.save('ready', '{name}', true)\n"
            "local give_up = os.time() + 60\n"
            f"while State.load('ready', '{other}') == nil do\n"
            "  if os.time() > give_up then error('the other writer never started') end\n"
            "end\n"
            "for i = 1, 150 do\n"
            f"  Artifact.store(ARGS[1], 'tool_result', '{name}-' .. i, '{name} ' .. i)\n"
            "end\n")
        procs.append(subprocess.Popen(
            llmspell("-c", str(cfg), "run", str(script), "--", sid, cwd=tmp_path),
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(proc, *proc.communicate(timeout=120)) for proc in procs]
    for proc, _, _ in results:
        assert proc.returncode == 0, "\n".join(e for _, _, e in results)
    check = SessionService(SessionStore(sessions_db))
    listed = check.list_artifacts(sid)
    assert sorted(m["artifact_id"]["sequence"] for m in listed) == list(range(1, 301))
    assert check.get(sid)["artifact_count"] == 300
    for m in listed:
        owner, number = m["name"].split("-")
        assert check.get_artifact(sid, m["artifact_id"])["content"] == f"{owner} {number}".encode()
    assert check.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_many_processes_opening_a_fresh_file_at_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    code = ("import sys; from llmspell.state.sqlite_store import SQLiteStore; "
            "s = SQLiteStore(sys.argv[1]); s.put('k:' + sys.argv[2], '1'); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(i)],
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(errors)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM state").fetchone()[0] == 8
    conn.close()
