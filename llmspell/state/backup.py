"""State backups: full and incremental snapshots in files, validated and restorable.

A backup is one file ``<backup_dir>/<id>.backup.json[.gz]`` (gzip when
``compression_enabled``), written atomically (temp file, fsync, rename):

    {"format": "llmspell-state-backup", "format_version": 1, "id": ..., "created_at": ...,
     "incremental": false, "parent_id": null, "description": ..., "source": ...,
     "entries": {full_key: json_text, ...}, "deleted": [], "key_count": N,
     "checksum": sha256 of the canonical entries/deleted/parent_id}

A full backup holds every key. An incremental one holds only the keys that changed
since its parent (the newest backup when it was made) and the keys deleted since;
restoring it replays the chain from the full backup at its root. Validation checks the
marker, the format version (a newer one is refused by name), the checksum and the
chain. Cleanup keeps the newest ``max_backups`` (and drops those older than
``max_backup_age_days``) but never a backup that a kept incremental still needs.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import secrets
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import progress
from ..errors import StateError
from ..faultpoint import fault_point
from .sqlite import fsync_dir, read_only_fs

if TYPE_CHECKING:
    from ..config import Settings
    from .service import StateService

BACKUP_FORMAT = "llmspell-state-backup"
BACKUP_FORMAT_VERSION = 1
SUFFIXES = (".backup.json.gz", ".backup.json")
TEMP_PREFIX = ".tmp-"


class BackupError(StateError):
    """A backup cannot be found, read, validated or restored."""


def _checksum(entries: dict[str, str], deleted: list[str], parent_id: str | None) -> str:
    canonical = json.dumps({"entries": entries, "deleted": deleted, "parent_id": parent_id},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class BackupInfo:
    id: str
    path: Path
    created_at: str
    incremental: bool
    parent_id: str | None
    description: str | None
    entry_count: int
    deleted_count: int
    key_count: int
    size: int
    format_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "backup_id": self.id, "created_at": self.created_at,
            "incremental": self.incremental, "backup_type": (
                "incremental" if self.incremental else "full"),
            "parent_id": self.parent_id, "description": self.description,
            "entry_count": self.entry_count, "deleted_count": self.deleted_count,
            "key_count": self.key_count, "size": self.size, "path": str(self.path),
            "format_version": self.format_version,
        }


class BackupManager:
    """Create, list, validate, restore and clean up backups of one state service."""

    def __init__(self, service: StateService, directory: Path, *, compression: bool = True,
                 compression_level: int = 6, max_backups: int | None = 10,
                 max_age_days: float | None = None) -> None:
        self.service = service
        self.directory = Path(directory)
        self.compression = compression
        self.compression_level = compression_level
        self.max_backups = max_backups
        self.max_age_days = max_age_days

    # -- files ----------------------------------------------------------------------

    def _files(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        if not self.directory.is_dir():
            return out
        for path in self.directory.iterdir():
            if path.name.startswith("."):  # temp files of backups being (or never) written
                continue
            for suffix in SUFFIXES:
                if path.name.endswith(suffix):
                    out[path.name[: -len(suffix)]] = path
                    break
        return out

    def _path(self, backup_id: str) -> Path:
        if not backup_id or "/" in backup_id or "\\" in backup_id or backup_id.startswith("."):
            raise BackupError(f"invalid backup id '{backup_id}'")
        path = self._files().get(backup_id)
        if path is None:
            raise BackupError(f"backup '{backup_id}' not found in {self.directory}")
        return path

    def _read(self, backup_id: str) -> dict[str, Any]:
        path = self._path(backup_id)
        try:
            raw = path.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            doc = json.loads(raw.decode("utf-8", "surrogatepass"))
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError,
                json.JSONDecodeError, RecursionError) as exc:
            raise BackupError(f"backup '{backup_id}' ({path}) is unreadable: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
            raise BackupError(f"{path} is not an llmspell state backup")
        version = doc.get("format_version")
        if not isinstance(version, int) or version > BACKUP_FORMAT_VERSION:
            raise BackupError(
                f"backup '{backup_id}' has format version {version}; this llmspell "
                f"understands up to {BACKUP_FORMAT_VERSION} (upgrade llmspell to restore it)")
        if not isinstance(doc.get("entries"), dict) or not isinstance(doc.get("deleted"), list):
            raise BackupError(f"backup '{backup_id}' ({path}) is damaged: missing entries")
        count = doc.get("key_count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 0):
            raise BackupError(f"backup '{backup_id}' ({path}) is damaged: key_count "
                              f"{count!r} is not a count")
        for name in ("created_at", "parent_id", "description"):
            if doc.get(name) is not None and not isinstance(doc[name], str):
                raise BackupError(f"backup '{backup_id}' ({path}) is damaged: {name} is not "
                                  "a string")
        try:
            _parse_time(str(doc.get("created_at") or ""))
        except ValueError:
            raise BackupError(f"backup '{backup_id}' ({path}) is damaged: created_at "
                              f"{doc.get('created_at')!r} is not a time") from None
        return doc

    def _info(self, backup_id: str, doc: dict[str, Any]) -> BackupInfo:
        path = self._path(backup_id)
        return BackupInfo(
            id=backup_id, path=path, created_at=str(doc.get("created_at")),
            incremental=bool(doc.get("incremental")), parent_id=doc.get("parent_id"),
            description=doc.get("description"), entry_count=len(doc["entries"]),
            deleted_count=len(doc["deleted"]), key_count=doc.get("key_count") or 0,
            size=_size(path), format_version=int(doc["format_version"]))

    def _write(self, doc: dict[str, Any]) -> Path:
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass")
        suffix = SUFFIXES[0] if self.compression else SUFFIXES[1]
        if self.compression:
            data = gzip.compress(data, compresslevel=self.compression_level)
        final = self.directory / (doc["id"] + suffix)
        tmp = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # the writer's pid in the name: cleanup removes it once that process is gone
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f"{TEMP_PREFIX}{os.getpid()}-",
                                       suffix=suffix)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            fault_point("backup.before_rename")
            os.replace(tmp, final)
        except OSError as exc:
            raise BackupError(f"cannot write a backup in {self.directory}: "
                              f"{exc.strerror or exc}{_why(self.directory, exc)}") from None
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        fsync_dir(self.directory)
        return final

    def _sweep_temp_files(self, older_than: float = 3600.0) -> list[str]:
        """Remove temp files of backups whose writer is gone (killed mid-write)."""
        removed: list[str] = []
        if not self.directory.is_dir():
            return removed
        cutoff = time.time() - older_than
        for path in self.directory.glob(TEMP_PREFIX + "*"):
            pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
            try:
                if (pid.isdigit() and not _alive(int(pid))) or path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path.name)
            except OSError:
                pass
        return removed

    # -- chain ----------------------------------------------------------------------

    def _state_at(self, backup_id: str, seen: tuple[str, ...] = ()) -> dict[str, str]:
        if backup_id in seen:
            raise BackupError(f"backup chain loops at '{backup_id}'")
        doc = self._read(backup_id)
        if _checksum(doc["entries"], doc["deleted"], doc.get("parent_id")) != doc.get("checksum"):
            raise BackupError(f"backup '{backup_id}' failed its checksum (damaged)")
        if not doc.get("incremental"):
            return dict(doc["entries"])
        parent = doc.get("parent_id")
        if not parent:
            raise BackupError(f"incremental backup '{backup_id}' names no parent")
        try:
            state = self._state_at(parent, (*seen, backup_id))
        except BackupError as exc:
            raise BackupError(f"backup '{backup_id}' depends on '{parent}': {exc}") from None
        for key in doc["deleted"]:
            state.pop(key, None)
        state.update(doc["entries"])
        return state

    def _chain(self, backup_id: str) -> list[str]:
        chain = [backup_id]
        doc = self._read(backup_id)
        while doc.get("incremental") and doc.get("parent_id") and len(chain) < 10_000:
            chain.append(doc["parent_id"])
            doc = self._read(doc["parent_id"])
        return chain

    # -- public operations ----------------------------------------------------------

    def create(self, incremental: bool = False, description: str | None = None
               ) -> dict[str, Any]:
        """Snapshot the state now; incremental stores only changes since the newest backup."""
        with progress.task("Backup: reading the state", total=3, unit="steps") as bar:
            result = self._create(bar, incremental, description)
        return result

    def _create(self, bar: progress.Task, incremental: bool, description: str | None
                ) -> dict[str, Any]:
        current = self.service.snapshot()
        bar.advance()
        moment = _now()
        backup_id = f"backup_{moment.strftime('%Y%m%dT%H%M%S%f')}_{secrets.token_hex(3)}"
        parent_id = None
        entries, deleted = current, []
        note = None
        if incremental:
            latest = self.list()
            if latest:
                parent_id = latest[0]["id"]
                bar.update(description=f"Backup: comparing with {parent_id}")
                base = self._state_at(parent_id)
                entries = {k: v for k, v in current.items() if base.get(k) != v}
                deleted = sorted(k for k in base if k not in current)
            else:
                incremental = False
                note = "no earlier backup to build on: created a full backup"
        doc = {
            "format": BACKUP_FORMAT, "format_version": BACKUP_FORMAT_VERSION,
            "id": backup_id, "created_at": _rfc3339(moment), "incremental": incremental,
            "parent_id": parent_id, "description": description,
            "source": self.service.location,
            "entries": entries, "deleted": deleted, "key_count": len(current),
            "checksum": _checksum(entries, deleted, parent_id),
        }
        bar.advance()
        bar.update(description=f"Backup: writing {len(entries)} keys")
        path = self._write(doc)
        bar.advance()
        result = {"success": True, "backup_id": backup_id, "id": backup_id,
                  "incremental": incremental, "parent_id": parent_id,
                  "entry_count": len(entries), "deleted_count": len(deleted),
                  "key_count": len(current), "size": path.stat().st_size,
                  "path": str(path), "created_at": doc["created_at"]}
        if note:
            result["note"] = note
        return result

    def list(self) -> list[dict[str, Any]]:
        """Every readable backup, newest first (unreadable ones are listed as invalid)."""
        out: list[dict[str, Any]] = []
        for backup_id, path in self._files().items():
            try:
                out.append(self._info(backup_id, self._read(backup_id)).as_dict())
            except BackupError as exc:
                out.append({"id": backup_id, "backup_id": backup_id, "path": str(path),
                            "created_at": "", "error": str(exc), "size": _size(path),
                            "incremental": False, "backup_type": "unknown"})
        out.sort(key=lambda b: (b["created_at"], b["id"]), reverse=True)
        return out

    def info(self, backup_id: str) -> dict[str, Any]:
        doc = self._read(backup_id)
        data = self._info(backup_id, doc).as_dict()
        data["source"] = doc.get("source")
        data["checksum"] = doc.get("checksum")
        return data

    def validate(self, backup_id: str) -> dict[str, Any]:
        result: dict[str, Any] = {"backup_id": backup_id, "is_valid": False, "errors": []}
        try:
            state = self._state_at(backup_id)
            result["chain"] = self._chain(backup_id)
            result["key_count"] = len(state)
            doc = self._read(backup_id)
            if (doc.get("key_count") or 0) != len(state):
                raise BackupError(f"backup '{backup_id}' restores {len(state)} keys but "
                                  f"recorded {doc.get('key_count')}")
            for text in state.values():
                json.loads(text)
        except (BackupError, json.JSONDecodeError, TypeError) as exc:
            result["errors"] = [str(exc)]
            result["error"] = str(exc)
            return result
        result["is_valid"] = True
        result["checksum_ok"] = True
        return result

    def restore(self, backup_id: str, dry_run: bool = False) -> dict[str, Any]:
        """Replace the whole state with the backup's (validated first)."""
        with progress.task(f"Restore: validating {backup_id}", total=2, unit="steps") as bar:
            check = self.validate(backup_id)
            if not check["is_valid"]:
                raise BackupError(check["error"])
            bar.advance()
            bar.update(description=f"Restore: restoring {check['key_count']} keys")
            result = self._restore(backup_id, dry_run)
            bar.advance()
        return result

    def _restore(self, backup_id: str, dry_run: bool) -> dict[str, Any]:
        target = self._state_at(backup_id)
        current = self.service.snapshot()
        added = sum(1 for k in target if k not in current)
        removed = sum(1 for k in current if k not in target)
        changed = sum(1 for k, v in target.items() if k in current and current[k] != v)
        result = {"success": True, "backup_id": backup_id, "dry_run": dry_run,
                  "keys_restored": len(target), "keys_added": added, "keys_removed": removed,
                  "keys_changed": changed}
        if not dry_run:
            self.service.restore(target)
        return result

    def usage(self) -> dict[str, Any]:
        backups = self.list()
        full = sum(1 for b in backups if b.get("backup_type") == "full")
        inc = sum(1 for b in backups if b.get("backup_type") == "incremental")
        return {"total_backups": len(backups), "full_backups": full,
                "incremental_backups": inc, "total_size": sum(b["size"] for b in backups),
                "backup_dir": str(self.directory)}

    def cleanup(self, dry_run: bool = False) -> dict[str, Any]:
        """Apply retention (max_backups, max_backup_age_days); keep what kept backups need."""
        backups = [b for b in self.list() if "error" not in b]
        keep: set[str] = set()
        cutoff = (_now() - timedelta(days=self.max_age_days)
                  if self.max_age_days is not None else None)
        for index, b in enumerate(backups):
            if self.max_backups is not None and index >= self.max_backups:
                continue
            if cutoff is not None and _parse_time(b["created_at"]) < cutoff:
                continue
            keep.add(b["id"])
        if backups and not keep:
            keep.add(backups[0]["id"])  # never delete every backup
        for backup_id in list(keep):
            try:
                keep.update(self._chain(backup_id))
            except BackupError:
                pass
        doomed = [b for b in backups if b["id"] not in keep]
        freed = sum(b["size"] for b in doomed)
        temp_files: list[str] = []
        if not dry_run:
            for b in doomed:
                try:
                    Path(b["path"]).unlink(missing_ok=True)
                except OSError as exc:
                    raise BackupError(f"cannot delete backup {b['path']}: {exc.strerror}"
                                      f"{_why(self.directory, exc)}") from None
            temp_files = self._sweep_temp_files()
        return {"success": True, "dry_run": dry_run, "deleted_count": len(doomed),
                "retained_count": len(backups) - len(doomed), "space_freed": freed,
                "deleted": [b["id"] for b in doomed], "temp_files_removed": temp_files}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _why(directory: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return " (the disk is full; the previous backups are untouched)"
    if exc.errno == errno.EROFS or read_only_fs(directory):
        return (" (it is on a read-only file system: set "
                "[runtime.state_persistence.backup] backup_dir to a writable folder)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return " (permission denied)"
    return ""


def backup_manager(service: StateService, settings: Settings) -> BackupManager:
    """A manager configured from ``[runtime.state_persistence.backup]``."""
    from ..paths import data_dir

    cfg = settings.get("runtime.state_persistence.backup")
    raw_dir = cfg.get("backup_dir")
    directory = Path(raw_dir).expanduser().resolve() if raw_dir else data_dir() / "backups"
    max_backups = cfg.get("max_backups")
    max_age = cfg.get("max_backup_age_days")
    return BackupManager(
        service, directory,
        compression=bool(cfg["compression_enabled"]),
        compression_level=int(cfg["compression_level"]),
        max_backups=int(max_backups) if max_backups is not None else None,
        max_age_days=float(max_age) if max_age is not None else None)
