"""The durable state store: keys to JSON texts in a SQLite file (see ``store.py``).

Format versions (``PRAGMA user_version``; the steps between them are in ``migrations.py``):

1. ``value TEXT``: every value is its JSON text.
2. ``value BLOB``: a value is its JSON text, or, when the JSON is over ``COMPRESS_ABOVE``
   bytes and compresses well, the zlib-compressed UTF-8 bytes of it (a BLOB). New files
   are created at 2.

The store reads both kinds of cell whatever the file's version (a text cell is JSON, a
BLOB is compressed JSON), and writes compressed cells only into a version-2 file, so a
version-1 file stays readable by the llmspell that wrote it until it is migrated.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import zlib
from pathlib import Path

from ..errors import StateError
from .sqlite import failure_hint, open_database, transaction
from .store import prefix_bounds, utf8_text

STATE_FORMAT_VERSION = 2  # the latest; new files are created at it
COMPRESS_ABOVE = 4096     # JSON texts longer than this are stored compressed (version 2)

STATE_SCHEMA = """
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID
"""

# what llmspell wrote at format version 1 (kept for migrations and their tests)
STATE_SCHEMA_V1 = """
CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID
"""


def encode_cell(text: str, version: int) -> str | bytes:
    """How a JSON text is stored in a file of format ``version``."""
    if version >= 2 and len(text) > COMPRESS_ABOVE:
        packed = zlib.compress(text.encode("utf-8", "surrogatepass"), 6)
        if len(packed) < len(text) * 0.9:
            return packed
    return utf8_text(text)


def decode_cell(cell: str | bytes) -> str:
    """The JSON text of a stored cell (text as is, a BLOB decompressed)."""
    if type(cell) is str:
        return cell
    try:
        return zlib.decompress(cell).decode("utf-8", "surrogatepass")
    except (zlib.error, UnicodeDecodeError, TypeError) as exc:
        raise StateError(f"a stored state value is damaged (not compressed JSON): {exc}"
                         ) from None


class SQLiteStore:
    """Keys to JSON texts in a SQLite file (WAL, one transaction per write)."""

    backend = "sqlite"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.conn: sqlite3.Connection | None = open_database(
            self.path, "state", STATE_FORMAT_VERSION, STATE_SCHEMA)
        self.version = self.read_version()

    def read_version(self) -> int:
        """The file's format version as stored now (another process may have migrated)."""
        with self._lock:
            return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StateError(f"{self.path}: the state database is closed")
        return self.conn

    def _fail(self, action: str, exc: sqlite3.Error) -> StateError:
        return StateError(f"{action} failed on {self.path}: {exc}"
                          + failure_hint(self.path, exc))

    def get(self, key: str) -> str | None:
        with self._lock:
            try:
                row = self._conn().execute(
                    "SELECT value FROM state WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None
        return decode_cell(row[0]) if row else None

    def put(self, key: str, text: str) -> None:
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (key, encode_cell(text, self.version), time.time()))
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
                rows = self._conn().execute(
                    "SELECT key, value FROM state ORDER BY key").fetchall()
            except sqlite3.Error as exc:
                raise self._fail("read", exc) from None
        return [(k, decode_cell(v)) for k, v in rows]

    def replace_all(self, items: dict[str, str]) -> None:
        now = time.time()
        with self._lock:
            try:
                with transaction(self._conn()) as conn:
                    conn.execute("DELETE FROM state")
                    conn.executemany(
                        "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)",
                        [(k, encode_cell(v, self.version), now) for k, v in items.items()])
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
