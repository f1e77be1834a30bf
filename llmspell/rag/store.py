"""The vector store: one hnswlib index per namespace, content and metadata in SQLite.

- An index starts with room for ``INITIAL_CAPACITY`` vectors and doubles (hnswlib
  ``resize_index``) as vectors arrive; ``max_elements`` is a cap per namespace, never
  allocated up front. Adding past the cap raises :class:`StoreFull`.
- Deletes use hnswlib's mark-deleted (and, with ``allow_replace_deleted``, new vectors
  reuse those slots); the SQLite rows go at once.
- Without ``path`` everything lives in memory (SQLite ``:memory:``). With ``path``:
  ``<path>/rag.sqlite3`` holds content, metadata, expiry times and each vector (SQLite
  is the source of truth); ``<path>/indexes/*.hnsw`` are the graphs, written by
  :meth:`save` (and on close). On open, a graph file is reconciled with SQLite: rows
  missing from it are added, labels no longer in SQLite are marked deleted, so a run
  that died before saving loses nothing.
- Every graph file has its SHA-256 in SQLite (``index_files``), recorded under an
  exclusive lock on ``indexes/.lock`` as the file replaces the old one. On open a file
  whose checksum does not match (any damage: flipped bytes, truncation), or, for a file
  from before checksums, whose structure is inconsistent, is not handed to hnswlib (a
  damaged graph can crash it): it is rebuilt from the SQLite rows, saying so once.
- :meth:`save` writes a temp file, fsyncs it and checks it is complete before it
  replaces the old graph; a failed write (a full disk) raises and keeps the old file.
- Several processes may share one ``path``: labels are taken inside the write
  transaction, so concurrent writers never collide, and each open reconciles the graph
  with the rows, so nothing one of them wrote is lost.
- A store remembers its dimensions and metric; opening it with others raises
  :class:`DimensionMismatch`.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import mmap
import os
import re
import sqlite3
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..faultpoint import fault_point
from ..state.sqlite import CORRUPT_CODES, fsync_dir, read_only_fs

INITIAL_CAPACITY = 1024
EXACT_FILTER_LIMIT = 5000  # filtered searches over at most this many vectors are exact
SPACES = {"cosine": "cosine", "euclidean": "l2", "l2": "l2", "inner_product": "ip",
          "innerproduct": "ip", "ip": "ip", "dot": "ip"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    name TEXT PRIMARY KEY, next_label INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL, label INTEGER NOT NULL, id TEXT NOT NULL, doc_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL DEFAULT 0, content TEXT NOT NULL, metadata TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL, vector BLOB,
    PRIMARY KEY (namespace, label));
CREATE INDEX IF NOT EXISTS vectors_doc ON vectors (namespace, doc_id);
CREATE INDEX IF NOT EXISTS vectors_expiry ON vectors (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS index_files (
    namespace TEXT PRIMARY KEY, sha256 TEXT NOT NULL, previous_sha256 TEXT,
    size INTEGER NOT NULL, saved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    namespace TEXT PRIMARY KEY, ttl REAL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_usage (
    tenant TEXT PRIMARY KEY, documents_ingested INTEGER NOT NULL DEFAULT 0,
    embeddings_generated INTEGER NOT NULL DEFAULT 0,
    embedding_tokens INTEGER NOT NULL DEFAULT 0,
    searches_performed INTEGER NOT NULL DEFAULT 0, last_activity REAL);
"""
BUSY_TIMEOUT_SECONDS = 30.0
DAMAGED = (" (the file is damaged: restore it from a copy, or move the folder away and "
           "ingest again; llmspell does not repair it)")
# hnswlib's file header: offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, label_offset, offsetData (size_t), maxlevel (int),
# enterpoint_node (uint32), maxM, maxM0, M (size_t), mult (double), ef_construction
HNSW_HEADER = struct.Struct("<6QiI3QdQ")


class StoreFull(StoreError):
    pass


class DimensionMismatch(StoreError):
    pass


@dataclass
class Record:
    """One vector's data: the chunk text, its document and its metadata."""

    id: str
    doc_id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_index: int = 0
    expires_at: float | None = None


@dataclass
class Hit:
    id: str
    doc_id: str
    content: str
    metadata: dict[str, Any]
    score: float
    distance: float
    chunk_index: int
    namespace: str


