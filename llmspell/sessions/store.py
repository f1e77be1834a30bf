"""Where sessions and artifacts live: one SQLite database (a file, or ``:memory:``) and,
for a file database, a folder of large artifact contents.

Artifact content is content-addressed: ``blobs`` holds each distinct content once under
its BLAKE3 hash, and every artifact row points at a hash. Content bigger than
``inline_max`` bytes (file databases only) is kept out of the row store, in
``<db stem>-artifacts/<hash[:2]>/<hash>``, written to a temp file, fsynced and renamed
into place while the database write lock is held. When its last artifact goes, a blob's
row is deleted in the same transaction and its file only after that commit (a crash in
between is finished on the next open), so a killed delete never loses content.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..faultpoint import fault_point
from ..state.sqlite import failure_hint, fsync_dir, open_database, storage_hint

SESSIONS_FORMAT_VERSION = 1
FREED_PREFIX = ".freed-"

SESSIONS_SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    name TEXT,
    description TEXT,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    parent_session_id TEXT,
    custom_metadata TEXT NOT NULL,
    next_sequence INTEGER NOT NULL DEFAULT 0,
    artifact_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    stored_size INTEGER NOT NULL,
    compressed INTEGER NOT NULL,
    in_file INTEGER NOT NULL,
    data BLOB
);
CREATE TABLE artifacts (
    session_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    artifact_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (session_id, sequence)
);
CREATE INDEX artifacts_by_hash ON artifacts (hash);
CREATE INDEX artifacts_by_name ON artifacts (session_id, name, version)
"""

SESSION_COLUMNS = ("id", "name", "description", "tags", "status", "created_at", "updated_at",
                   "parent_session_id", "custom_metadata", "next_sequence", "artifact_count")
ARTIFACT_COLUMNS = ("session_id", "sequence", "hash", "name", "artifact_type", "size",
                    "version", "created_at", "metadata")


def _session_row(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(SESSION_COLUMNS, row, strict=True))
    out["tags"] = json.loads(out["tags"])
    out["custom_metadata"] = json.loads(out["custom_metadata"])
    return out


def _artifact_row(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(ARTIFACT_COLUMNS, row, strict=True))
    out["metadata"] = json.loads(out["metadata"])
    return out


