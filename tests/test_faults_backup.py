"""`llmspell backup` and State backups under faults: damaged archives, killed writers,
full and read-only folders. Real processes, real files, real small tmpfs mounts."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from faults_support import fill, remount_read_only, tmpfs


def _setup(tmp_path: Path, backups: Path) -> Path:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[runtime.state_persistence]\nbackend_type = \"sqlite\"\n"
                   f"path = \"{tmp_path / 'state.db'}\"\n"
                   "[runtime.state_persistence.backup]\n"
                   f"backup_dir = \"{backups}\"\nmax_backups = 5\n")
    return cfg


def _cli(cfg: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    if fault:
        env["LLMSPELL_FAULT_POINT"] = fault
    return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), *args],
                          cwd=cfg.parent, env=env, capture_output=True, text=True, timeout=60)


def _lua(cfg: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = cfg.parent / "s.lua"
    script.write_text(code)
    return _cli(cfg, "run", str(script))


def _no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr, done.stderr


def _make_backups(cfg: Path, n: int) -> list[str]:
    assert _lua(cfg, "State.save('global', 'a', 1) State.save('global', 'b', 'two')"
                ).returncode == 0
    ids = []
    for _ in range(n):
        made = _cli(cfg, "--output", "json", "backup", "create")
        assert made.returncode == 0, made.stderr
        ids.append(json.loads(made.stdout)["backup_id"])
    return ids


def test_a_damaged_archive_spoils_only_itself(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    cfg = _setup(tmp_path, backups)
    good, bad_gzip, bad_count = _make_backups(cfg, 3)
    # a gzip header with a damaged body
    gz = backups / f"{bad_gzip}.backup.json.gz"
    raw = bytearray(gz.read_bytes())
    raw[12:40] = b"\x00" * 28
    gz.write_bytes(bytes(raw))
    # a readable archive whose key_count is not a number
    path = backups / f"{bad_count}.backup.json.gz"
    doc = json.loads(gzip.decompress(path.read_bytes()))
    doc["key_count"] = "many"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))

    listed = _cli(cfg, "backup", "list")
    _no_traceback(listed)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert any(good in line and "INVALID" not in line for line in lines)
    assert any(bad_gzip in line and "INVALID" in line for line in lines)
    assert any(bad_count in line and "INVALID" in line and "key_count" in line
               for line in lines)
    for bad in (bad_gzip, bad_count):
        checked = _cli(cfg, "backup", "validate", bad)
        _no_traceback(checked)
        assert checked.returncode == 1 and "NOT valid" in checked.stdout
        shown = _cli(cfg, "backup", "info", bad)
        _no_traceback(shown)
        assert shown.returncode == 1 and bad in shown.stderr
    assert _cli(cfg, "backup", "validate", good).returncode == 0
    for args in (("backup", "cleanup"), ("backup", "create", "-i")):
        done = _cli(cfg, *args)
        _no_traceback(done)
        assert done.returncode == 0, done.stderr
    in_lua = _lua(cfg, "local n = 0 for _, b in ipairs(State.list_backups()) do "
                       "if b.error then n = n + 1 end end print(n)")
    assert in_lua.returncode == 0, in_lua.stderr
    assert in_lua.stdout.split()[0] == "2"


def test_a_killed_backup_leaves_nothing_behind(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    cfg = _setup(tmp_path, backups)
    (first,) = _make_backups(cfg, 1)
    killed = _cli(cfg, "backup", "create", fault="backup.before_rename")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p for p in backups.iterdir() if p.name.startswith(".tmp-")], \
        "the kill should have left a temp file"
    listed = _cli(cfg, "backup", "list")
    assert listed.returncode == 0 and "INVALID" not in listed.stdout
    assert first in listed.stdout
    cleaned = _cli(cfg, "backup", "cleanup")
    assert cleaned.returncode == 0, cleaned.stderr
    assert [p.name for p in backups.iterdir()] == [f"{first}.backup.json.gz"]


def test_backup_to_a_full_folder_is_a_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        cfg = _setup(tmp_path, disk / "backups")
        (first,) = _make_backups(cfg, 1)
        filler = fill(disk)
        done = _cli(cfg, "backup", "create")
        _no_traceback(done)
        assert done.returncode == 1
        assert "disk" in done.stderr and "full" in done.stderr, done.stderr
        assert str(disk / "backups") in done.stderr
        assert [p.name for p in (disk / "backups").iterdir()] == [f"{first}.backup.json.gz"]
        filler.unlink()


def test_backup_to_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        cfg = _setup(tmp_path, disk / "backups")
        _make_backups(cfg, 1)
        remount_read_only(disk)
        done = _cli(cfg, "backup", "create")
        _no_traceback(done)
        assert done.returncode == 1
        assert "read-only" in done.stderr and str(disk / "backups") in done.stderr
        listed = _cli(cfg, "backup", "list")
        assert listed.returncode == 0, listed.stderr
        in_lua = _lua(cfg, "local ok, err = pcall(State.create_backup) print(ok, err)")
        assert in_lua.returncode == 0, in_lua.stderr
        assert "false" in in_lua.stdout and "read-only" in in_lua.stdout