def checked_vectors(vectors: Any, count: int, dimensions: int) -> Any:
    """``vectors`` as a float32 matrix of ``count`` rows of ``dimensions``, or the error."""
    import numpy as np

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != count:
        raise StoreError("records and vectors differ in number")
    if vectors.shape[1] != dimensions:
        raise DimensionMismatch(f"vectors have {vectors.shape[1]} dimensions; the store "
                                f"has {dimensions}")
    return vectors


def metadata_matcher(filters: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A predicate over metadata: a value matches an equal value, a list any of its items
    (the postgres store writes the same rule as SQL)."""
    def matches(meta: dict[str, Any]) -> bool:
        for key, want in filters.items():
            have = meta.get(key)
            if isinstance(want, list):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True
    return matches


@dataclass
class _Namespace:
    name: str
    index: Any
    live: int = 0  # vectors not deleted (kept here: COUNT(*) per search costs O(n))
    dirty: bool = False


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_index_file(path: Path, dimensions: int, *, links: bool = True,
                     expect_count: int | None = None) -> str | None:
    """What is structurally wrong with an hnswlib graph file (None: nothing found).

    Checks the header against ``dimensions``, that every section is there and the file
    ends where the last one does, and (``links``) that every level-0 neighbour id names
    an element of the file: the damage that makes hnswlib read out of bounds.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < HNSW_HEADER.size:
                return f"{size} bytes, shorter than an index header"
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _check_index_data(data, size, dimensions, links, expect_count)
    except (OSError, ValueError, BufferError) as exc:
        return f"cannot read it: {getattr(exc, 'strerror', None) or exc}"


def _check_index_data(data: Any, size: int, dimensions: int, links: bool,
                      expect_count: int | None) -> str | None:
    import numpy as np

    (offset0, max_elements, count, per_element, label_offset, offset_data, max_level,
     enter, max_m, max_m0, m, _mult, _efc) = HNSW_HEADER.unpack_from(data)
    links0 = max_m0 * 4 + 4
    if (offset0 != 0 or not 0 < m <= 10_000 or max_m != m or max_m0 != 2 * m
            or offset_data != links0 or label_offset != links0 + dimensions * 4
            or per_element != label_offset + 8 or count > max_elements
            or not 0 <= max_level < 256
            or (count and enter >= count)):
        return "inconsistent header"
    if expect_count is not None and count != expect_count:
        return f"{count} elements, expected {expect_count}"
    pos = HNSW_HEADER.size + count * per_element
    if pos > size:
        return f"truncated ({size} bytes)"
    level0 = np.frombuffer(data, dtype=np.uint8, count=count * per_element,
                           offset=HNSW_HEADER.size).reshape(count, per_element)
    if links and count:
        step = 65536
        for start in range(0, count, step):
            block = level0[start:start + step]
            counts = block[:, :2].copy().view("<u2").ravel()
            if (counts > max_m0).any():
                return "a neighbour list is longer than the graph allows"
            ids = block[:, 4:links0].copy().view("<u4")
            used = np.arange(max_m0) < counts[:, None]
            if (ids[used] >= count).any():
                return "a neighbour id points outside the graph"
    upper = max_m * 4 + 4
    unpack = struct.Struct("<I").unpack_from
    for _ in range(count):
        if pos + 4 > size:
            return f"truncated ({size} bytes)"
        (length,) = unpack(data, pos)
        if length % upper or length > upper * max_level:
            return "inconsistent upper-level links"
        pos += 4 + length
    if pos != size:
        return f"{size} bytes, but its sections end at {pos}"
    return None


def _file_name(namespace: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", namespace)[:40]
    digest = hashlib.sha1(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe}-{digest}.hnsw"


class VectorStore:
    backend = "hnsw"

    def __init__(self, dimensions: int, *, metric: str = "cosine", m: int = 16,
                 ef_construction: int = 200, ef_search: int = 50,
                 max_elements: int = 1_000_000, seed: int | None = None,
                 allow_replace_deleted: bool = True, num_threads: int | None = None,
                 path: str | Path | None = None,
                 initial_capacity: int = INITIAL_CAPACITY,
                 max_memory_mb: int | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        import hnswlib  # noqa: F401  (fail early and clearly if it is missing)

        if dimensions < 1:
            raise StoreError(f"dimensions must be positive, got {dimensions}")
        space = SPACES.get(metric.lower())
        if space is None:
            raise StoreError(f"unknown metric '{metric}' (use cosine, euclidean or "
                             "inner_product)")
        if max_elements < 1:
            raise StoreError(f"max_elements must be positive, got {max_elements}")
        self.dimensions = dimensions
        self.metric = metric.lower()
        self.space = space
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.max_elements = max_elements
        self.seed = seed if seed is not None else 100
        self.allow_replace_deleted = allow_replace_deleted
        self.num_threads = num_threads or -1
        self.initial_capacity = max(1, min(initial_capacity, max_elements))
        # hnswlib's allocation per slot: the vector, level-0 links (2*M), label, list
        # header, plus upper layers (~1/M of the nodes with M links each)
        self._slot_bytes = dimensions * 4 + 2 * m * 4 + 8 + 4 + 2 * m + 16
        self.max_memory_bytes = max_memory_mb * 2**20 if max_memory_mb else None
        self.versions: dict[str, int] = {}  # bumped on every change (search caches)
        self.path = Path(path).expanduser() if path else None
        self.warn = warn or (lambda message: print(message, file=sys.stderr, flush=True))
        self._open: dict[str, _Namespace] = {}
        self.db = self._open_db()
        try:
            self._check_meta()
            # skip the expiry query on every search until some vector has an expiry
            self._expiring = self.db.execute(
                "SELECT 1 FROM vectors WHERE expires_at IS NOT NULL LIMIT 1"
            ).fetchone() is not None
        except sqlite3.Error as exc:
            self.db.close()
            raise self.explain(exc) from None

    # -- set-up -----------------------------------------------------------------

    def _open_db(self) -> sqlite3.Connection:
        """The SQLite side; an error names the file and, when it is that, a read-only
        folder (SQLite alone only says "unable to open database file")."""
        if self.path is None:
            db = sqlite3.connect(":memory:")
            db.executescript(SCHEMA)
            return db
        where = self.path / "rag.sqlite3"
        self._refuse_lost_rows(where)
        try:
            (self.path / "indexes").mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(where), timeout=BUSY_TIMEOUT_SECONDS)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(self._open_failure(where, exc)) from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(self._open_failure(where, exc)) from None
        self._sweep_temp_files()
        return db

    def explain(self, exc: Exception) -> StoreError:
        """A SQLite failure of this store, naming its file (and, if damaged, what to do)."""
        where = self.path / "rag.sqlite3" if self.path else "in memory"
        message = f"the vector store {where}: {exc}"
        if getattr(exc, "sqlite_errorcode", None) in CORRUPT_CODES:
            message += DAMAGED
        return StoreError(message)

    def _open_failure(self, where: Path, exc: Exception) -> str:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"cannot open the vector store {where}: {why}"
        if getattr(exc, "sqlite_errorcode", None) in CORRUPT_CODES:
            message += DAMAGED
        if read_only_fs(self.path) or (isinstance(exc, OSError) and exc.errno == errno.EROFS):
            message += (f" ({self.path} is on a read-only file system; the store needs to "
                        "write there: point rag.vector_storage.persistence_path at a "
                        "writable folder)")
        elif isinstance(exc, OSError) and exc.errno == errno.EACCES:
            message += " (permission denied)"
        return message

    def _refuse_lost_rows(self, where: Path) -> None:
        """Index files without their rows: ``rag.sqlite3`` was deleted or truncated. Opening
        would start an empty store and drop every vector from the indexes at exit."""
        try:
            size = where.stat().st_size
        except FileNotFoundError:
            size = 0
        except OSError:
            return
        if size == 0 and any((self.path / "indexes").glob("*.hnsw")):  # type: ignore[operator]
            state = "is empty (0 bytes)" if where.exists() else "is missing"
            raise StoreError(f"cannot open the vector store {where}: it {state} but "
                             f"{self.path / 'indexes'} holds indexes; the documents' rows "
                             "are lost. Restore rag.sqlite3 from a copy, or move the folder "
                             "away and ingest again")

    def _sweep_temp_files(self, older_than: float = 3600.0) -> None:
        """Temp files of saves that a kill interrupted (never recent ones: another process
        may be saving right now)."""
        assert self.path is not None
        cutoff = time.time() - older_than
        for leftover in (self.path / "indexes").glob("*.tmp"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except OSError:
                pass

    def _check_meta(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            with self.db:  # OR IGNORE: another process may be initialising it too
                self.db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)",
                                    [("dimensions", str(self.dimensions)),
                                     ("metric", self.space)])
            rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        dims, space = int(rows.get("dimensions", self.dimensions)), rows.get("metric")
        if dims != self.dimensions or (space and space != self.space):
            raise DimensionMismatch(
                f"the vector store at {self.path} holds {dims}-dim vectors ({space}); "
                f"rag.vector_storage is {self.dimensions} dims ({self.space}). Use the "
                "same dimensions and metric, or another persistence_path")

    def _new_index(self, capacity: int) -> Any:
        import hnswlib

        index = hnswlib.Index(space=self.space, dim=self.dimensions)
        index.init_index(max_elements=capacity, ef_construction=self.ef_construction,
                         M=self.m, random_seed=self.seed,
                         allow_replace_deleted=self.allow_replace_deleted)
        index.set_ef(self.ef_search)
        return index

    def _file(self, namespace: str) -> Path | None:
        return self.path / "indexes" / _file_name(namespace) if self.path else None

    def _ns(self, namespace: str, create: bool = False) -> _Namespace | None:
        ns = self._open.get(namespace)
        if ns is not None:
            return ns
        exists = self.db.execute("SELECT 1 FROM namespaces WHERE name = ?",
                                 (namespace,)).fetchone()
        if not exists:
            if not create:
                return None
            with self.db:
                self.db.execute("INSERT OR IGNORE INTO namespaces (name, next_label, "
                                "created_at) VALUES (?, 0, ?)", (namespace, time.time()))
            ns = _Namespace(namespace, self._new_index(self.initial_capacity))
        else:
            ns = self._load(namespace)
        self._open[namespace] = ns
        return ns

    @contextmanager
    def _index_lock(self, exclusive: bool) -> Iterator[None]:
        """Between processes: a graph file and its recorded checksum change together."""
        assert self.path is not None
        lock = self.path / "indexes" / ".lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            try:  # a read-only store: nobody can be writing it
                fd = os.open(lock, os.O_RDONLY)
            except OSError:
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def _damage(self, namespace: str, file: Path) -> str | None:
        """Why the graph file must not be loaded (None: it is what was saved)."""
        row = self.db.execute("SELECT sha256, previous_sha256 FROM index_files "
                              "WHERE namespace = ?", (namespace,)).fetchone()
        if row is None:  # saved before checksums were kept: check its structure
            return check_index_file(file, self.dimensions)
        try:
            digest = _sha256(file)
        except OSError as exc:
            return f"cannot read it: {exc.strerror}"
        return None if digest in row else "checksum mismatch"

    def _read_index(self, namespace: str, file: Path) -> tuple[Any, bool]:
        """The saved graph (None if absent or damaged) and whether it has a checksum."""
        import hnswlib

        with self._index_lock(exclusive=False):
            if not file.is_file():
                return None, False
            damage = self._damage(namespace, file)
            if damage is None:
                index = hnswlib.Index(space=self.space, dim=self.dimensions)
                try:
                    index.load_index(str(file),
                                     allow_replace_deleted=self.allow_replace_deleted)
                except (RuntimeError, MemoryError) as exc:
                    damage = f"unreadable: {exc}"
        if damage is not None:
            self.warn(f"RAG: the index file {file} (namespace '{namespace}') is damaged "
                      f"({damage}); rebuilding it from {self.path / 'rag.sqlite3'}")
            return None, False
        if index.dim != self.dimensions:
            raise DimensionMismatch(f"index file {file} has {index.dim}-dim vectors; "
                                    f"rag.vector_storage is {self.dimensions} dims")
        index.set_ef(self.ef_search)
        checked = self.db.execute("SELECT 1 FROM index_files WHERE namespace = ?",
                                  (namespace,)).fetchone() is not None
        return index, checked

    def _load(self, namespace: str) -> _Namespace:
        """Open a persisted namespace: its graph file reconciled with SQLite."""
        import numpy as np

        live = dict(self.db.execute(
            "SELECT label, vector FROM vectors WHERE namespace = ?", (namespace,)).fetchall())
        file = self._file(namespace)
        index, checked = (None, False) if file is None else self._read_index(namespace, file)
        if index is None:
            index = self._new_index(max(self.initial_capacity, len(live)))
            present: set[int] = set()
        else:
            present = set(index.get_ids_list())
        ns = _Namespace(namespace, index, live=len(live))
        stale = present - set(live)
        for label in stale:
            try:
                index.mark_deleted(label)
            except RuntimeError:
                pass  # already marked deleted in the file
        missing = [label for label in live if label not in present]
        if missing:
            blobs = [live[label] for label in missing]
            if any(b is None for b in blobs):
                raise StoreError(f"namespace '{namespace}': vectors missing from storage")
            vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(
                len(missing), self.dimensions)
            self._grow(ns, len(missing))
            index.add_items(vectors, np.asarray(missing, dtype=np.int64),
                            num_threads=self.num_threads,
                            replace_deleted=self.allow_replace_deleted)
        # a graph without a recorded checksum is saved again to get one
        ns.dirty = bool(stale or missing) or (file is not None and not checked)
        return ns

    def _grow(self, ns: _Namespace, extra: int) -> None:
        index = ns.index
        live = ns.live
        # with replace_deleted, new vectors fill mark-deleted slots first
        used = live if self.allow_replace_deleted else index.get_current_count()
        needed = used + extra
        capacity = index.get_max_elements()
        if needed <= capacity:
            return
        if live + extra > self.max_elements:
            raise StoreFull(f"namespace '{ns.name}' is full: {live} + {extra} vectors exceeds "
                            f"max_elements {self.max_elements}")
        new = min(max(needed, capacity * 2), max(self.max_elements, needed))
        if self.max_memory_bytes:
            others = sum(self._slot_bytes * o.index.get_max_elements()
                         for o in self._open.values() if o is not ns)
            room = (self.max_memory_bytes - others) // self._slot_bytes
            if room < needed:
                raise StoreFull(
                    f"namespace '{ns.name}' cannot grow to {needed} vectors: the indexes "
                    f"would pass max_memory_mb {self.max_memory_bytes // 2**20} (about "
                    f"{self._slot_bytes} bytes per vector)")
            new = min(new, room)
        index.resize_index(new)

    def memory_bytes(self) -> int:
        """Estimated memory of the open indexes (what hnswlib has allocated)."""
        return sum(self._slot_bytes * o.index.get_max_elements() for o in self._open.values())

    # -- writes -------------------------------------------------------------------

    def add(self, namespace: str, records: list[Record], vectors: Any) -> list[int]:
        """Add vectors (rows of ``vectors``, unit length for cosine) with their records."""
        import numpy as np

        vectors = checked_vectors(vectors, len(records), self.dimensions)
        if not records:
            return []
        ns = self._ns(namespace, create=True)
        assert ns is not None
        self._grow(ns, len(records))
        now = time.time()
        keep_vectors = self.path is not None
        with self.db:
            # the labels are read under the write lock: another process sharing this
            # store may be adding to the same namespace at this moment
            if not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
            (first,) = self.db.execute("SELECT next_label FROM namespaces WHERE name = ?",
                                       (namespace,)).fetchone()
            labels = list(range(first, first + len(records)))
            rows = [(namespace, label, r.id, r.doc_id, r.chunk_index, r.content,
                     json.dumps(r.metadata, ensure_ascii=False), now, r.expires_at,
                     vectors[i].tobytes() if keep_vectors else None)
                    for i, (label, r) in enumerate(zip(labels, records, strict=True))]
            self.db.executemany("INSERT INTO vectors VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("UPDATE namespaces SET next_label = ? WHERE name = ?",
                            (first + len(records), namespace))
        try:
            ns.index.add_items(vectors, np.asarray(labels, dtype=np.int64),
                               num_threads=self.num_threads,
                               replace_deleted=self.allow_replace_deleted)
        except Exception:
            with self.db:
                self.db.execute("DELETE FROM vectors WHERE namespace = ? AND label >= ?",
                                (namespace, first))
            raise
        ns.live += len(records)
        ns.dirty = True
        self.versions[namespace] = self.versions.get(namespace, 0) + 1
        if any(r.expires_at is not None for r in records):
            self._expiring = True
        return labels

    def _mark_deleted(self, namespace: str, labels: list[int]) -> None:
        ns = self._ns(namespace)
        if ns is None:
            return
        ns.live -= len(labels)
        self.versions[namespace] = self.versions.get(namespace, 0) + 1
        for label in labels:
            try:
                ns.index.mark_deleted(int(label))
            except RuntimeError:
                pass
        ns.dirty = True

    def delete_where(self, namespace: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        sql = "SELECT label FROM vectors WHERE namespace = ?" + (f" AND {where}" if where else "")
        labels = [r[0] for r in self.db.execute(sql, (namespace, *params)).fetchall()]
        if not labels:
            return 0
        self._mark_deleted(namespace, labels)
        with self.db:
            self.db.execute("DELETE FROM vectors WHERE namespace = ?"
                            + (f" AND {where}" if where else ""), (namespace, *params))
        return len(labels)

    def delete_doc(self, namespace: str, doc_id: str) -> int:
        return self.delete_where(namespace, "doc_id = ?", (doc_id,))

    def delete_namespace(self, namespace: str) -> int:
        """Remove a namespace's vectors; returns how many there were."""
        removed = self.db.execute("SELECT COUNT(*) FROM vectors WHERE namespace = ?",
                                  (namespace,)).fetchone()[0]
        with self.db:
            self.db.execute("DELETE FROM vectors WHERE namespace = ?", (namespace,))
            self.db.execute("DELETE FROM namespaces WHERE name = ?", (namespace,))
            self.db.execute("DELETE FROM index_files WHERE namespace = ?", (namespace,))
        self._open.pop(namespace, None)
        self.versions[namespace] = self.versions.get(namespace, 0) + 1
        file = self._file(namespace)
        if file is not None and file.exists():
            file.unlink()
        return removed

    def purge_expired(self, namespace: str | None = None, now: float | None = None) -> int:
        """Delete vectors whose ``expires_at`` has passed; returns how many."""
        if not self._expiring:
            return 0
        now = time.time() if now is None else now
        sql = "SELECT DISTINCT namespace FROM vectors WHERE expires_at IS NOT NULL " \
              "AND expires_at <= ?"
        params: tuple[Any, ...] = (now,)
        if namespace is not None:
            sql += " AND namespace = ?"
            params = (now, namespace)
        total = 0
        for (name,) in self.db.execute(sql, params).fetchall():
            total += self.delete_where(name, "expires_at IS NOT NULL AND expires_at <= ?",
                                       (now,))
        return total

    def set_expiry(self, namespace: str, expires_at: float | None) -> None:
        if expires_at is not None:
            self._expiring = True
        with self.db:
            self.db.execute("UPDATE vectors SET expires_at = ? WHERE namespace = ?",
                            (expires_at, namespace))

    # -- reads --------------------------------------------------------------------

    def count(self, namespace: str | None = None) -> int:
        if namespace is None:
            return self.db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM vectors WHERE namespace = ?",
                               (namespace,)).fetchone()[0]

    def namespaces(self, prefix: str | None = None) -> list[str]:
        rows = self.db.execute("SELECT name FROM namespaces ORDER BY name").fetchall()
        return [r[0] for r in rows if prefix is None or r[0].startswith(prefix)]

    def stats(self, namespace: str | None = None) -> dict[str, Any]:
        sql = ("SELECT COUNT(*), COUNT(DISTINCT namespace || char(0) || doc_id), "
               "COALESCE(SUM(LENGTH(CAST(content AS BLOB)) + LENGTH(CAST(metadata AS BLOB))), 0)"
               " FROM vectors")
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " WHERE namespace = ?"
            params = (namespace,)
        vectors, documents, text_bytes = self.db.execute(sql, params).fetchone()
        out: dict[str, Any] = {
            "total_vectors": vectors,
            "total_documents": documents,
            "total_storage_bytes": text_bytes + vectors * self.dimensions * 4,
            "dimensions": self.dimensions,
            "metric": self.metric,
        }
        if namespace is None:
            out["namespaces"] = len(self.namespaces())
        else:
            ns = self._open.get(namespace)
            out["index_capacity"] = ns.index.get_max_elements() if ns else 0
        return out

    def _score(self, distance: float) -> float:
        if self.space == "cosine":
            return 1.0 - distance
        if self.space == "ip":
            return 1.0 - distance  # hnswlib's ip distance is 1 - dot
        return 1.0 / (1.0 + float(distance) ** 0.5)

    def search(self, namespace: str, vector: Any, k: int = 10, *,
               filters: dict[str, Any] | None = None,
               where: Callable[[dict[str, Any]], bool] | None = None,
               threshold: float | None = None) -> list[Hit]:
        """The ``k`` nearest vectors of a namespace (best first); ``filters`` (see
        ``metadata_matcher``) or a ``where`` predicate filter by metadata, ``threshold``
        drops hits scoring below it."""
        import numpy as np

        if filters:
            where = metadata_matcher(filters)
        self.purge_expired(namespace)
        ns = self._ns(namespace)
        if ns is None or ns.live <= 0 or k < 1:
            return []
        live = ns.live
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimensions:
            raise DimensionMismatch(f"query vector has {query.shape[1]} dimensions; the store "
                                    f"has {self.dimensions}")
        if where is not None:
            allowed = [label for label, meta in self.db.execute(
                "SELECT label, metadata FROM vectors WHERE namespace = ?", (namespace,))
                if where(json.loads(meta))]
            if not allowed:
                return []
            if len(allowed) <= EXACT_FILTER_LIMIT:
                pairs = self._exact(ns, query[0], allowed, k)
            else:
                allowed_set = set(allowed)
                pairs = self._knn(ns, query, min(k, len(allowed)),
                                  lambda label: label in allowed_set)
        else:
            pairs = self._knn(ns, query, min(k, live), None)
        hits = self._hits(namespace, pairs)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        return hits

    def _knn(self, ns: _Namespace, query: Any, k: int,
             flt: Callable[[int], bool] | None) -> list[tuple[int, float]]:
        ns.index.set_ef(max(self.ef_search, k))
        while True:
            try:
                labels, distances = ns.index.knn_query(query, k=k, num_threads=1, filter=flt)
                break
            except RuntimeError:
                # fewer than k reachable (many deleted or filtered out): ask for fewer
                if k == 1:
                    return []
                k = max(1, k // 2)
        return [(int(a), float(d)) for a, d in zip(labels[0], distances[0], strict=True)]

    def _exact(self, ns: _Namespace, query: Any, labels: list[int],
               k: int) -> list[tuple[int, float]]:
        import numpy as np

        data = np.asarray(ns.index.get_items(labels), dtype=np.float32)
        if self.space == "cosine":
            norms = np.linalg.norm(data, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
            dist = 1.0 - (data @ query) / np.clip(norms, 1e-12, None)
        elif self.space == "ip":
            dist = 1.0 - data @ query
        else:
            dist = ((data - query) ** 2).sum(axis=1)
        order = np.argsort(dist)[:k]
        return [(labels[i], float(dist[i])) for i in order]

    def _hits(self, namespace: str, pairs: list[tuple[int, float]]) -> list[Hit]:
        if not pairs:
            return []
        marks = ",".join("?" * len(pairs))
        rows = {r[0]: r for r in self.db.execute(
            f"SELECT label, id, doc_id, content, metadata, chunk_index FROM vectors "
            f"WHERE namespace = ? AND label IN ({marks})",
            (namespace, *[p[0] for p in pairs]))}
        out = []
        for label, dist in pairs:
            row = rows.get(label)
            if row is None:
                continue  # deleted meanwhile
            out.append(Hit(row[1], row[2], row[3], json.loads(row[4]), self._score(dist), dist,
                           row[5], namespace))
        return out

    def export(self, namespace: str) -> Iterator[tuple[Record, Any]]:
        """Every record of a namespace with its vector (a store with a ``path`` keeps
        the vectors in its rows; one in memory has only its graph)."""
        import numpy as np

        if self.path is None:
            raise StoreError("an in-memory vector store cannot be exported")
        for row in self.db.execute(
                "SELECT id, doc_id, content, metadata, chunk_index, expires_at, vector "
                "FROM vectors WHERE namespace = ? ORDER BY label", (namespace,)).fetchall():
            vector = np.frombuffer(row[6], dtype=np.float32).copy()
            yield Record(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5]), vector

    def usages(self) -> list[tuple[str, dict[str, int]]]:
        """Every tenant's usage counters."""
        rows = self.db.execute(
            "SELECT tenant, documents_ingested, embeddings_generated, embedding_tokens, "
            "searches_performed FROM tenant_usage ORDER BY tenant").fetchall()
        names = ("documents_ingested", "embeddings_generated", "embedding_tokens",
                 "searches_performed")
        return [(r[0], dict(zip(names, r[1:], strict=True))) for r in rows]

    # -- what the service keeps beside the vectors --------------------------------

    def recorded_embedder(self, name: str) -> str:
        """The embedder this store's vectors came from, recorded on first use (a store
        in memory remembers nothing: ``name``)."""
        if self.path is None:
            return name
        db = self.db
        row = db.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        if row is None:
            with db:  # OR IGNORE: another process sharing the store may record it first
                db.execute("INSERT OR IGNORE INTO meta VALUES ('embedder', ?)", (name,))
            row = db.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        return str(row[0])

    def collection_ttl(self, namespace: str) -> tuple[bool, float | None]:
        """(whether the namespace is a collection made with a TTL setting, its TTL)."""
        row = self.db.execute("SELECT ttl FROM collections WHERE namespace = ?",
                              (namespace,)).fetchone()
        return (False, None) if row is None else (True, row[0])

    def set_collection(self, namespace: str, ttl: float | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO collections (namespace, ttl, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(namespace) DO UPDATE SET ttl = excluded.ttl",
                (namespace, ttl, time.time()))

    def drop_collection(self, namespace: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM collections WHERE namespace = ?", (namespace,))

    def add_usage(self, tenant: str, **counts: int) -> None:
        cols = ", ".join(f"{k} = {k} + ?" for k in counts)
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO tenant_usage (tenant) VALUES (?)",
                            (tenant,))
            self.db.execute(f"UPDATE tenant_usage SET {cols}, last_activity = ? "
                            "WHERE tenant = ?", (*counts.values(), time.time(), tenant))

    def tenant_usage(self, tenant: str) -> tuple[Any, ...]:
        """(documents_ingested, embeddings_generated, embedding_tokens,
        searches_performed, last_activity) of a tenant."""
        row = self.db.execute(
            "SELECT documents_ingested, embeddings_generated, embedding_tokens, "
            "searches_performed, last_activity FROM tenant_usage WHERE tenant = ?",
            (tenant,)).fetchone()
        return tuple(row) if row else (0, 0, 0, 0, None)

    # -- lifecycle ------------------------------------------------------------------

    def save(self) -> None:
        """Write every changed graph to ``path`` (no-op for an in-memory store).

        Each graph goes to a temp file that is fsynced and checked (complete, the right
        number of elements) before it replaces the old one; a failed write raises
        :class:`StoreError` and leaves the old file (and the rows, the source of truth)
        as they were."""
        if self.path is None:
            return
        for ns in list(self._open.values()):
            if ns.dirty:
                self._save_one(ns)
                ns.dirty = False
        self.db.commit()

    def _save_one(self, ns: _Namespace) -> None:
        file = self._file(ns.name)
        assert file is not None
        try:
            fd, name = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}-",
                                        suffix=".tmp")
            os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot save the index of namespace '{ns.name}' in "
                             f"{file.parent}: {exc.strerror}") from None
        tmp = Path(name)
        try:
            size, digest = self._write_checked(ns, tmp, file)
            with self._index_lock(exclusive=True):
                with self.db:
                    self.db.execute(
                        "INSERT INTO index_files (namespace, sha256, previous_sha256, size, "
                        "saved_at) VALUES (?, ?, NULL, ?, ?) ON CONFLICT(namespace) DO "
                        "UPDATE SET previous_sha256 = sha256, sha256 = excluded.sha256, "
                        "size = excluded.size, saved_at = excluded.saved_at",
                        (ns.name, digest, size, time.time()))
                fault_point("rag.save.before_replace")
                os.replace(tmp, file)
                fsync_dir(file.parent)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save the index of namespace '{ns.name}': {exc}"
                             ) from None
        finally:
            tmp.unlink(missing_ok=True)

    def _write_checked(self, ns: _Namespace, tmp: Path, file: Path) -> tuple[int, str]:
        """Write the graph to ``tmp`` and make sure all of it reached the disk."""
        failed = (f"cannot save the index of namespace '{ns.name}' to {file}")
        kept = "; the previous index file is kept"
        try:
            ns.index.save_index(str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        except (RuntimeError, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StoreError(f"{failed}: {why}{kept}") from None
        problem = check_index_file(tmp, self.dimensions, links=False,
                                   expect_count=ns.index.get_current_count())
        if problem is not None:
            raise StoreError(f"{failed}: the written file is incomplete ({problem}); is the "
                             f"disk full?{kept}")
        return tmp.stat().st_size, _sha256(tmp)

    def close(self) -> None:
        try:
            self.save()
        finally:
            self.db.close()
            self._open.clear()
