"""RAG as a service: scopes and namespaces, ingest, search, session TTLs, tenant usage.

Scopes map to namespaces, each its own hnswlib index (so isolation is structural, not
a filter): no scope / ``global`` -> ``global``; ``tenant``+X -> ``tenant:X``;
``session``+UUID -> ``session:<uuid>`` (the id must be a UUID); any other scope S with
id X -> ``S:X``. Search options may name ``collection = "session_<uuid>"`` (what
:meth:`create_session_collection` returns) for the session scope, or any other
``collection`` name for the namespace ``collection:<name>``.

Session collections carry a TTL: vectors ingested into them expire ``ttl`` seconds
after they were added and are deleted (mark-deleted in the graph, rows removed) before
the next search or stats call on that namespace, or by :meth:`purge_expired`.

Tenants (``tenant`` scope): usage (documents, embeddings, tokens, searches) is counted
per tenant and kept with the store; with ``[rag] multi_tenant = true`` the limits in
``[rag.tenant_limits]`` (max_vectors, max_storage_bytes) are enforced on ingest.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .. import progress
from ..errors import RagError
from .chunking import STRATEGIES, ChunkConfig, chunk_text, default_tokenizer
from .embeddings import CachedEmbedder, select_embedder
from .store import Record, StoreError, VectorStore

GLOBAL = "global"
PROVIDERS = ["openai", "ollama", "local"]
INGEST_MAX_STEP = 1024  # most chunks embedded in one step
INGEST_FIRST_STEP = 1  # chunks in the first step, before the time per chunk is known
INGEST_STEP_SECONDS = 0.5  # about how long a step lasts (the stop check comes between)


class IngestStopped(RagError):
    """The run had to stop during an ingest; the documents stored so far are kept."""


class _Stop(Exception):
    """Raised between steps of an ingest when the run must stop (turned into
    IngestStopped with the counts once the progress display is closed)."""

    def __init__(self, phase: str, why: str) -> None:
        super().__init__(phase, why)
        self.phase = phase
        self.why = why


def _never_stop() -> str | None:
    return None


def _prepare(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, content, metadata) of each document, or raise naming what is wrong."""
    prepared = []
    for doc in docs:
        content = doc.get("content", doc.get("text"))
        if not isinstance(content, str):
            raise RagError("Document requires 'content' or 'text' field")
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise RagError("Document 'metadata' must be a table with string keys")
        doc_id = doc.get("id")
        doc_id = str(doc_id) if doc_id not in (None, "") else str(uuid.uuid4())
        prepared.append((doc_id, content, metadata))
    return prepared


def parse_session_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise RagError(f"Invalid session ID: {value}") from None


def namespace_for(scope: str | None, scope_id: str | None) -> str:
    scope = (scope or "").strip()
    if not scope or scope == GLOBAL:
        if scope_id:
            return f"{GLOBAL}:{scope_id}"
        return GLOBAL
    if scope_id is None or scope_id == "":
        raise RagError(f"scope '{scope}' needs a scope_id")
    if scope == "session":
        return f"session:{parse_session_id(scope_id)}"
    return f"{scope}:{scope_id}"


def open_vector_store(settings: Any, dimensions: int, warn: Callable[[str], None],
                      database: Callable[[], Any] | None = None) -> Any:
    """The vector store ``[rag.vector_storage] backend`` names: hnswlib (the default) or a
    shared PostgreSQL server with pgvector (``database``: the run's pool, else its own)."""
    get = settings.get
    metric = get("rag.vector_storage.hnsw.metric") or "cosine"
    if (get("rag.vector_storage.backend") or "hnsw") == "postgres":
        from ..postgres import open_database
        from ..postgres.vector_store import PgVectorStore

        db = database() if database else open_database(settings)
        return PgVectorStore(db, dimensions, metric=metric,
                             m=get("rag.vector_storage.hnsw.m"),
                             ef_construction=get("rag.vector_storage.hnsw.ef_construction"),
                             ef_search=get("rag.vector_storage.hnsw.ef_search"),
                             owns_db=database is None)
    return VectorStore(
        dimensions, metric=metric,
        m=get("rag.vector_storage.hnsw.m"),
        ef_construction=get("rag.vector_storage.hnsw.ef_construction"),
        ef_search=get("rag.vector_storage.hnsw.ef_search"),
        max_elements=get("rag.vector_storage.hnsw.max_elements"),
        seed=get("rag.vector_storage.hnsw.seed"),
        allow_replace_deleted=get("rag.vector_storage.hnsw.allow_replace_deleted"),
        num_threads=get("rag.vector_storage.hnsw.num_threads"),
        path=get("rag.vector_storage.persistence_path"),
        max_memory_mb=get("rag.vector_storage.max_memory_mb"),
        warn=warn,
    )


