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
- A store remembers its dimensions and metric; opening it with others raises
  :class:`DimensionMismatch`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
"""


class StoreError(Exception):
    """A vector store operation failed."""


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


@dataclass
class _Namespace:
    name: str
    index: Any
    live: int = 0  # vectors not deleted (kept here: COUNT(*) per search costs O(n))
    dirty: bool = False


def _file_name(namespace: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", namespace)[:40]
    digest = hashlib.sha1(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe}-{digest}.hnsw"


class VectorStore:
    def __init__(self, dimensions: int, *, metric: str = "cosine", m: int = 16,
                 ef_construction: int = 200, ef_search: int = 50,
                 max_elements: int = 1_000_000, seed: int | None = None,
                 allow_replace_deleted: bool = True, num_threads: int | None = None,
                 path: str | Path | None = None,
                 initial_capacity: int = INITIAL_CAPACITY,
                 max_memory_mb: int | None = None) -> None:
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
        self._open: dict[str, _Namespace] = {}
        if self.path is not None:
            (self.path / "indexes").mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path / "rag.sqlite3"))
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        else:
            self.db = sqlite3.connect(":memory:")
        self.db.executescript(SCHEMA)
        self._check_meta()
        # skip the expiry query on every search until some vector has an expiry
        self._expiring = self.db.execute(
            "SELECT 1 FROM vectors WHERE expires_at IS NOT NULL LIMIT 1").fetchone() is not None

    # -- set-up -----------------------------------------------------------------

    def _check_meta(self) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("dimensions", str(self.dimensions)),
                                     ("metric", self.space)])
            return
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
                self.db.execute("INSERT INTO namespaces (name, next_label, created_at) "
                                "VALUES (?, 0, ?)", (namespace, time.time()))
            ns = _Namespace(namespace, self._new_index(self.initial_capacity))
        else:
            ns = self._load(namespace)
        self._open[namespace] = ns
        return ns

    def _load(self, namespace: str) -> _Namespace:
        """Open a persisted namespace: its graph file reconciled with SQLite."""
        import hnswlib
        import numpy as np

        live = dict(self.db.execute(
            "SELECT label, vector FROM vectors WHERE namespace = ?", (namespace,)).fetchall())
        file = self._file(namespace)
        index = None
        if file is not None and file.is_file():
            index = hnswlib.Index(space=self.space, dim=self.dimensions)
            try:
                index.load_index(str(file), allow_replace_deleted=self.allow_replace_deleted)
            except RuntimeError:
                index = None  # unreadable: rebuilt from SQLite below
            else:
                if index.dim != self.dimensions:
                    raise DimensionMismatch(f"index file {file} has {index.dim}-dim vectors; "
                                            f"rag.vector_storage is {self.dimensions} dims")
                index.set_ef(self.ef_search)
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
        ns.dirty = bool(stale or missing)
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

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(records):
            raise StoreError("records and vectors differ in number")
        if vectors.shape[1] != self.dimensions:
            raise DimensionMismatch(f"vectors have {vectors.shape[1]} dimensions; the store "
                                    f"has {self.dimensions}")
        if not records:
            return []
        ns = self._ns(namespace, create=True)
        assert ns is not None
        self._grow(ns, len(records))
        (first,) = self.db.execute("SELECT next_label FROM namespaces WHERE name = ?",
                                   (namespace,)).fetchone()
        labels = list(range(first, first + len(records)))
        now = time.time()
        keep_vectors = self.path is not None
        rows = [(namespace, label, r.id, r.doc_id, r.chunk_index, r.content,
                 json.dumps(r.metadata, ensure_ascii=False), now, r.expires_at,
                 vectors[i].tobytes() if keep_vectors else None)
                for i, (label, r) in enumerate(zip(labels, records, strict=True))]
        with self.db:
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
               where: Callable[[dict[str, Any]], bool] | None = None,
               threshold: float | None = None) -> list[Hit]:
        """The ``k`` nearest vectors of a namespace (best first); ``where`` filters by
        metadata, ``threshold`` drops hits scoring below it."""
        import numpy as np

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

    # -- lifecycle ------------------------------------------------------------------

    def save(self) -> None:
        """Write every changed graph to ``path`` (no-op for an in-memory store)."""
        if self.path is None:
            return
        for ns in list(self._open.values()):
            if ns.dirty:
                file = self._file(ns.name)
                assert file is not None
                tmp = file.with_suffix(".tmp")
                ns.index.save_index(str(tmp))
                tmp.replace(file)
                ns.dirty = False
        self.db.commit()

    def close(self) -> None:
        try:
            self.save()
        finally:
            self.db.close()
            self._open.clear()
