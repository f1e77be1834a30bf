"""RAG vectors on a shared PostgreSQL server with pgvector (``[rag.vector_storage]
backend = "postgres"``).

The same interface as ``rag/store.py``'s ``VectorStore`` (``RagService`` cannot tell them
apart), with everything of a search in one statement: the namespace (scope), the
tenant, expiry and metadata filters sit in the ``WHERE`` of the nearest-neighbour query.

- Vectors of every dimension share one table; an HNSW index per (dimensions, metric) is
  made on first use (``CREATE INDEX IF NOT EXISTS`` on the expression
  ``embedding::vector(N)``, partial on ``dims = N``), so a query's ``ORDER BY`` matches it.
  pgvector indexes at most 2,000 dimensions; wider vectors are searched exactly.
- ``hnsw.ef_search`` is set per query from ``[rag.vector_storage.hnsw] ef_search``;
  filtered queries use pgvector 0.8's iterative index scans so a selective filter still
  returns ``k`` hits.
- Vectors travel in pgvector's binary format (the ``pgvector`` package's psycopg
  adapter), not as text.
- Every write bumps its namespace's ``version``, which keys the service's search cache:
  a cache in one process never serves results another process has changed.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from ..errors import StoreError
from ..rag.store import SPACES, DimensionMismatch, Hit, Record, checked_vectors
from .database import MINE, Database, ServerStore

MAX_INDEXED_DIMENSIONS = 2000
_OPERATORS = {"cosine": ("<=>", "vector_cosine_ops"), "l2": ("<->", "vector_l2_ops"),
              "ip": ("<#>", "vector_ip_ops")}
PURGE_EVERY_SECONDS = 1.0


class _Versions:
    """``versions.get(namespace, 0)``, read from the server (see the module docstring)."""

    def __init__(self, store: PgVectorStore) -> None:
        self.store = store

    def get(self, namespace: str, default: int = 0) -> int:
        with self.store._tx("read") as conn:
            row = conn.execute(f"SELECT version FROM llmspell_rag_namespaces WHERE {MINE} "
                               "AND name = %s", (namespace,), prepare=True).fetchone()
        return int(row[0]) if row else default


def _filter_sql(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Metadata filters as SQL: a value matches equal JSON, a list any of its items."""
    if not filters:
        return "", []
    from psycopg.types.json import Jsonb

    parts, params = [], []
    for key, want in filters.items():
        if isinstance(want, list):
            parts.append("metadata -> %s = ANY(%s::jsonb[])")
            params += [str(key), [Jsonb(w) for w in want]]
        else:
            parts.append("metadata -> %s = %s::jsonb")
            params += [str(key), Jsonb(want)]
    return " AND " + " AND ".join(parts), params