@dataclass
class _IngestRun:
    """Where an ingest is: chunks embedded (``pos``), documents stored, vectors pending."""

    namespace: str
    prepared: list[tuple[str, str, dict[str, Any]]]
    records: list[Record] = field(default_factory=list)  # every chunk, in document order
    ends: list[int] = field(default_factory=list)  # the index after each document's chunks
    pos: int = 0
    docs: int = 0
    chunks: int = 0
    replaced: int = 0
    pending: list[Any] = field(default_factory=list)  # vectors of records[chunks:pos]


class RagService:
    """``stop_reason`` answers why the run must stop now ("the time limit passed",
    "interrupted") or None; long work (ingest) asks it between steps. ``time_left``
    (seconds to the run's deadline, or None) bounds each remote embedding request."""

    def __init__(self, settings: Any, notify: Callable[[str], None] | None = None, *,
                 store: VectorStore | None = None, embedder: Any = None,
                 stop_reason: Callable[[], str | None] | None = None,
                 time_left: Callable[[], float | None] | None = None,
                 database: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self.stop_reason = stop_reason or _never_stop
        self.time_left = time_left  # seconds to the run's deadline: bounds remote calls
        self._notified: set[str] = set()
        self._notify_out = notify or (lambda _m: None)
        get = settings.get
        self.dimensions = int(get("rag.vector_storage.dimensions"))
        self.store = store or open_vector_store(settings, self.dimensions, self.notify,
                                                database)
        self._embedder_arg = embedder
        self._embedder: CachedEmbedder | None = None
        self.chunking = ChunkConfig(
            strategy=get("rag.chunking.strategy"), chunk_size=get("rag.chunking.chunk_size"),
            overlap=get("rag.chunking.overlap"), max_chunk_size=get("rag.chunking.max_chunk_size"),
            min_chunk_size=get("rag.chunking.min_chunk_size")).checked()
        self.default_session_ttl: float | None = None
        self.multi_tenant = bool(get("rag.multi_tenant"))
        self.searches = 0
        self.documents = 0
        # search results by (namespace, version, query, options); a write bumps the version
        self._search_cache: OrderedDict[tuple[Any, ...], tuple[float, list[Any]]] = \
            OrderedDict()
        self.search_cache_enabled = bool(get("rag.cache.search_cache_enabled"))
        self.search_cache_size = int(get("rag.cache.search_cache_size"))
        self.search_cache_ttl = get("rag.cache.search_cache_ttl_seconds")
        self.search_cache_hits = 0

    # -- helpers -----------------------------------------------------------------

    def notify(self, message: str) -> None:
        if message not in self._notified:
            self._notified.add(message)
            self._notify_out(message)

    @property
    def embedder(self) -> CachedEmbedder:
        """Chosen on first use (a remote client or a model load costs time)."""
        if self._embedder is None:
            inner = self._embedder_arg or select_embedder(self.settings, self.notify,
                                                          budget=self.time_left)
            if inner.dimensions != self.dimensions:
                raise RagError(f"embedder {inner.name} makes {inner.dimensions}-dim vectors; "
                               f"rag.vector_storage.dimensions is {self.dimensions}")
            self._check_embedder(inner.name)
            get = self.settings.get
            self._embedder = CachedEmbedder(inner, size=get("rag.embedding.cache_size"),
                                            ttl_seconds=get("rag.embedding.cache_ttl_seconds"),
                                            enabled=bool(get("rag.embedding.cache_enabled")))
        return self._embedder

    def _check_embedder(self, name: str) -> None:
        """A persisted store keeps the name of the embedder its vectors came from:
        vectors of two embedders are not comparable, so mixing them is refused."""
        recorded = self.store.recorded_embedder(name)
        if recorded != name:
            where = self.store.path or getattr(self.store, "server", "")
            raise RagError(f"the vector store at {where} holds vectors from the "
                           f"embedder '{recorded}', but this run embeds with '{name}'; their "
                           "vectors cannot be compared. Configure the same embedder "
                           "([rag.embedding] default_provider/model, the API key) or use "
                           "another persistence_path")

    def _chunk_config(self, overrides: dict[str, Any] | None) -> ChunkConfig:
        cfg = self.chunking
        if overrides:
            fields = {k: overrides[k] for k in ("strategy", "chunk_size", "overlap",
                                                "max_chunk_size", "min_chunk_size")
                      if overrides.get(k) is not None}
            try:
                cfg = replace(cfg, **fields).checked()
            except (TypeError, ValueError) as exc:
                raise RagError(f"chunking: {exc}") from None
        limit = getattr(self.embedder.inner, "max_tokens", None)
        if limit and cfg.chunk_size > limit - 2:  # room for [CLS]/[SEP]
            cfg = replace(cfg, chunk_size=limit - 2, overlap=min(cfg.overlap, limit // 4))
        return cfg

    def _ttl(self, namespace: str) -> float | None:
        found, ttl = self.store.collection_ttl(namespace)
        if found:
            return ttl
        if namespace.startswith("session:"):
            return self.default_session_ttl
        return None

    def _usage(self, tenant: str, **add: int) -> None:
        self.store.add_usage(tenant, **add)

    def _check_tenant_limits(self, tenant: str, namespace: str, vectors: int,
                             nbytes: int) -> None:
        if not self.multi_tenant:
            return
        max_vectors = self.settings.get("rag.tenant_limits.max_vectors")
        max_bytes = self.settings.get("rag.tenant_limits.max_storage_bytes")
        if not max_vectors and not max_bytes:
            return
        stats = self.store.stats(namespace)
        if max_vectors and stats["total_vectors"] + vectors > max_vectors:
            raise RagError(f"tenant '{tenant}' would exceed its limit of {max_vectors} vectors "
                           f"(has {stats['total_vectors']}, adding {vectors})")
        if max_bytes and stats["total_storage_bytes"] + nbytes > max_bytes:
            raise RagError(f"tenant '{tenant}' would exceed its storage limit of "
                           f"{max_bytes} bytes")

    # -- the API -----------------------------------------------------------------

    def configure(self, opts: dict[str, Any]) -> None:
        """Honour what can change mid-run: chunking, session TTL, embedding cache."""
        fields = {}
        for key in ("chunk_size", "overlap", "max_chunk_size", "min_chunk_size"):
            if isinstance(opts.get(key), int) and not isinstance(opts.get(key), bool):
                fields[key] = opts[key]
        strategy = opts.get("chunking_strategy") or opts.get("strategy")
        if isinstance(strategy, str):
            if strategy not in STRATEGIES:
                raise RagError(f"unknown chunking strategy '{strategy}' "
                               f"(use {', '.join(STRATEGIES)})")
            fields["strategy"] = strategy
        if fields:
            try:
                self.chunking = replace(self.chunking, **fields).checked()
            except ValueError as exc:
                raise RagError(str(exc)) from None
        ttl = opts.get("session_ttl")
        if isinstance(ttl, int | float) and not isinstance(ttl, bool):
            self.default_session_ttl = float(ttl) if ttl > 0 else None
        if isinstance(opts.get("enable_cache"), bool):
            self.search_cache_enabled = opts["enable_cache"]
        if self._embedder is not None:
            if isinstance(opts.get("enable_cache"), bool):
                self._embedder.enabled = opts["enable_cache"] and self._embedder.size > 0
            if isinstance(opts.get("cache_ttl"), int | float):
                self._embedder.ttl = float(opts["cache_ttl"])

    def ingest(self, docs: list[dict[str, Any]], scope: str | None = None,
               scope_id: str | None = None, chunking: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        """Chunk, embed and store ``docs`` in steps of about ``INGEST_STEP_SECONDS``.

        Each document is stored (committed) as soon as all its chunks are embedded, and
        before each step the run's stop check (the script's deadline, Ctrl-C) is asked: a
        long ingest that must stop ends with what was stored so far kept and said
        (``IngestStopped``), rather than being ended from outside by the watchdog. A
        document is stored whole or not at all.
        """
        namespace = namespace_for(scope, scope_id)
        prepared = _prepare(docs)
        ttl = self._ttl(namespace)
        run = _IngestRun(namespace, prepared)
        try:
            per_doc, total_tokens, nbytes = self._chunk_all(
                prepared, self._chunk_config(chunking), time.time() + ttl if ttl else None)
            n_records = sum(len(r) for r in per_doc)
            tenant = scope_id if scope == "tenant" and scope_id else None
            if tenant is not None:
                self._check_tenant_limits(tenant, namespace, n_records,
                                          nbytes + n_records * self.dimensions * 4)
            self._embed_and_store(run, per_doc)
        except _Stop as stop:  # said here, once the progress bars are gone
            raise IngestStopped(self._report_stop(stop.phase, stop.why, run)) from None
        except KeyboardInterrupt:  # Ctrl-C inside a step
            if run.records:
                self._report_stop("embedding", "interrupted", run)
            raise
        self.documents += run.docs
        if tenant is not None:
            self._usage(tenant, documents_ingested=len(prepared),
                        embeddings_generated=n_records, embedding_tokens=total_tokens)
        return {"success": True, "documents_processed": len(prepared),
                "vectors_created": n_records, "total_tokens": total_tokens,
                "documents_replaced": run.replaced, "namespace": namespace,
                "ids": [d[0] for d in prepared]}

    def _chunk_all(self, prepared: list[tuple[str, str, dict[str, Any]]], cfg: ChunkConfig,
                   expires: float | None) -> tuple[list[list[Record]], int, int]:
        """Each document's chunk records, the tokens and the bytes they hold."""
        tokenizer = default_tokenizer()
        per_doc: list[list[Record]] = []
        total_tokens = nbytes = 0
        with progress.task("RAG.ingest: chunking", total=len(prepared),
                           unit="documents") as bar:
            for doc_id, content, metadata in prepared:
                self._stop_point("chunking")
                chunks = chunk_text(content, cfg, tokenizer, embed=self._embed_in_steps)
                records = []
                for i, chunk in enumerate(chunks):
                    meta = dict(metadata)
                    meta["text"] = chunk.text
                    meta["doc_id"] = doc_id
                    chunk_id = doc_id if len(chunks) == 1 else f"{doc_id}#{i}"
                    records.append(Record(chunk_id, doc_id, chunk.text, meta, i, expires))
                    total_tokens += chunk.tokens
                    nbytes += len(chunk.text.encode()) + len(json.dumps(meta).encode())
                per_doc.append(records)
                bar.advance()
        return per_doc, total_tokens, nbytes

    def _embed_and_store(self, run: _IngestRun, per_doc: list[list[Record]]) -> None:
        """Embed the chunks in steps, storing each document once all its chunks are
        embedded (``run`` counts what is stored).

        A step lasts about ``INGEST_STEP_SECONDS`` (see ``_steps``), so the stop check
        between steps comes well within the watchdog's grace after the deadline.
        """
        run.records = [r for group in per_doc for r in group]
        run.ends = list(itertools.accumulate(len(group) for group in per_doc))
        total = len(run.records)
        with progress.task("RAG.ingest: embedding", total=total, unit="chunks") as bar:
            texts = [r.content for r in run.records]
            for lo, hi in self._steps(texts, "embedding"):
                run.pending.append(self.embedder.embed(texts[lo:hi]))
                run.pos = hi
                self._store_finished(run)
                bar.advance(hi - lo)
            self._store_finished(run)  # documents without chunks at the end

    def _steps(self, texts: list[str], phase: str) -> Iterator[tuple[int, int]]:
        """Ranges of ``texts`` to embed in steps of about ``INGEST_STEP_SECONDS``, with
        the run's stop check before each.

        A step holds ``step`` texts the cache does not have (hits cost nothing), sized
        from the measured time per text embedded and at most doubling from one step to
        the next, so no step runs far past the deadline.
        """
        cached = self.embedder.cached
        step = INGEST_FIRST_STEP
        lo, total = 0, len(texts)
        while lo < total:
            self._stop_point(phase)
            hi, work = lo, 0
            while hi < total and work < step:
                work += 0 if cached(texts[hi]) else 1
                hi += 1
            started = time.monotonic()
            yield lo, hi
            if work:
                per_text = max((time.monotonic() - started) / work, 1e-6)
                step = max(1, min(2 * step, INGEST_MAX_STEP,
                                  int(INGEST_STEP_SECONDS / per_text)))
            lo = hi

    def _embed_in_steps(self, texts: list[str]) -> Any:
        """The semantic chunker's embeddings, made in stoppable steps."""
        import numpy as np

        parts = [self.embedder.embed(texts[lo:hi])
                 for lo, hi in self._steps(texts, "chunking")]
        return np.concatenate(parts) if parts else np.zeros((0, self.dimensions), np.float32)

    def _store_finished(self, run: _IngestRun) -> None:
        """Store the documents whose chunks are all embedded by now (committed before
        the next step, so a run that ends later keeps them)."""
        import numpy as np

        done = bisect.bisect_right(run.ends, run.pos)
        if done <= run.docs:
            return
        lo = run.ends[run.docs - 1] if run.docs else 0
        hi = run.ends[done - 1]
        for doc_id, _content, _meta in run.prepared[run.docs:done]:
            run.replaced += 1 if self.store.delete_doc(run.namespace, doc_id) else 0
        if hi > lo:
            vectors = np.concatenate(run.pending)
            self.store.add(run.namespace, run.records[lo:hi], vectors[:hi - lo])
            run.pending = [vectors[hi - lo:]] if run.pos > hi else []
        run.docs, run.chunks = done, hi

    def _stop_point(self, phase: str) -> None:
        """Stop (raise _Stop) when the run must stop now (its deadline, Ctrl-C)."""
        why = self.stop_reason()
        if why is not None:
            raise _Stop(phase, why)

    def _report_stop(self, phase: str, why: str, run: _IngestRun) -> str:
        """Say on stderr how much of a stopped ingest was stored (and is kept)."""
        if run.docs == 0:
            kept = "nothing was stored"
        else:
            kept = (f"{run.docs} of {len(run.prepared)} documents ({run.chunks} chunks) "
                    f"were stored in '{run.namespace}' and are kept")
            self.documents += run.docs
        message = f"RAG.ingest stopped while {phase} ({why}): {kept}"
        self._notify_out(message)
        return message

    def search(self, query: str, k: int = 10, scope: str | None = None,
               scope_id: str | None = None, threshold: float | None = None,
               filters: dict[str, Any] | None = None, namespace: str | None = None
               ) -> dict[str, Any]:
        namespace = namespace or namespace_for(scope, scope_id)
        self.searches += 1
        if scope == "tenant" and scope_id:
            self._usage(scope_id, searches_performed=1)
        if not query.strip():
            return {"success": True, "total": 0, "results": []}
        self.store.purge_expired(namespace)  # before the cache: expired vectors never return
        key = (namespace, self.store.versions.get(namespace, 0), query, k, threshold,
               json.dumps(filters, sort_keys=True, default=str) if filters else None)
        cached = self._cache_get(key)
        if cached is not None:
            return {"success": True, "total": len(cached), "results": copy.deepcopy(cached)}
        vector = self.embedder.embed([query])[0]
        if not vector.any():  # nothing the embedder could use (e.g. only punctuation)
            return {"success": True, "total": 0, "results": []}
        hits = self.store.search(namespace, vector, k, filters=filters or None,
                                 threshold=threshold)
        results = [{"id": h.id, "doc_id": h.doc_id, "content": h.content, "text": h.content,
                    "score": h.score, "metadata": h.metadata, "chunk_index": h.chunk_index}
                   for h in hits]
        self._cache_put(key, results)
        return {"success": True, "total": len(results), "results": copy.deepcopy(results)}

    def _cache_get(self, key: tuple[Any, ...]) -> list[Any] | None:
        if not self.search_cache_enabled or self.search_cache_size <= 0:
            return None
        hit = self._search_cache.get(key)
        if hit is None:
            return None
        if self.search_cache_ttl and time.monotonic() - hit[0] > self.search_cache_ttl:
            del self._search_cache[key]
            return None
        self._search_cache.move_to_end(key)
        self.search_cache_hits += 1
        return hit[1]

    def _cache_put(self, key: tuple[Any, ...], results: list[Any]) -> None:
        if not self.search_cache_enabled or self.search_cache_size <= 0:
            return
        self._search_cache[key] = (time.monotonic(), copy.deepcopy(results))
        while len(self._search_cache) > self.search_cache_size:
            self._search_cache.popitem(last=False)

    def create_session_collection(self, session_id: str, ttl: float | None = None
                                  ) -> dict[str, Any]:
        # any string id, as upstream (a UUID in its canonical form); ingest and search
        # in the session scope still need a UUID, as upstream's do
        try:
            sid = parse_session_id(session_id)
        except RagError:
            sid = session_id
        namespace = f"session:{sid}"
        ttl = float(ttl) if ttl and ttl > 0 else None
        self.store.set_collection(namespace, ttl)
        self.store.set_expiry(namespace, time.time() + ttl if ttl else None)
        out: dict[str, Any] = {"session_id": sid, "namespace": f"session_{sid}",
                               "created": True}
        if ttl:
            out["ttl"] = int(ttl) if float(ttl).is_integer() else ttl
        return out

    def configure_session(self, session_id: str, vector_ttl: float = 3600) -> dict[str, Any]:
        out = self.create_session_collection(session_id, vector_ttl)
        return {"session_id": out["session_id"], "vector_ttl": out.get("ttl", 0),
                "configured": True}

    def cleanup_scope(self, scope: str, scope_id: str | None) -> int:
        namespace = namespace_for(scope, scope_id)
        removed = self.store.delete_namespace(namespace)
        self.store.drop_collection(namespace)
        return removed

    def purge_expired(self) -> int:
        return self.store.purge_expired()

    def stats(self, scope: str | None = None, scope_id: str | None = None) -> dict[str, Any]:
        scope = scope or GLOBAL
        if scope_id:
            namespace = namespace_for(scope, scope_id)
            self.store.purge_expired(namespace)
            out = self.store.stats(namespace)
            out["namespace"] = namespace
            if scope == "tenant":
                row = self.store.tenant_usage(scope_id)
                out.update(tenant_id=scope_id, documents_ingested=row[0],
                           embeddings_generated=row[1], embedding_tokens=row[2],
                           searches_performed=row[3])
                if row[4] is not None:
                    out["last_activity"] = row[4]
            ttl = self._ttl(namespace)
            if ttl:
                out["ttl"] = ttl
        elif scope == GLOBAL:
            self.store.purge_expired()
            out = self.store.stats()
            out["searches_performed"] = self.searches
            out["documents_ingested"] = self.documents
        else:
            prefix = f"{scope}:"
            names = self.store.namespaces(prefix)
            totals = {"total_vectors": 0, "total_documents": 0, "total_storage_bytes": 0}
            for name in names:
                self.store.purge_expired(name)
                one = self.store.stats(name)
                for key in totals:
                    totals[key] += one[key]
            out = {**totals, "namespaces": len(names), "dimensions": self.dimensions,
                   "metric": self.store.metric}
        out["scope"] = scope
        out["backend"] = self.store.backend
        embedder = self.embedder
        out["search_cache_hits"] = self.search_cache_hits
        out["embedder"] = embedder.name
        out["embedder_kind"] = embedder.kind
        out["embedding_cache_hits"] = embedder.hits
        out["embedding_cache_misses"] = embedder.misses
        return out

    def save(self) -> None:
        self.store.save()

    def close(self) -> None:
        """Save the indexes and close. The rows are committed already, so an index that
        cannot be saved now (a full disk) is rebuilt from them on the next open: say so
        rather than fail the run."""
        try:
            self.store.close()
        except StoreError as exc:
            self._notify_out(f"RAG: {exc}; it will be rebuilt from the stored rows when the "
                             "store is next opened")
