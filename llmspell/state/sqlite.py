"""Opening llmspell's SQLite files safely: identify, version-check, initialise, never clobber.

Every database llmspell writes carries ``PRAGMA application_id = APPLICATION_ID`` and
``PRAGMA user_version = <format version>`` and a ``meta`` row naming its kind
(``state`` or ``sessions``). ``open_database`` refuses, with a message naming the path:
- a file that is not SQLite at all (corrupt, or some other file at that path);
- a SQLite file of another application (tables but a different application id);
- an llmspell file of the other kind, or of a newer format than this program knows.
A new file is made whole beside its path and linked into place, so an empty file at
the path is refused as truncated. Nothing is written to a refused file.

Connections use WAL, ``synchronous=NORMAL`` (a commit survives the process being killed;
only an OS crash or power loss can drop the last commits) and a busy timeout so two
processes can share one file. Connections are in autocommit mode: each statement is its
own transaction unless the caller opens one (``transaction``).
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StateError

APPLICATION_ID = 0x4C4C5350  # "LLSP"
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000


CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def read_only_fs(path: Path) -> bool:
    """Whether ``path`` (or its nearest existing parent) is on a read-only mount."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def disk_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has (almost) no room left."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stat = os.statvfs(path)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def storage_hint(path: Path, exc: BaseException) -> str:
    """Why a healthy file may fail to open: say which, so nobody moves a good file away."""
    code = getattr(exc, "sqlite_errorcode", None)
    err = getattr(exc, "errno", None)
    if read_only_fs(path) or code == sqlite3.SQLITE_READONLY or err == errno.EROFS:
        return (f" ({path.parent} is on a read-only file system; llmspell needs to write "
                "there, even to read: point the config at a writable path)")
    if code == sqlite3.SQLITE_FULL or err == errno.ENOSPC or disk_full(path):
        return f" (the disk holding {path.parent} is full)"
    if code in (sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH) or err in (errno.EACCES,
                                                                      errno.EPERM):
        return " (permission denied)"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return " (another process holds it locked)"
    if code == sqlite3.SQLITE_CANTOPEN:
        return f" (check that {path.parent} exists and is writable)"
    return ""


def failure_hint(path: Path | None, exc: BaseException) -> str:
    """For a statement that failed on an open store: a damaged file says so and what to
    do; otherwise why a healthy file may fail (``storage_hint``)."""
    if getattr(exc, "sqlite_errorcode", None) in CORRUPT_CODES:
        return (" (the file is damaged: restore it from a copy or a backup, or move it away"
                " to start afresh; llmspell does not repair it)")
    return storage_hint(path, exc) if path is not None else ""


def _refuse(path: Path, why: str) -> StateError:
    return StateError(f"{path}: {why}; refusing to use or overwrite it "
                      "(move the file away or point the config at another path)")


def check_file(path: Path) -> None:
    """Refuse a non-SQLite file before SQLite touches it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise _refuse(path, "is a directory, not an llmspell database") from None
    except OSError as exc:
        raise StateError(f"{path}: cannot read: {exc.strerror}") from None
    if not head:
        # llmspell creates its files whole (``_create``): an empty one was truncated
        raise _refuse(path, "is empty (0 bytes): a truncated llmspell database or some other "
                      "file (restore it from a copy, or delete it to start afresh)")
    if head != SQLITE_HEADER:
        raise _refuse(path, "is not an llmspell database (not a SQLite file; corrupt or foreign)")


def _create(path: Path, kind: str, format_version: int, schema: str) -> None:
    """Make a new database at ``path`` whole: built in a temp file beside it, then linked
    into place, so a kill never leaves an empty or half-made file at ``path`` (an empty
    file there is refused as truncated). Another process may win the race: its file stays."""
    for leftover in path.parent.glob(f".{path.name}.init-*"):
        try:
            if leftover.stat().st_mtime < time.time() - 3600:  # a kill left it long ago
                leftover.unlink()
        except OSError:
            pass
    tmp = path.with_name(f".{path.name}.init-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            _identify_and_init(conn, tmp, kind, format_version, schema)
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError as exc:  # a file system without hard links
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if not path.exists():
                os.replace(tmp, path)
        fsync_dir(path.parent)
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StateError(f"{path}: cannot create database: {why}"
                         + storage_hint(path, exc)) from None
    finally:
        for name in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            try:
                name.unlink(missing_ok=True)
            except OSError:
                pass  # (a read-only folder: nothing was made)


def open_database(path: Path | str, kind: str, format_version: int, schema: str
                  ) -> sqlite3.Connection:
    """Open (creating if absent) the llmspell database of ``kind`` at ``path``."""
    memory = str(path) == ":memory:"
    if not memory:
        path = Path(path)
        check_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"{path}: cannot create its folder: {exc.strerror}"
                             + storage_hint(path, exc)) from None
        if not path.exists():
            _create(path, kind, format_version, schema)
    where = Path(str(path))
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise StateError(f"{path}: cannot open database: {exc}"
                         + storage_hint(where, exc)) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _identify_and_init(conn, where, kind, format_version, schema)
        if not memory:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"{path}: cannot switch the database to WAL mode ({mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) in CORRUPT_CODES:
            raise _refuse(where, f"is corrupt or not an llmspell database ({exc})") from None
        raise StateError(f"{where}: cannot open database: {exc}" + storage_hint(where, exc)
                         ) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _identify_and_init(conn: sqlite3.Connection, path: Path, kind: str, format_version: int,
                       schema: str) -> None:
    # Look and initialise under one write lock: another process may be initialising the
    # same fresh file at this very moment, and it must never look "foreign" half-way.
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        if app_id == APPLICATION_ID:
            conn.execute("ROLLBACK")
            _check_existing(conn, path, kind, format_version)
            return
        if tables:
            raise _refuse(path, "is a SQLite database of another application (tables: "
                          + ", ".join(sorted(tables)[:5]) + ")")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta (key, value) VALUES ('kind', ?)", (kind,))
        conn.execute("INSERT INTO meta (key, value) VALUES ('format_version', ?)",
                     (str(format_version),))
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {format_version}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_existing(conn: sqlite3.Connection, path: Path, kind: str, format_version: int
                    ) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is None:
        raise _refuse(path, "is an llmspell database without its 'meta' table (damaged)")
    if row[0] != kind:
        raise _refuse(path, f"holds llmspell {row[0]}, not {kind}")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > format_version:
        raise StateError(
            f"{path}: written by a newer llmspell (format version {version}; this version "
            f"understands up to {format_version}); upgrade llmspell to use it")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def integrity_check(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (best effort on systems without dir fds)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
