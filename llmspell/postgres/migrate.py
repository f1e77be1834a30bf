"""Numbered SQL migrations (``migrations/NNNN_name.sql``), applied in order.

All pending files are applied in one transaction under a transaction-level advisory lock,
so two processes that start at once both succeed: the second waits, then finds nothing
left to do. The versions applied are recorded in ``llmspell_schema_migrations``. A
database whose highest version is above the newest file this llmspell ships was written
by a newer llmspell: it is refused with a clear error and never altered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .database import Database, DatabaseError

# pg_advisory_xact_lock key: the bytes of "llmspell" read as a big-endian int64
LOCK_KEY = int.from_bytes(b"llmspell", "big") - (1 << 63)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS llmspell_schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class SchemaStatus:
    server: str
    current: int          # the highest version applied (0: none)
    latest: int           # the newest this llmspell ships
    pending: list[Migration]

    @property
    def newer(self) -> bool:
        return self.current > self.latest


def shipped() -> list[Migration]:
    """The migrations in the package, in version order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def _applied(conn: Any) -> int:
    exists = conn.execute(
        "SELECT to_regclass('llmspell_schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM llmspell_schema_migrations"
                       ).fetchone()
    return int(row[0])


def status(db: Database) -> SchemaStatus:
    """What is applied and what is pending (reads only)."""
    migrations = shipped()
    with db.transaction("read the schema version") as conn:
        current = _applied(conn)
    return SchemaStatus(db.server, current, migrations[-1].version if migrations else 0,
                        [m for m in migrations if m.version > current])


def _refuse_newer(db: Database, current: int, latest: int) -> None:
    if current > latest:
        raise DatabaseError(
            f"PostgreSQL server {db.server}: its llmspell schema is at version {current}, "
            f"written by a newer llmspell (this one knows up to {latest}); upgrade llmspell "
            "— the database was not changed")


def migrate(db: Database) -> list[Migration]:
    """Apply every pending migration (none when up to date); returns those applied."""
    migrations = shipped()
    latest = migrations[-1].version if migrations else 0
    with db.transaction("check the schema version") as conn:  # the common case: no lock
        current = _applied(conn)
    _refuse_newer(db, current, latest)
    if current == latest:
        return []
    with db.transaction("migrate the schema") as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(_BOOKKEEPING)
        current = _applied(conn)
        _refuse_newer(db, current, latest)
        done = []
        for migration in migrations:
            if migration.version <= current:
                continue
            conn.execute(migration.sql)
            conn.execute("INSERT INTO llmspell_schema_migrations (version, name) "
                         "VALUES (%s, %s)", (migration.version, migration.name))
            done.append(migration)
    return done
