"""`llmspell backup ...` against a real SQLite state file."""

from __future__ import annotations

import json
from pathlib import Path


def setup(tmp_path: Path) -> None:
    (tmp_path / "llmspell.toml").write_text(
        "[runtime.state_persistence]\n"
        'backend_type = "sqlite"\n'
        f'path = "{tmp_path / "state.db"}"\n'
        "[runtime.state_persistence.backup]\n"
        f'backup_dir = "{tmp_path / "backups"}"\n'
        "max_backups = 2\n")


def lua(cli, tmp_path: Path, code: str) -> str:
    (tmp_path / "s.lua").write_text(code)
    proc = cli("run", "s.lua")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_backup_round_trip(cli, tmp_path: Path) -> None:
    setup(tmp_path)
    lua(cli, tmp_path, 'State.set("a", 1) State.set("b", "two")')
    made = cli("--output", "json", "backup", "create", "-d", "before change")
    assert made.returncode == 0, made.stderr
    full = json.loads(made.stdout)
    assert full["success"] and full["key_count"] == 2

    lua(cli, tmp_path, 'State.set("a", 100) State.set("c", true)')
    inc = cli("backup", "create", "--incremental")
    assert inc.returncode == 0 and "Created incremental backup" in inc.stdout

    listed = cli("backup", "list", "-v")
    assert listed.returncode == 0
    assert full["backup_id"] in listed.stdout and "before change" in listed.stdout
    assert "parent: " + full["backup_id"] in listed.stdout

    ok = cli("backup", "validate", full["backup_id"])
    assert ok.returncode == 0 and "is valid" in ok.stdout
    info = cli("backup", "info", full["backup_id"])
    assert "description: before change" in info.stdout and "format_version: 1" in info.stdout

    dry = cli("backup", "restore", full["backup_id"], "--dry-run")
    assert "Would restore 2 keys" in dry.stdout
    assert lua(cli, tmp_path, 'return State.get("a")') == "100"
    done = cli("backup", "restore", full["backup_id"])
    assert done.returncode == 0 and "Restored 2 keys" in done.stdout
    assert lua(cli, tmp_path, 'return {State.get("a"), State.get("c") == nil}') == "[1,true]"

    for _ in range(2):
        assert cli("backup", "create").returncode == 0
    cleaned = cli("--output", "json", "backup", "cleanup")
    result = json.loads(cleaned.stdout)
    assert result["deleted_count"] == 2 and result["retained_count"] == 2
    assert full["backup_id"] in result["deleted"]


def test_backup_errors(cli, tmp_path: Path) -> None:
    memory = cli("backup", "create")
    assert memory.returncode == 1 and "backend_type = \"sqlite\"" in memory.stderr
    setup(tmp_path)
    missing = cli("backup", "restore", "backup_nope")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert cli("backup", "create").returncode == 0
    (bid,) = [p.name.split(".")[0] for p in (tmp_path / "backups").iterdir()]
    path = next((tmp_path / "backups").iterdir())
    path.write_bytes(b"garbage")
    bad = cli("backup", "validate", bid)
    assert bad.returncode == 1 and "NOT valid" in bad.stdout
    assert "INVALID" in cli("backup", "list").stdout
