"""Format migrations of the durable state file (``State.migrate`` and friends, spec § 5).

A migration is a plain function registered under the format version it produces; it
gets the open connection inside the migration's transaction and returns how many
values it carried over and how many it rewrote:

    @migration(2, "values become BLOBs; JSON over 4 KiB is stored zlib-compressed")
    def m002_compress_large_values(conn): ...

``migrate(svc, target, ...)`` runs every step from the file's version up to ``target`` in
one write transaction (``BEGIN IMMEDIATE``), bumps ``PRAGMA user_version`` and the
``meta`` row in the same transaction, and rolls everything back if a step fails. With
``backup`` given (``backup_on_migration``), a full backup is taken first and the
migration does not start if it fails. Only upward steps exist. The memory backend has no
stored format: it is always at the latest version.

Versions are shown as strings (``"1"``, ``"2"``); ``2``, ``"2"``, ``"v2"`` and ``"2.0.0"``
all name version 2.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from .sqlite_store import STATE_FORMAT_VERSION, encode_cell

if TYPE_CHECKING:
    from .service import StateService


@dataclass(frozen=True)
class Migration:
    version: int  # the version the step produces (from version - 1)
    summary: str
    apply: Callable[[sqlite3.Connection], tuple[int, int]]


MIGRATIONS: dict[int, Migration] = {}


def migration(version: int, summary: str
              ) -> Callable[[Callable[[sqlite3.Connection], tuple[int, int]]],
                            Callable[[sqlite3.Connection], tuple[int, int]]]:
    def register(fn: Callable[[sqlite3.Connection], tuple[int, int]]
                 ) -> Callable[[sqlite3.Connection], tuple[int, int]]:
        if version in MIGRATIONS:
            raise RuntimeError(f"two state migrations produce version {version}")
        MIGRATIONS[version] = Migration(version, summary, fn)
        return fn
    return register


@migration(2, "values become BLOBs; JSON over 4 KiB is stored zlib-compressed")
def m002_compress_large_values(conn: sqlite3.Connection) -> tuple[int, int]:
    conn.execute("CREATE TABLE state_v2 (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                 "updated_at REAL NOT NULL) WITHOUT ROWID")
    carried = rewritten = 0
    rows = conn.execute("SELECT key, value, updated_at FROM state").fetchall()
    for key, cell, updated_at in rows:
        if type(cell) is not str:
            raise StateError(f"value of key '{key}' is not JSON text, as format 1 requires")
        stored = encode_cell(cell, 2)
        rewritten += stored is not cell
        carried += 1
        conn.execute("INSERT INTO state_v2 (key, value, updated_at) VALUES (?, ?, ?)",
                     (key, stored, updated_at))
    conn.execute("DROP TABLE state")
    conn.execute("ALTER TABLE state_v2 RENAME TO state")
    return carried, rewritten


LATEST = max([1, *MIGRATIONS])
KNOWN = list(range(1, LATEST + 1))
assert LATEST == STATE_FORMAT_VERSION, "every format version needs its migration step"

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", re.IGNORECASE)


class VersionError(StateError):
    """A version that cannot be parsed (``State.migrate`` raises it)."""


def parse_version(value: Any) -> int | None:
    """The format version ``value`` names; None for a well-formed but unknown one
    (like ``2.1.0``); ``VersionError`` when it cannot be parsed at all."""
    if isinstance(value, bool):
        raise VersionError(f"invalid version {value!r}: expected a number such as 2")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _VERSION.fullmatch(value.strip())
        if match:
            if any(part and int(part) for part in match.groups()[1:]):
                return None
            return int(match.group(1))
    raise VersionError(f"invalid version {value!r}: expected a number such as 2 or "
                       "'2.0.0'")


def schema_versions() -> list[str]:
    return [str(v) for v in KNOWN]


def current_version(svc: StateService) -> int:
    store = svc.store
    if getattr(store, "backend", "") != "sqlite":
        # memory has no format; PostgreSQL's schema has its own numbered migrations,
        # applied when the server is opened (`llmspell db migrate`, postgres/migrate.py)
        return LATEST
    store.version = store.read_version()  # type: ignore[union-attr]
    return int(store.version)  # type: ignore[union-attr]


def migration_status(svc: StateService, enabled: bool = True) -> dict[str, Any]:
    try:
        current = current_version(svc)
    except StateError as exc:
        return {"current_version": "unknown", "error": f"No current schema found: {exc}"}
    targets = [str(v) for v in KNOWN if v > current]
    return {"current_version": str(current), "latest_version": str(LATEST),
            "is_latest": current >= LATEST, "migration_available": bool(targets),
            "migration_targets": targets, "total_schemas": len(KNOWN),
            "backend": svc.backend, "migration_enabled": enabled}


def _failed(why: str, current: int | str, target: Any) -> dict[str, Any]:
    return {"success": False, "error": f"Migration failed: {why}",
            "from_version": str(current), "to_version": str(target)}


def migrate(svc: StateService, target_version: Any, *, enabled: bool,
            backup: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Bring the state file to ``target_version`` (see the module text)."""
    target = parse_version(target_version)  # raises on nonsense
    current = current_version(svc)
    if target is None or target not in KNOWN:
        return _failed(f"unknown version {target_version!r} (known: "
                       f"{', '.join(schema_versions())})", current, target_version)
    if target == current:
        return {"success": True, "status": "already_current", "current_version": str(current),
                "target_version": str(target)}
    if target < current:
        return _failed(f"cannot migrate down from version {current} to {target} (restore a "
                       "backup taken before the migration instead)", current, target)
    if not enabled:
        return _failed("migrations are disabled: set [runtime.state_persistence] "
                       "migration_enabled = true", current, target)
    result: dict[str, Any] = {}
    if backup is not None:
        try:
            made = backup(f"before state migration {current} -> {target}")
        except (StateError, OSError) as exc:
            return _failed(f"the backup before migrating failed: {exc}", current, target)
        result["backup_id"] = made.get("backup_id")
    store = svc.store
    carried = rewritten = 0
    steps: list[str] = []
    with store._lock:  # type: ignore[union-attr]
        conn = store._conn()  # type: ignore[union-attr]
        try:
            conn.execute("BEGIN IMMEDIATE")
            start = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if start >= target:  # another process got there first
                conn.execute("ROLLBACK")
                store.version = start  # type: ignore[union-attr]
                return {"success": True, "status": "already_current",
                        "current_version": str(start), "target_version": str(target)}
            for version in range(start + 1, target + 1):
                step = MIGRATIONS[version]
                n, changed = step.apply(conn)
                carried = max(carried, n)
                rewritten += changed
                steps.append(f"{version - 1} -> {version}: {step.summary}")
            conn.execute(f"PRAGMA user_version = {int(target)}")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'format_version'",
                         (str(target),))
            conn.execute("COMMIT")
        except (sqlite3.Error, StateError) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return {**_failed(str(exc), current, target), **result}
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        store.version = target  # type: ignore[union-attr]
    return {"success": True, "from_version": str(start), "to_version": str(target),
            "items_migrated": carried, "items_rewritten": rewritten, "steps": steps,
            "errors": [], "warnings": [], **result}
