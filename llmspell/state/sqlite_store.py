"""The durable state store: keys to JSON texts in a SQLite file (see ``store.py``)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from ..errors import StateError
from .sqlite import open_database, transaction
from .store import prefix_bounds

STATE_FORMAT_VERSION = 1

STATE_SCHEMA = """
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID
"""


class SQLiteStore:
    """Keys to JSON texts in a SQLite file (WAL, one transaction per write)."""

    backend = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.conn: sqlite3.Connection | None = open_database(
            self.path, "state", STATE_FORMAT_VERSION, STATE_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StateError(f"{self.path}: the state database is closed")
        return self.conn

    def _fail(self, action: str, exc: sqlite3.Error) -> StateError:
        return StateError(f"{action} failed on {self.path}: {exc}")

    def get(self, key: str) -> str | None:
        with self._lock:
            try:
                row = self._conn().execute(
                    "SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None
        return row[0] if row else None

    def put(self, key: str, text: str) -> None:
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (key, text, time.time()))
            except sqlite3.Error as exc:
                raise self._fail("write", exc) from None

    def delete(self, key: str) -> bool:
        with self._lock:
            try:
                cur = self._conn().execute("DELETE FROM state WHERE key = ?", (key,))
            except sqlite3.Error as exc:
                raise self._fail("delete", exc) from None
        return cur.rowcount > 0

    def keys(self, prefix: str = "") -> list[str]:
        low, high = prefix_bounds(prefix)
        with self._lock:
            try:
                if high is None:
                    rows = self._conn().execute(
                        "SELECT key FROM state WHERE key >= ? ORDER BY key", (low,))
                else:
                    rows = self._conn().execute(
                        "SELECT key FROM state WHERE key >= ? AND key < ? ORDER BY key",
                        (low, high))
                return [r[0] for r in rows]
            except sqlite3.Error as exc:
                raise self._fail("list", exc) from None

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            try:
                return list(self._conn().execute(
                    "SELECT key, value FROM state ORDER BY key"))
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None

    def replace_all(self, items: dict[str, str]) -> None:
        now = time.time()
        with self._lock:
            try:
                with transaction(self._conn()) as conn:
                    conn.execute("DELETE FROM state")
                    conn.executemany(
                        "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)",
                        [(k, v, now) for k, v in items.items()])
            except sqlite3.Error as exc:
                raise self._fail("restore", exc) from None

    def count(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT count(*) FROM state").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
