"""State format migrations: a version-1 file brought to version 2 (State.migrate & co)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from stores import open_store

from llmspell.state import migrations
from llmspell.state.service import StateService
from llmspell.state.sqlite import open_database
from llmspell.state.sqlite_store import (
    COMPRESS_ABOVE,
    STATE_FORMAT_VERSION,
    STATE_SCHEMA_V1,
    SQLiteStore,
)

BIG = {"text": "lorem ipsum " * 1000, "n": list(range(50))}  # compressible, > 4 KiB
VALUES: dict[str, Any] = {
    "global:small": {"a": 1, "b": [True, None, 2.5], "s": "héllo"},
    "global:big": BIG,
    "user:1:name": "Ada",
    "workflow:w:step": [1, 2, 3],
}


def make_v1_file(path: Path, values: dict[str, Any] = VALUES) -> None:
    """A state file as llmspell's format 1 wrote it (JSON text in a TEXT column)."""
    conn = open_database(path, "state", 1, STATE_SCHEMA_V1)
    conn.executemany("INSERT INTO state (key, value, updated_at) VALUES (?, ?, 0)",
                     [(k, json.dumps(v, ensure_ascii=False, separators=(",", ":")))
                      for k, v in values.items()])
    conn.close()


def raw(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_registry_reaches_the_current_format() -> None:
    assert migrations.LATEST == STATE_FORMAT_VERSION == 2
    assert migrations.schema_versions() == ["1", "2"]
    assert len(json.dumps(BIG)) > COMPRESS_ABOVE


def test_v1_file_works_unmigrated_and_writes_only_text(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    svc = StateService(SQLiteStore(db))
    assert svc.store.version == 1
    assert {k: svc.get(k) for k in VALUES} == VALUES
    svc.set("global:big2", BIG)  # an old llmspell must still read this file
    assert raw(db, "SELECT typeof(value) FROM state WHERE key = 'global:big2'") == [("text",)]
    status = migrations.migration_status(svc)
    assert status["current_version"] == "1" and status["latest_version"] == "2"
    assert status["migration_available"] is True and status["migration_targets"] == ["2"]
    assert status["is_latest"] is False and status["total_schemas"] == 2
    svc.close()


def test_migrate_v1_to_v2_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    svc = StateService(SQLiteStore(db))
    backups: list[str] = []
    result = migrations.migrate(svc, "2", enabled=True,
                                backup=lambda d: backups.append(d) or {"backup_id": "b1"})
    assert result["success"] is True and result["from_version"] == "1"
    assert result["to_version"] == "2" and result["items_migrated"] == len(VALUES)
    assert result["items_rewritten"] == 1 and result["errors"] == [] == result["warnings"]
    assert result["backup_id"] == "b1" and backups == ["before state migration 1 -> 2"]
    assert {k: svc.get(k) for k in VALUES} == VALUES
    svc.close()
    assert raw(db, "PRAGMA user_version") == [(2,)]
    assert raw(db, "SELECT value FROM meta WHERE key = 'format_version'") == [("2",)]
    kinds = dict(raw(db, "SELECT key, typeof(value) FROM state"))
    assert kinds["global:big"] == "blob" and kinds["global:small"] == "text"
    size = raw(db, "SELECT length(value) FROM state WHERE key = 'global:big'")[0][0]
    assert size < len(json.dumps(BIG)) / 5
    again = StateService(SQLiteStore(db))  # a fresh open reads the migrated file
    assert again.store.version == 2 and {k: again.get(k) for k in VALUES} == VALUES
    assert migrations.migrate(again, 2, enabled=True) == {
        "success": True, "status": "already_current", "current_version": "2",
        "target_version": "2"}
    again.set("global:big3", BIG)
    assert raw(db, "SELECT typeof(value) FROM state WHERE key = 'global:big3'") == [("blob",)]
    assert again.get("global:big3") == BIG
    assert dict(again.snapshot())["global:big"] == json.dumps(
        BIG, ensure_ascii=False, separators=(",", ":"))
    again.close()


def test_a_process_still_at_v1_reads_values_migrated_under_it(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    old = StateService(SQLiteStore(db))
    new = StateService(SQLiteStore(db))
    assert migrations.migrate(new, 2, enabled=True)["success"] is True
    assert old.get("global:big") == BIG
    old.set("global:later", {"x": 1})
    assert new.get("global:later") == {"x": 1}
    assert migrations.migrate(old, 2, enabled=True)["status"] == "already_current"
    old.close()
    new.close()


def test_refusals_leave_the_file_alone(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    svc = StateService(SQLiteStore(db))
    off = migrations.migrate(svc, 2, enabled=False)
    assert off["success"] is False and "migration_enabled = true" in off["error"]
    assert off["error"].startswith("Migration failed: ")
    unknown = migrations.migrate(svc, "3", enabled=True)
    assert unknown["success"] is False and "unknown version '3'" in unknown["error"]
    assert migrations.migrate(svc, "2.1.0", enabled=True)["success"] is False
    for nonsense in ("two", "", "2.x", True, None, [2]):
        with pytest.raises(migrations.VersionError, match="invalid version"):
            migrations.migrate(svc, nonsense, enabled=True)
    assert raw(db, "PRAGMA user_version") == [(1,)]
    assert migrations.migrate(svc, "v2.0.0", enabled=True)["success"] is True
    down = migrations.migrate(svc, 1, enabled=True)
    assert down["success"] is False and "cannot migrate down" in down["error"]
    svc.close()


def test_failed_step_rolls_back(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO state VALUES ('global:odd', x'00ff', 0)")  # not format 1
    conn.commit()
    conn.close()
    svc = StateService(SQLiteStore(db))
    result = migrations.migrate(svc, 2, enabled=True)
    assert result["success"] is False and "global:odd" in result["error"]
    assert raw(db, "PRAGMA user_version") == [(1,)]
    assert raw(db, "SELECT name FROM sqlite_master WHERE name = 'state_v2'") == []
    assert svc.store.version == 1 and svc.get("global:big") == BIG
    svc.close()


def test_failed_backup_stops_the_migration(tmp_path: Path) -> None:
    from llmspell.state.backup import BackupError

    db = tmp_path / "state.db"
    make_v1_file(db)
    svc = StateService(SQLiteStore(db))

    def broken(_: str) -> dict[str, Any]:
        raise BackupError("disk full")

    result = migrations.migrate(svc, 2, enabled=True, backup=broken)
    assert result["success"] is False and "backup before migrating failed: disk full" in \
        result["error"]
    assert raw(db, "PRAGMA user_version") == [(1,)]

    def unwritable(_: str) -> dict[str, Any]:
        raise PermissionError(13, "Permission denied")

    result = migrations.migrate(svc, 2, enabled=True, backup=unwritable)
    assert result["success"] is False and "Permission denied" in result["error"]
    assert raw(db, "PRAGMA user_version") == [(1,)]
    svc.close()


@pytest.mark.parametrize("kind", ["memory", "postgres"])
def test_memory_and_server_backends_are_always_current(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    svc = StateService(open_store(kind, request, tmp_path))
    assert migrations.migration_status(svc)["is_latest"] is True
    assert migrations.migrate(svc, 2, enabled=False)["status"] == "already_current"
    assert migrations.migrate(svc, 1, enabled=True)["success"] is False


def test_lua_migrate_with_backup_first(lua, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    config = {"runtime": {"state_persistence": {
        "backend_type": "sqlite", "path": str(db), "migration_enabled": True,
        "backup": {"backup_dir": str(tmp_path / "backups")}}}}
    run = lua("""
        local before = State.get_migration_status()
        local versions = State.get_schema_versions()
        local ok, err = pcall(State.migrate, "two")
        local result = State.migrate("2.0.0")
        local backups = State.list_backups()
        return {before = before, versions = versions, err = err, result = result,
                after = State.get_migration_status(), again = State.migrate(2),
                big = State.load("global", "big").n[50], backups = #backups,
                backup_keys = backups[1].key_count, same = backups[1].id == result.backup_id}
    """, config=config)
    v = run.value
    assert v["versions"] == ["1", "2"] and v["before"]["current_version"] == "1"
    assert v["err"].startswith("State.migrate: invalid version 'two'")
    r = v["result"]
    assert r["success"] is True and r["from_version"] == "1" and r["to_version"] == "2"
    assert r["items_migrated"] == len(VALUES)
    assert v["after"]["is_latest"] is True and v["after"]["migration_available"] is False
    assert v["again"]["status"] == "already_current"
    assert v["big"] == 49 and v["backups"] == 1 and v["backup_keys"] == len(VALUES)
    assert v["same"] is True


def test_lua_respects_settings(lua, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    make_v1_file(db)
    base = {"backend_type": "sqlite", "path": str(db),
            "backup": {"backup_dir": str(tmp_path / "backups")}}
    off = lua("return State.migrate(2)", config={"runtime": {"state_persistence": base}})
    assert off.value["success"] is False and "migration_enabled" in off.value["error"]
    quiet = {**base, "migration_enabled": True, "backup_on_migration": False}
    on = lua("return {State.migrate(2), #State.list_backups()}",
             config={"runtime": {"state_persistence": quiet}})
    assert on.value[0]["success"] is True and "backup_id" not in on.value[0]
    assert on.value[1] == 0
    memory = lua("return State.get_migration_status()").value
    assert memory["current_version"] == "2" and memory["backend"] == "memory"