class SessionStore:
    """Sessions, artifact rows and content blobs in one database (+ a blob folder)."""

    def __init__(self, path: Path | str, inline_max: int = 64 * 1024) -> None:
        self.memory = str(path) == ":memory:"
        self.path = None if self.memory else Path(path)
        self.blob_dir = (None if self.path is None
                         else self.path.with_name(self.path.stem + "-artifacts"))
        self.inline_max = inline_max
        self._lock = threading.RLock()
        self._placed: list[str] = []  # content files moved into place in this transaction
        self.conn: sqlite3.Connection | None = open_database(
            ":memory:" if self.path is None else self.path, "sessions",
            SESSIONS_FORMAT_VERSION, SESSIONS_SCHEMA)
        self._sweep_temp_files()
        self._recover_files()

    def _sweep_temp_files(self, older_than: float = 3600.0) -> None:
        """Remove content files a crashed writer left half-way (never recent ones: another
        process may be writing them right now)."""
        if self.blob_dir is None or not self.blob_dir.is_dir():
            return
        cutoff = time.time() - older_than
        for leftover in self.blob_dir.glob(".tmp-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass

    @property
    def backend(self) -> str:
        return "memory" if self.memory else "sqlite"

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StateError("the session store is closed")
        return self.conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn()
            except sqlite3.Error as exc:
                raise StateError(f"session store {action} failed "
                                 f"({self.path or 'memory'}): {exc}"
                                 + failure_hint(self.path, exc)) from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the database write lock. Content files that
        ``put_blob`` moved into place carry a marker until the commit; if the transaction
        fails (or a kill stops it) they are removed, now or at the next open."""
        with self._guard("write") as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._placed = []
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                placed, self._placed = self._placed, []
                self._remove_freed(placed)  # files of rows that never were
                raise
            placed, self._placed = self._placed, []
            for digest in placed:
                self._marker(digest).unlink(missing_ok=True)

    # -- sessions -------------------------------------------------------------------

    def insert_session(self, conn: sqlite3.Connection, session: dict[str, Any]) -> None:
        values = dict(session)
        values["tags"] = json.dumps(values["tags"], ensure_ascii=False)
        values["custom_metadata"] = json.dumps(values["custom_metadata"], ensure_ascii=False)
        values.setdefault("next_sequence", 0)
        values.setdefault("artifact_count", 0)
        conn.execute(
            f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in SESSION_COLUMNS)})",
            [values[c] for c in SESSION_COLUMNS])

    def get_session(self, session_id: str, conn: sqlite3.Connection | None = None
                    ) -> dict[str, Any] | None:
        with self._guard("read") as own:
            row = (conn or own).execute(
                f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE id = ?",
                (session_id,)).fetchone()
        return _session_row(row) if row else None

    def list_sessions(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions"
        args: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            args = (status,)
        with self._guard("read") as conn:
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_session_row(r) for r in rows]

    def count_sessions(self, conn: sqlite3.Connection, status: str) -> int:
        return int(conn.execute("SELECT count(*) FROM sessions WHERE status = ?",
                                (status,)).fetchone()[0])

    def update_session(self, conn: sqlite3.Connection, session_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", (*fields.values(), session_id))

    def expire_unchanged(self, conn: sqlite3.Connection, session_id: str, updated_at: str
                         ) -> None:
        """Mark an active session expired unless it was touched after ``updated_at``."""
        conn.execute("UPDATE sessions SET status = 'expired' WHERE id = ? AND "
                     "status = 'active' AND updated_at = ?", (session_id, updated_at))

    def expire_idle(self, conn: sqlite3.Connection, cutoff: str) -> int:
        """Mark every active session last touched before ``cutoff`` expired."""
        return int(conn.execute("UPDATE sessions SET status = 'expired' WHERE "
                                "status = 'active' AND updated_at < ?", (cutoff,)).rowcount)

    def held_bytes(self, conn: sqlite3.Connection) -> int:
        """Bytes of artifact content and session metadata held (for the memory cap)."""
        return int(conn.execute(
            "SELECT (SELECT COALESCE(SUM(stored_size), 0) FROM blobs) + "
            "(SELECT COALESCE(SUM(length(custom_metadata)), 0) FROM sessions)").fetchone()[0])

    def delete_session(self, session_id: str) -> bool:
        with self.write() as conn:
            hashes = [r[0] for r in conn.execute(
                "SELECT DISTINCT hash FROM artifacts WHERE session_id = ?", (session_id,))]
            conn.execute("DELETE FROM artifacts WHERE session_id = ?", (session_id,))
            gone = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
            freed = [d for d in hashes if self._release_blob(conn, d)]
            self._mark_freed(freed)
            fault_point("sessions.delete.before_commit")
        fault_point("sessions.delete.after_commit")
        self._remove_freed(freed)
        return gone > 0

    # -- blobs ----------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        assert self.blob_dir is not None
        return self.blob_dir / digest[:2] / digest

    def prepare_blob(self, stored: bytes) -> Path | None:
        """For large content on a file store: a fsynced temp file to rename into place."""
        if self.blob_dir is None or len(stored) <= self.inline_max:
            return None
        tmp = None
        try:
            self.blob_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.blob_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(stored)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException as exc:
            if tmp is not None:
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StateError(f"cannot store artifact content in {self.blob_dir}: "
                                 f"{exc.strerror or exc}"
                                 + storage_hint(self.blob_dir, exc)) from None
            raise
        return Path(tmp)

    def put_blob(self, conn: sqlite3.Connection, digest: str, size: int, stored: bytes,
                 compressed: bool, prepared: Path | None) -> None:
        """Inside a write transaction: record the blob unless that content is stored."""
        row = conn.execute("SELECT in_file FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is not None and (not row[0] or self._blob_path(digest).is_file()):
            if prepared is not None:
                prepared.unlink(missing_ok=True)
            return
        if prepared is not None:
            final = self._blob_path(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._mark_freed([digest])  # until the commit: a kill leaves no orphan file
            self._placed.append(digest)
            os.replace(prepared, final)
            fsync_dir(final.parent)
            fault_point("sessions.put_blob.after_rename")
        conn.execute(
            "INSERT OR REPLACE INTO blobs (hash, size, stored_size, compressed, in_file, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (digest, size, len(stored), int(compressed), int(prepared is not None),
             None if prepared is not None else stored))

    def read_blob(self, digest: str) -> tuple[bytes, bool] | None:
        with self._guard("read") as conn:
            row = conn.execute("SELECT compressed, in_file, data FROM blobs WHERE hash = ?",
                               (digest,)).fetchone()
        if row is None:
            return None
        compressed, in_file, data = row
        if in_file:
            try:
                data = self._blob_path(digest).read_bytes()
            except OSError as exc:
                raise StateError(f"artifact content {digest} is missing from "
                                 f"{self.blob_dir}: {exc.strerror}") from None
        return bytes(data), bool(compressed)

    def _release_blob(self, conn: sqlite3.Connection, digest: str) -> bool:
        """Inside a write transaction: drop the blob row if no artifact uses it any more.
        True when its content lives in a file (to remove after the commit)."""
        if conn.execute("SELECT 1 FROM artifacts WHERE hash = ? LIMIT 1", (digest,)).fetchone():
            return False
        row = conn.execute("SELECT in_file FROM blobs WHERE hash = ?", (digest,)).fetchone()
        conn.execute("DELETE FROM blobs WHERE hash = ?", (digest,))
        return bool(row and row[0])

    # Content files are removed only after the transaction that dropped their rows has
    # committed: a crash before the commit leaves rows and files as they were. Before the
    # commit a marker file ``.freed-<hash>`` is written for each file about to go, so a
    # crash between the commit and the removal is finished the next time a store opens.
    # The same marker guards a file being added (``put_blob``) until its row commits: a
    # file whose row never committed is removed the same way.

    def _marker(self, digest: str) -> Path:
        assert self.blob_dir is not None
        return self.blob_dir / f"{FREED_PREFIX}{digest}"

    def _mark_freed(self, digests: list[str]) -> None:
        for digest in digests:
            try:
                self._marker(digest).touch()
            except OSError:
                pass  # (a full disk) delete anyway: a kill now would only leave a stray file

    def _remove_freed(self, digests: list[str]) -> None:
        """After the commit: remove the content files of blobs that are still gone. Done
        under the write lock, so no other writer is storing that content again meanwhile;
        if it cannot be done now, the markers leave the job to the next open."""
        if not digests:
            return
        try:
            with self.write() as conn:
                for digest in digests:
                    self._remove_if_unused(conn, digest)
        except (StateError, OSError):
            pass

    def _remove_if_unused(self, conn: sqlite3.Connection, digest: str) -> None:
        if conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (digest,)).fetchone() is None:
            self._blob_path(digest).unlink(missing_ok=True)
        self._marker(digest).unlink(missing_ok=True)

    def _recover_files(self) -> None:
        """On open: finish removals a killed delete left (markers), and put back content
        files an older llmspell renamed aside (``.trash-<hash>-<pid>``) before a crash."""
        if self.blob_dir is None or not self.blob_dir.is_dir():
            return
        markers = list(self.blob_dir.glob(FREED_PREFIX + "*"))
        trash = list(self.blob_dir.glob("*/.trash-*"))
        if not markers and not trash:
            return
        try:
            with self.write() as conn:
                for marker in markers:
                    self._remove_if_unused(conn, marker.name[len(FREED_PREFIX):])
                for aside in trash:
                    self._restore_trash(conn, aside)
        except (StateError, OSError):
            pass

    def _restore_trash(self, conn: sqlite3.Connection, aside: Path) -> None:
        digest = aside.name[len(".trash-"):].rsplit("-", 1)[0]
        row = conn.execute("SELECT in_file FROM blobs WHERE hash = ?", (digest,)).fetchone()
        final = self._blob_path(digest)
        if row is not None and row[0] and not final.exists():
            os.replace(aside, final)
        else:
            aside.unlink(missing_ok=True)

    # -- artifacts ------------------------------------------------------------------

    def insert_artifact(self, conn: sqlite3.Connection, row: dict[str, Any]) -> None:
        values = dict(row)
        values["metadata"] = json.dumps(values["metadata"], ensure_ascii=False)
        conn.execute(
            f"INSERT INTO artifacts ({', '.join(ARTIFACT_COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in ARTIFACT_COLUMNS)})",
            [values[c] for c in ARTIFACT_COLUMNS])

    def next_version(self, conn: sqlite3.Connection, session_id: str, name: str) -> int:
        row = conn.execute("SELECT max(version) FROM artifacts WHERE session_id = ? AND name = ?",
                           (session_id, name)).fetchone()
        return int(row[0] or 0) + 1

    def get_artifact(self, session_id: str, sequence: int) -> dict[str, Any] | None:
        with self._guard("read") as conn:
            row = conn.execute(
                f"SELECT {', '.join(ARTIFACT_COLUMNS)} FROM artifacts "
                "WHERE session_id = ? AND sequence = ?", (session_id, sequence)).fetchone()
            if row is None:
                return None
            out = _artifact_row(row)
            blob = conn.execute("SELECT compressed, stored_size FROM blobs WHERE hash = ?",
                                (out["hash"],)).fetchone()
        out["compressed"] = bool(blob[0]) if blob else False
        out["stored_size"] = blob[1] if blob else None
        return out

    def list_artifacts(self, session_id: str | None = None) -> list[dict[str, Any]]:
        sql = (f"SELECT {', '.join('a.' + c for c in ARTIFACT_COLUMNS)}, b.compressed, "
               "b.stored_size FROM artifacts a LEFT JOIN blobs b ON a.hash = b.hash")
        args: tuple[Any, ...] = ()
        if session_id is not None:
            sql += " WHERE a.session_id = ?"
            args = (session_id,)
        with self._guard("read") as conn:
            rows = conn.execute(sql + " ORDER BY a.created_at, a.sequence", args).fetchall()
        out = []
        for r in rows:
            item = _artifact_row(r[: len(ARTIFACT_COLUMNS)])
            item["compressed"] = bool(r[-2])
            item["stored_size"] = r[-1]
            out.append(item)
        return out

    def delete_artifact(self, session_id: str, sequence: int) -> bool:
        with self.write() as conn:
            row = conn.execute(
                "SELECT hash FROM artifacts WHERE session_id = ? AND sequence = ?",
                (session_id, sequence)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM artifacts WHERE session_id = ? AND sequence = ?",
                         (session_id, sequence))
            conn.execute("UPDATE sessions SET artifact_count = artifact_count - 1 "
                         "WHERE id = ?", (session_id,))
            freed = [row[0]] if self._release_blob(conn, row[0]) else []
            self._mark_freed(freed)
            fault_point("sessions.delete_artifact.before_commit")
        self._remove_freed(freed)
        return True

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
