"""Healthy state and session databases on a read-only mount get a true error.

SQLite cannot open a WAL database on a read-only file system; that used to be reported
as "corrupt ... move the file away", which invites deleting good data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from faults_support import fill, remount_read_only, tmpfs


def _run(cfg: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = cfg.parent / "s.lua"
    script.write_text(code)
    return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                           str(script)], cwd=cfg.parent, capture_output=True, text=True,
                          timeout=60)


def test_read_only_mount_is_not_called_corrupt(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        cfg = tmp_path / "cfg.toml"
        cfg.write_text("[runtime.state_persistence]\nbackend_type = \"sqlite\"\n"
                       f"path = \"{disk / 'state.db'}\"\n"
                       "[runtime.sessions]\nenabled = true\nstorage_backend = \"sqlite\"\n"
                       f"path = \"{disk / 'sessions.db'}\"\n")
        made = _run(cfg, "State.save('global', 'k', 42) Session.create({name = 'x'})")
        assert made.returncode == 0, made.stderr
        remount_read_only(disk)
        for code, name in (("local a = 1\nprint(State.load('global', 'k'))", "state.db"),
                           ("local a = 1\nprint(#Session.list())", "sessions.db")):
            done = _run(cfg, code)
            assert done.returncode == 1
            first = done.stderr.splitlines()[0]
            assert "corrupt" not in first and "move the file away" not in first, first
            assert str(disk / name) in first and "read-only" in first, first
            assert "s.lua:2:" in first, first


def test_a_really_corrupt_file_is_still_called_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f"[runtime.state_persistence]\nbackend_type = \"sqlite\"\npath = \"{db}\"\n")
    assert _run(cfg, "State.save('global', 'k', 1)").returncode == 0
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # the schema page
    db.write_bytes(bytes(data))
    for extra in ("-wal", "-shm"):
        (tmp_path / f"state.db{extra}").unlink(missing_ok=True)
    done = _run(cfg, "print(State.load('global', 'k'))")
    assert done.returncode == 1
    assert "corrupt" in done.stderr and str(db) in done.stderr, done.stderr


def test_full_disk_is_named_and_keeps_earlier_data(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        cfg = tmp_path / "cfg.toml"
        cfg.write_text("[runtime.state_persistence]\nbackend_type = \"sqlite\"\n"
                       f"path = \"{disk / 'state.db'}\"\n"
                       "[runtime.sessions]\nenabled = true\nstorage_backend = \"sqlite\"\n"
                       f"path = \"{disk / 'sessions.db'}\"\n")
        made = _run(cfg, "State.save('global', 'k', 42)\n"
                         "local sid = Session.create({name = 'x'})\n"
                         "Artifact.store(sid, 'text', 'a', 'first')\nprint(sid)")
        assert made.returncode == 0, made.stderr
        sid = made.stdout.split()[0]
        # open both stores first, then fill the disk from the script's own process
        code = (f"local sid = '{sid}'\nprint(State.load('global', 'k'))\n"
                "print(#Artifact.list(sid))\n"
                "local parts = {}\n"
                "for i = 1, 150000 do parts[i] = string.char(math.random(32, 126)) end\n"
                "io.read()\n"
                "local ok, err = pcall(Artifact.store, sid, 'text', 'b', table.concat(parts))\n"
                "print(ok, err)\n"
                "print(Artifact.get(sid, Artifact.list(sid)[1].artifact_id).content)\n")
        script = cfg.parent / "full.lua"
        script.write_text(code)
        proc = subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                                 str(script)], cwd=tmp_path, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "42"
        assert proc.stdout.readline().strip() == "1"
        filler = fill(disk)
        out, err = proc.communicate("go\n", timeout=60)
        filler.unlink()
        assert proc.returncode == 0, err
        assert "false" in out and "disk" in out and "full" in out, out
        assert "Traceback" not in err
        assert out.splitlines()[-2] == "first"
