"""Sessions and artifacts on a shared PostgreSQL server (``[runtime.sessions]
storage_backend = "postgres"``).

The same interface as ``sessions/store.py`` (the service cannot tell them apart): a
``write()`` transaction handed to ``insert_session``/``put_blob``/... Writes of one
tenant are serialised by a transaction-level advisory lock, as SQLite's single writer
does, so ``max_sessions`` and artifact sequence numbers hold across processes.

Content is stored once per tenant under its BLAKE3 hash (deduplicated across sessions),
in chunks of ``CHUNK`` bytes, written and read piece by piece; the service checks the
hash of what it reads back. A blob goes in the same transaction as its last artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..faultpoint import fault_point
from ..sessions.store import ARTIFACT_COLUMNS, SESSION_COLUMNS
from .database import MINE, ServerStore
from .migrate import LOCK_KEY

CHUNK = 1 << 20
_SESSIONS = ", ".join(SESSION_COLUMNS)
_ARTIFACTS = ", ".join(ARTIFACT_COLUMNS)
_JSON_COLUMNS = {"tags", "custom_metadata", "metadata"}


def _row(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(columns, row, strict=True))
    for key in _JSON_COLUMNS & out.keys():
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def _placeholders(columns: tuple[str, ...]) -> str:
    return ", ".join("%s" for _ in columns)


def _values(columns: tuple[str, ...], values: dict[str, Any]) -> list[Any]:
    return [json.dumps(values[c], ensure_ascii=False) if c in _JSON_COLUMNS else values[c]
            for c in columns]


class PostgresSessionStore(ServerStore):
    """Sessions, artifact rows and content blobs of one tenant on the server."""

    memory = False
    blob_dir: Path | None = None
    backend = "postgres"

    @contextmanager
    def _read(self, conn: Any = None) -> Iterator[Any]:
        if conn is not None:
            yield conn
            return
        with self.db.transaction("session store read", StateError) as own:
            yield own

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction; the tenant's writers take turns (advisory lock)."""
        with self.db.transaction("session store write", StateError) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_setting("
                         "'app.current_tenant_id', true)))", (LOCK_KEY >> 32,), prepare=True)
            yield conn

    # -- sessions -------------------------------------------------------------------

    def insert_session(self, conn: Any, session: dict[str, Any]) -> None:
        values = {"next_sequence": 0, "artifact_count": 0, **session}
        conn.execute(f"INSERT INTO llmspell_sessions ({_SESSIONS}) VALUES "
                     f"({_placeholders(SESSION_COLUMNS)})", _values(SESSION_COLUMNS, values))

    def get_session(self, session_id: str, conn: Any = None) -> dict[str, Any] | None:
        with self._read(conn) as c:
            row = c.execute(f"SELECT {_SESSIONS} FROM llmspell_sessions WHERE {MINE} AND id = %s",
                            (session_id,), prepare=True).fetchone()
        return _row(SESSION_COLUMNS, row) if row else None

    def list_sessions(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {_SESSIONS} FROM llmspell_sessions WHERE {MINE}"
        args: tuple[Any, ...] = ()
        if status:
            sql += " AND status = %s"
            args = (status,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_row(SESSION_COLUMNS, r) for r in rows]

    def count_sessions(self, conn: Any, status: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM llmspell_sessions WHERE {MINE} "
                                "AND status = %s", (status,)).fetchone()[0])

    def update_session(self, conn: Any, session_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(SESSION_COLUMNS)
        if unknown:
            raise StateError(f"unknown session fields: {sorted(unknown)}")
        sets = ", ".join(f"{k} = %s" for k in fields)
        values = _values(tuple(fields), fields)
        conn.execute(f"UPDATE llmspell_sessions SET {sets} WHERE {MINE} AND id = %s",
                     (*values, session_id))

    def expire_unchanged(self, conn: Any, session_id: str, updated_at: str) -> None:
        conn.execute(f"UPDATE llmspell_sessions SET status = 'expired' WHERE {MINE} "
                     "AND id = %s AND status = 'active' AND updated_at = %s",
                     (session_id, updated_at))

    def expire_idle(self, conn: Any, cutoff: str) -> int:
        return int(conn.execute(f"UPDATE llmspell_sessions SET status = 'expired' "
                                f"WHERE {MINE} AND status = 'active' AND updated_at < %s",
                                (cutoff,)).rowcount)

    def delete_session(self, session_id: str) -> bool:
        with self.write() as conn:
            hashes = [r[0] for r in conn.execute(
                f"SELECT DISTINCT hash FROM llmspell_artifacts WHERE {MINE} AND session_id = %s",
                (session_id,))]
            conn.execute(f"DELETE FROM llmspell_artifacts WHERE {MINE} AND session_id = %s",
                         (session_id,))
            gone = conn.execute(f"DELETE FROM llmspell_sessions WHERE {MINE} AND id = %s",
                                (session_id,)).rowcount
            for digest in hashes:
                self._release_blob(conn, digest)
            fault_point("sessions.delete.before_commit")
        return gone > 0

    # -- blobs ----------------------------------------------------------------------

    def prepare_blob(self, stored: bytes) -> None:
        """Nothing to prepare outside the transaction: content goes into the database."""
        return None

    def put_blob(self, conn: Any, digest: str, size: int, stored: bytes, compressed: bool,
                 prepared: None = None) -> None:
        """Inside a write transaction: store the content unless this tenant has it."""
        added = conn.execute(
            "INSERT INTO llmspell_blobs (hash, size, stored_size, compressed) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (digest, size, len(stored), compressed)).rowcount
        if not added:
            return
        view = memoryview(stored)
        with conn.cursor() as cur, cur.copy(
                "COPY llmspell_blob_chunks (hash, chunk, data) FROM STDIN") as copy:
            for number, start in enumerate(range(0, max(len(view), 1), CHUNK)):
                copy.write_row((digest, number, bytes(view[start:start + CHUNK])))

    def read_blob(self, digest: str) -> tuple[bytes, bool] | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT compressed FROM llmspell_blobs WHERE {MINE} AND hash = %s",
                               (digest,)).fetchone()
            if row is None:
                return None
            parts = bytearray()
            with conn.cursor(name="llmspell_blob") as cur:  # server-side: chunk by chunk
                cur.itersize = 4
                cur.execute(f"SELECT data FROM llmspell_blob_chunks WHERE {MINE} AND hash = %s "
                            "ORDER BY chunk", (digest,))
                for (data,) in cur:
                    parts += data
        return bytes(parts), bool(row[0])

    def _release_blob(self, conn: Any, digest: str) -> None:
        """Inside a write transaction: drop the blob if no artifact uses it any more."""
        conn.execute(f"DELETE FROM llmspell_blobs b WHERE {MINE} AND hash = %s AND NOT EXISTS "
                     "(SELECT 1 FROM llmspell_artifacts a WHERE a.tenant_id = b.tenant_id "
                     "AND a.hash = b.hash)", (digest,))

    # -- artifacts ------------------------------------------------------------------

    def insert_artifact(self, conn: Any, row: dict[str, Any]) -> None:
        conn.execute(f"INSERT INTO llmspell_artifacts ({_ARTIFACTS}) VALUES "
                     f"({_placeholders(ARTIFACT_COLUMNS)})", _values(ARTIFACT_COLUMNS, row))

    def next_version(self, conn: Any, session_id: str, name: str) -> int:
        row = conn.execute(f"SELECT max(version) FROM llmspell_artifacts WHERE {MINE} "
                           "AND session_id = %s AND name = %s", (session_id, name)).fetchone()
        return int(row[0] or 0) + 1

    def get_artifact(self, session_id: str, sequence: int) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {', '.join('a.' + c for c in ARTIFACT_COLUMNS)}, b.compressed, "
                "b.stored_size FROM llmspell_artifacts a LEFT JOIN llmspell_blobs b "
                "ON a.tenant_id = b.tenant_id AND a.hash = b.hash "
                f"WHERE a.{MINE} AND a.session_id = %s AND a.sequence = %s", (session_id, sequence)
            ).fetchone()
        return self._artifact(row) if row else None

    def _artifact(self, row: tuple[Any, ...]) -> dict[str, Any]:
        item = _row(ARTIFACT_COLUMNS, row[: len(ARTIFACT_COLUMNS)])
        item["compressed"] = bool(row[-2])
        item["stored_size"] = row[-1]
        return item

    def list_artifacts(self, session_id: str | None = None) -> list[dict[str, Any]]:
        sql = (f"SELECT {', '.join('a.' + c for c in ARTIFACT_COLUMNS)}, b.compressed, "
               "b.stored_size FROM llmspell_artifacts a LEFT JOIN llmspell_blobs b "
               "ON a.tenant_id = b.tenant_id AND a.hash = b.hash")
        sql += f" WHERE a.{MINE}"
        args: tuple[Any, ...] = ()
        if session_id is not None:
            sql += " AND a.session_id = %s"
            args = (session_id,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY a.created_at, a.sequence", args).fetchall()
        return [self._artifact(r) for r in rows]

    def delete_artifact(self, session_id: str, sequence: int) -> bool:
        with self.write() as conn:
            row = conn.execute(f"SELECT hash FROM llmspell_artifacts WHERE {MINE} "
                               "AND session_id = %s AND sequence = %s",
                               (session_id, sequence)).fetchone()
            if row is None:
                return False
            conn.execute(f"DELETE FROM llmspell_artifacts WHERE {MINE} AND session_id = %s "
                         "AND sequence = %s", (session_id, sequence))
            conn.execute("UPDATE llmspell_sessions SET artifact_count = artifact_count - 1 "
                         f"WHERE {MINE} AND id = %s", (session_id,))
            self._release_blob(conn, row[0])
            fault_point("sessions.delete_artifact.before_commit")
        return True