class PgVectorStore(ServerStore):
    backend = "pgvector"

    def __init__(self, db: Database, dimensions: int, *, metric: str = "cosine",
                 m: int | None = 16, ef_construction: int | None = 200,
                 ef_search: int | None = 100, owns_db: bool = False) -> None:
        if metric not in SPACES:
            raise StoreError(f"unknown metric '{metric}' (use {', '.join(SPACES)})")
        super().__init__(db, owns_db)
        self.dimensions = int(dimensions)
        self.metric = metric
        self.space = SPACES[metric]
        self.m = int(m or 16)
        self.ef_construction = int(ef_construction or 200)
        self.ef_search = int(ef_search or 100)
        self.versions = _Versions(self)
        self._vector_info: Any = None
        self._indexed = False
        self._purged: dict[str | None, float] = {}

    # -- plumbing -------------------------------------------------------------------

    def _tx(self, action: str) -> Any:
        return _VectorTransaction(self, action)

    def _adapt(self, conn: Any) -> None:
        """pgvector's binary adapter on this connection (the type is looked up once)."""
        try:
            from pgvector.psycopg.vector import register_vector_info
            from psycopg.types import TypeInfo
        except ImportError as exc:
            from .database import INSTALL_HINT

            raise StoreError(INSTALL_HINT) from exc
        if self._vector_info is None:
            self._vector_info = TypeInfo.fetch(conn, "vector")
            if self._vector_info is None:
                raise StoreError(f"PostgreSQL server {self.server} has no pgvector "
                                 "extension (CREATE EXTENSION vector)")
        register_vector_info(conn, self._vector_info)

    def _operator(self) -> str:
        return _OPERATORS[self.space][0]

    def _ensure_index(self) -> None:
        """The HNSW index for this store's dimensions and metric, made at the first search
        (after a bulk load, one build is much faster than inserting into the graph)."""
        if self._indexed or self.dimensions > MAX_INDEXED_DIMENSIONS:
            return
        name = f"llmspell_rag_hnsw_{self.space}_{self.dimensions}"
        with self._tx("index") as conn:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]
            if not exists:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(name.encode()),))
                # a build over many vectors outlasts statement_timeout_ms; it runs once
                conn.execute("SET LOCAL statement_timeout = 0")
                ops = _OPERATORS[self.space][1]
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {name} ON llmspell_rag_vectors USING hnsw "
                    f"((embedding::vector({self.dimensions})) {ops}) "
                    f"WITH (m = {self.m}, ef_construction = {self.ef_construction}) "
                    f"WHERE dims = {self.dimensions}")
                # fresh statistics, or the planner, guessing one row per namespace after
                # a bulk load, scans the namespace exactly instead of using the index
                conn.execute("ANALYZE llmspell_rag_vectors")
        self._indexed = True

    def _bump(self, conn: Any, namespace: str) -> None:
        conn.execute("INSERT INTO llmspell_rag_namespaces (name, created_at) VALUES (%s, %s) "
                     "ON CONFLICT (tenant_id, name) DO UPDATE SET version = "
                     "llmspell_rag_namespaces.version + 1", (namespace, time.time()),
                     prepare=True)

    # -- writes ---------------------------------------------------------------------

    def add(self, namespace: str, records: list[Record], vectors: Any) -> None:
        """Store records with their vectors in one transaction (binary COPY). The HNSW
        index is made at the first search, so a bulk load is indexed in one build."""
        from psycopg.types.json import Jsonb

        vectors = checked_vectors(vectors, len(records), self.dimensions)
        if not records:
            return
        now = time.time()
        with self._tx("add") as conn:
            self._bump(conn, namespace)
            with conn.cursor() as cur, cur.copy(
                    "COPY llmspell_rag_vectors (namespace, id, doc_id, chunk_index, content, "
                    "metadata, created_at, expires_at, dims, embedding) "
                    "FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "text", "int4", "text", "jsonb", "float8",
                                "float8", "int4", "vector"])
                for i, r in enumerate(records):
                    copy.write_row((namespace, r.id, r.doc_id, r.chunk_index, r.content,
                                    Jsonb(r.metadata), now, r.expires_at, self.dimensions,
                                    vectors[i]))

    def _delete(self, namespace: str, where: str, params: tuple[Any, ...]) -> int:
        with self._tx("delete") as conn:
            gone = conn.execute(f"DELETE FROM llmspell_rag_vectors WHERE {MINE} AND "
                                f"namespace = %s AND {where}", (namespace, *params)).rowcount
            if gone:
                self._bump(conn, namespace)
        return int(gone)

    def delete_doc(self, namespace: str, doc_id: str) -> int:
        return self._delete(namespace, "doc_id = %s", (doc_id,))

    def delete_namespace(self, namespace: str) -> int:
        with self._tx("delete") as conn:
            gone = conn.execute(f"DELETE FROM llmspell_rag_vectors WHERE {MINE} AND "
                                "namespace = %s", (namespace,)).rowcount
            conn.execute(f"UPDATE llmspell_rag_namespaces SET version = version + 1, "
                         f"is_collection = false, ttl = NULL WHERE {MINE} AND name = %s",
                         (namespace,))
        return int(gone)

    def purge_expired(self, namespace: str | None = None, now: float | None = None) -> int:
        """Delete vectors whose ``expires_at`` has passed (searches skip them anyway, so
        this runs at most once a second per namespace unless ``now`` is given)."""
        moment = time.time() if now is None else now
        if now is None and moment - self._purged.get(namespace, 0.0) < PURGE_EVERY_SECONDS:
            return 0
        self._purged[namespace] = moment
        sql = (f"DELETE FROM llmspell_rag_vectors WHERE {MINE} AND expires_at IS NOT NULL "
               "AND expires_at <= %s")
        params: tuple[Any, ...] = (moment,)
        if namespace is not None:
            sql += " AND namespace = %s"
            params = (moment, namespace)
        with self._tx("purge") as conn:
            names = [r[0] for r in conn.execute(sql + " RETURNING namespace", params)]
            for name in set(names):
                self._bump(conn, name)
        return len(names)

    def set_expiry(self, namespace: str, expires_at: float | None) -> None:
        with self._tx("write") as conn:
            conn.execute(f"UPDATE llmspell_rag_vectors SET expires_at = %s WHERE {MINE} AND "
                         "namespace = %s", (expires_at, namespace))
            self._bump(conn, namespace)

    # -- reads ----------------------------------------------------------------------

    def count(self, namespace: str | None = None) -> int:
        sql = f"SELECT count(*) FROM llmspell_rag_vectors WHERE {MINE}"
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " AND namespace = %s"
            params = (namespace,)
        with self._tx("read") as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def namespaces(self, prefix: str | None = None) -> list[str]:
        with self._tx("read") as conn:
            rows = conn.execute(f"SELECT DISTINCT namespace FROM llmspell_rag_vectors "
                                f"WHERE {MINE} ORDER BY namespace").fetchall()
        return [r[0] for r in rows if prefix is None or r[0].startswith(prefix)]

    def stats(self, namespace: str | None = None) -> dict[str, Any]:
        sql = ("SELECT count(*), count(DISTINCT (namespace, doc_id)), "
               "coalesce(sum(octet_length(content) + octet_length(metadata::text)), 0) "
               f"FROM llmspell_rag_vectors WHERE {MINE}")
        params: tuple[Any, ...] = ()
        if namespace is not None:
            sql += " AND namespace = %s"
            params = (namespace,)
        with self._tx("read") as conn:
            vectors, documents, text_bytes = conn.execute(sql, params).fetchone()
        out: dict[str, Any] = {
            "total_vectors": int(vectors), "total_documents": int(documents),
            "total_storage_bytes": int(text_bytes) + int(vectors) * self.dimensions * 4,
            "dimensions": self.dimensions, "metric": self.metric,
        }
        if namespace is None:
            out["namespaces"] = len(self.namespaces())
        else:
            out["index_capacity"] = int(vectors)
        return out

    def _score(self, distance: float) -> float:
        if self.space == "cosine":
            return 1.0 - distance
        if self.space == "ip":
            return -distance  # pgvector's <#> is the negative inner product
        return 1.0 / (1.0 + distance)  # <-> is the Euclidean distance itself

    def search(self, namespace: str, vector: Any, k: int = 10, *,
               filters: dict[str, Any] | None = None, where: Any = None,
               threshold: float | None = None) -> list[Hit]:
        """The ``k`` nearest live vectors of a namespace (best first), metadata
        ``filters`` and ``threshold`` applied in the same statement."""
        import numpy as np

        if where is not None:
            raise StoreError("the postgres vector store filters with `filters`, not `where`")
        if k < 1:
            return []
        self._ensure_index()
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dimensions:
            raise DimensionMismatch(f"query vector has {query.shape[0]} dimensions; the store "
                                    f"has {self.dimensions}")
        extra, extra_params = _filter_sql(filters)
        dims = self.dimensions
        distance = f"embedding::vector({dims}) {self._operator()} %s::vector({dims})"
        sql = (f"SELECT id, doc_id, content, metadata, chunk_index, {distance} AS distance "
               f"FROM llmspell_rag_vectors WHERE {MINE} AND namespace = %s AND dims = {dims} "
               f"AND (expires_at IS NULL OR expires_at > %s){extra} "
               "ORDER BY distance LIMIT %s")
        with self._tx("search") as conn:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                         "set_config('hnsw.iterative_scan', %s, true)",
                         (str(max(self.ef_search, k)), "relaxed_order" if extra else "off"),
                         prepare=True)
            # never a prepared (generic) plan: it loses the HNSW index to a full scan
            rows = conn.execute(f"SELECT * FROM ({sql}) AS nearest ORDER BY distance",
                                (query, namespace, time.time(), *extra_params, k),
                                prepare=False).fetchall()
        hits = [Hit(r[0], r[1], r[2], r[3], self._score(float(r[5])), float(r[5]), r[4],
                    namespace) for r in rows]
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        return hits

    def export(self, namespace: str) -> Any:
        """Every record of a namespace (this store's dimensions) with its vector."""
        import numpy as np

        with self._tx("read") as conn:
            rows = conn.execute(
                "SELECT id, doc_id, content, metadata, chunk_index, expires_at, embedding "
                f"FROM llmspell_rag_vectors WHERE {MINE} AND namespace = %s AND dims = %s "
                "ORDER BY label", (namespace, self.dimensions)).fetchall()
        for r in rows:
            vector = r[6].to_numpy() if hasattr(r[6], "to_numpy") else r[6]
            yield Record(r[0], r[1], r[2], r[3], r[4], r[5]), np.asarray(vector, np.float32)

    def usages(self) -> list[tuple[str, dict[str, int]]]:
        with self._tx("read") as conn:
            rows = conn.execute(
                "SELECT tenant, documents_ingested, embeddings_generated, embedding_tokens, "
                f"searches_performed FROM llmspell_rag_usage WHERE {MINE} ORDER BY tenant"
            ).fetchall()
        names = ("documents_ingested", "embeddings_generated", "embedding_tokens",
                 "searches_performed")
        return [(r[0], dict(zip(names, map(int, r[1:]), strict=True))) for r in rows]

    # -- what the service keeps beside the vectors --------------------------------

    def recorded_embedder(self, name: str) -> str:
        """The embedder this tenant's vectors came from (``name`` if none yet)."""
        with self._tx("write") as conn:
            conn.execute("INSERT INTO llmspell_rag_meta (key, value) VALUES ('embedder', %s) "
                         "ON CONFLICT DO NOTHING", (name,))
            row = conn.execute(f"SELECT value FROM llmspell_rag_meta WHERE {MINE} AND "
                               "key = 'embedder'").fetchone()
        return str(row[0])

    def collection_ttl(self, namespace: str) -> tuple[bool, float | None]:
        """(whether the namespace is a collection made with a TTL setting, its TTL)."""
        with self._tx("read") as conn:
            row = conn.execute(f"SELECT ttl FROM llmspell_rag_namespaces WHERE {MINE} AND "
                               "name = %s AND is_collection", (namespace,)).fetchone()
        return (False, None) if row is None else (True, row[0])

    def set_collection(self, namespace: str, ttl: float | None) -> None:
        with self._tx("write") as conn:
            conn.execute("INSERT INTO llmspell_rag_namespaces (name, created_at, "
                         "is_collection, ttl) VALUES (%s, %s, true, %s) "
                         "ON CONFLICT (tenant_id, name) DO UPDATE SET is_collection = true, "
                         "ttl = excluded.ttl", (namespace, time.time(), ttl))

    def drop_collection(self, namespace: str) -> None:
        with self._tx("write") as conn:
            conn.execute(f"UPDATE llmspell_rag_namespaces SET is_collection = false, "
                         f"ttl = NULL WHERE {MINE} AND name = %s", (namespace,))

    def add_usage(self, tenant: str, **counts: int) -> None:
        cols = ", ".join(f"{c} = llmspell_rag_usage.{c} + %s" for c in counts)
        with self._tx("write") as conn:
            conn.execute("INSERT INTO llmspell_rag_usage (tenant) VALUES (%s) "
                         "ON CONFLICT DO NOTHING", (tenant,))
            conn.execute(f"UPDATE llmspell_rag_usage SET {cols}, last_activity = %s "
                         f"WHERE {MINE} AND tenant = %s",
                         (*counts.values(), time.time(), tenant))

    def tenant_usage(self, tenant: str) -> tuple[Any, ...]:
        with self._tx("read") as conn:
            row = conn.execute(
                "SELECT documents_ingested, embeddings_generated, embedding_tokens, "
                f"searches_performed, last_activity FROM llmspell_rag_usage WHERE {MINE} "
                "AND tenant = %s", (tenant,)).fetchone()
        return tuple(row) if row else (0, 0, 0, 0, None)

    # -- lifecycle ------------------------------------------------------------------

    def memory_bytes(self) -> int:
        return 0  # the vectors live on the server

    def save(self) -> None:
        """Nothing to do: every write is committed when it returns."""


class _VectorTransaction:
    """``Database.transaction`` with pgvector's adapter on the connection and psycopg
    errors raised as ``StoreError`` (the RAG border)."""

    def __init__(self, store: PgVectorStore, action: str) -> None:
        self.store = store
        self.inner = store.db.transaction(f"vector store {action}", StoreError)

    def __enter__(self) -> Any:
        conn = self.inner.__enter__()
        try:
            self.store._adapt(conn)
        except BaseException as exc:
            self.inner.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return conn

    def __exit__(self, *exc: Any) -> Any:
        return self.inner.__exit__(*exc)
