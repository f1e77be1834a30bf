"""State backups: full and incremental, validate, restore, retention, State.* functions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from stores import open_store

from llmspell.state.backup import BackupError, BackupManager
from llmspell.state.service import StateService


@pytest.fixture(params=["sqlite", "postgres"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> StateService:
    service = StateService(open_store(request.param, request, tmp_path))
    yield service
    service.close()


def test_full_and_incremental_restore(svc: StateService, tmp_path: Path) -> None:
    mgr = BackupManager(svc, tmp_path / "backups")
    svc.save("global", "a", 1)
    svc.save("global", "b", {"x": [1, 2]})
    full = mgr.create(description="first")
    assert full["success"] and not full["incremental"] and full["key_count"] == 2
    svc.save("global", "a", 2)
    svc.delete("global", "b")
    svc.save("global", "c", "new")
    inc = mgr.create(incremental=True)
    assert inc["incremental"] and inc["parent_id"] == full["backup_id"]
    assert inc["entry_count"] == 2 and inc["deleted_count"] == 1  # a, c changed; b deleted
    svc.save("global", "zzz", "later")

    dry = mgr.restore(full["backup_id"], dry_run=True)
    assert dry["keys_restored"] == 2 and dry["keys_removed"] == 2
    assert svc.load("global", "zzz") == "later"  # dry run changed nothing

    mgr.restore(full["backup_id"])
    assert svc.snapshot() == {"global:a": "1", "global:b": '{"x":[1,2]}'}
    mgr.restore(inc["backup_id"])
    assert svc.load("global", "a") == 2 and svc.load("global", "b") is None
    assert svc.load("global", "c") == "new" and svc.load("global", "zzz") is None

    listed = mgr.list()
    assert [b["id"] for b in listed] == [inc["backup_id"], full["backup_id"]]
    assert mgr.info(full["backup_id"])["description"] == "first"
    usage = mgr.usage()
    assert usage["total_backups"] == 2 and usage["full_backups"] == 1
    assert usage["incremental_backups"] == 1 and usage["total_size"] > 0


def test_validate_detects_damage_and_newer_format(svc: StateService, tmp_path: Path) -> None:
    mgr = BackupManager(svc, tmp_path / "b", compression=False)
    svc.save("s", "k", "v")
    bid = mgr.create()["backup_id"]
    assert mgr.validate(bid)["is_valid"] is True
    path = next((tmp_path / "b").iterdir())
    doc = json.loads(path.read_text())
    doc["entries"]["s:k"] = '"tampered"'
    path.write_text(json.dumps(doc))
    check = mgr.validate(bid)
    assert check["is_valid"] is False and "checksum" in check["error"]
    with pytest.raises(BackupError, match="checksum"):
        mgr.restore(bid)
    assert svc.load("s", "k") == "v"
    doc["format_version"] = 7
    path.write_text(json.dumps(doc))
    assert "format version 7" in mgr.validate(bid)["error"]
    with pytest.raises(BackupError, match="not found"):
        mgr.restore("backup_nope")


def test_incremental_needs_its_parent(svc: StateService, tmp_path: Path) -> None:
    mgr = BackupManager(svc, tmp_path / "b")
    svc.save("s", "k", 1)
    full = mgr.create()["backup_id"]
    svc.save("s", "k", 2)
    inc = mgr.create(incremental=True)["backup_id"]
    next(p for p in (tmp_path / "b").iterdir() if p.name.startswith(full)).unlink()
    check = mgr.validate(inc)
    assert not check["is_valid"] and full in check["error"]


def test_cleanup_keeps_newest_and_their_chain(svc: StateService, tmp_path: Path) -> None:
    mgr = BackupManager(svc, tmp_path / "b", max_backups=2)
    ids = []
    svc.save("s", "k", 0)
    ids.append(mgr.create()["backup_id"])            # full 0
    for i in range(1, 4):
        svc.save("s", "k", i)
        ids.append(mgr.create(incremental=True)["backup_id"])  # chain on full 0
    svc.save("s", "k", 9)
    ids.append(mgr.create()["backup_id"])            # full 4
    svc.save("s", "k", 10)
    ids.append(mgr.create(incremental=True)["backup_id"])
    dry = mgr.cleanup(dry_run=True)
    assert dry["deleted_count"] == 4 and len(mgr.list()) == 6
    done = mgr.cleanup()
    assert sorted(done["deleted"]) == sorted(ids[:4]) and done["space_freed"] > 0
    assert [b["id"] for b in mgr.list()] == [ids[5], ids[4]]
    mgr.restore(ids[5])
    assert svc.load("s", "k") == 10

    mgr2 = BackupManager(svc, tmp_path / "c", max_backups=1)
    first = mgr2.create()["backup_id"]
    mgr2.create(incremental=True)
    assert mgr2.cleanup()["deleted_count"] == 0  # the kept incremental needs its parent
    assert first in [b["id"] for b in mgr2.list()]


def test_backup_files_are_gzip_json_with_format_version(svc: StateService,
                                                         tmp_path: Path) -> None:
    mgr = BackupManager(svc, tmp_path / "b")
    svc.save("s", "k", "é")
    mgr.create()
    (path,) = (tmp_path / "b").iterdir()
    doc = json.loads(gzip.decompress(path.read_bytes()))
    assert doc["format"] == "llmspell-state-backup" and doc["format_version"] == 1
    assert doc["entries"] == {"s:k": '"é"'}


def test_state_backup_functions_from_lua(lua, tmp_path: Path) -> None:
    config = {"runtime": {"state_persistence": {
        "backend_type": "sqlite", "path": str(tmp_path / "s.db"),
        "backup": {"backup_dir": str(tmp_path / "bk")}}}}
    run = lua("""
        State.set("x", 1)
        local b = State.create_backup()
        State.set("x", 2)
        local i = State.create_backup(true)
        State.set("x", 3)
        local v = State.validate_backup(b.backup_id)
        local r = State.restore_backup(b.backup_id)
        local after = State.get("x")
        local bad = State.restore_backup("backup_missing")
        local usage = State.get_storage_usage()
        local c = State.cleanup_backups(true)
        return {ok = b.success, inc = i.incremental, valid = v.is_valid, restored = r.success,
                after = after, bad = bad.success, bad_error = bad.error,
                total = usage.total_backups, n = #State.list_backups(), dry = c.dry_run}
    """, config=config)
    assert run.value == {"ok": True, "inc": True, "valid": True, "restored": True, "after": 1,
                         "bad": False, "bad_error": run.value["bad_error"], "total": 2, "n": 2,
                         "dry": True}
    assert "not found" in run.value["bad_error"]
