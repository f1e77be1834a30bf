"""The RAG global (spec § 8): ingest, search, scopes, session collections, stats.

A thin adapter over :class:`llmspell.rag.service.RagService` (one per run, kept in
``rt.services.rag``, saved and closed when the run ends). Beyond upstream: ``limit``
is an alias of ``k``; ``collection = "session_<uuid>"`` searches that session's
collection (another collection name is its own namespace); ingest honours per-call
``chunking``; ``RAG.configure`` honours chunk sizes and ``session_ttl``;
``RAG.purge_expired()`` drops expired session vectors now.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects
from ..rag.service import PROVIDERS, RagError
from ..rag.store import StoreError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..rag.service import RagService

_RAW_MESSAGES = ("Invalid session ID", "Document requires")
SERVICE_ERRORS = (RagError, StoreError, ValueError, sqlite3.Error)


def _fail(fn: str, exc: Exception) -> ApiError:
    text = str(exc)
    if text.startswith(_RAW_MESSAGES):
        return ApiError(text)
    return ApiError(f"{fn}: {text}")


def _scope(fn: str, opts: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(scope, scope_id, namespace) from the options."""
    scope, scope_id = opts.get("scope"), opts.get("scope_id")
    if opts.get("tenant_id") is not None and scope is None:
        scope, scope_id = "tenant", opts["tenant_id"]
    collection = opts.get("collection")
    if scope is None and isinstance(collection, str) and collection:
        if collection.startswith("session_"):
            return "session", collection[len("session_"):], None
        return "collection", collection, None
    for name, value in (("scope", scope), ("scope_id", scope_id)):
        if value is not None and not isinstance(value, str | int):
            raise ApiError(f"{fn}: {name} must be a string")
    return (str(scope) if scope is not None else None,
            str(scope_id) if scope_id is not None else None, None)


def _documents(docs: Any) -> list[Any]:
    """``RAG.ingest``'s first argument: one document table or an array of them."""
    data = args.data(docs, "RAG.ingest") if docs is not None else None
    if data == {}:  # no document and no array part: nothing to do (as upstream)
        items: list[Any] = []
    elif isinstance(data, dict):
        items = [data]
    elif isinstance(data, list) and data:
        items = data
    else:
        raise ApiError("RAG.ingest: expected a document table {content=..., metadata=...} "
                       "or an array of them")
    if not all(isinstance(d, dict) for d in items):
        raise ApiError("Document requires 'content' or 'text' field")
    return items


def _top_k(opts: dict[str, Any]) -> int:
    k = opts.get("top_k", opts.get("k", opts.get("limit", 10)))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ApiError("k must be a positive integer")  # upstream's text
    return k


def _optional_string(value: Any) -> str | None:
    return convert.decode(value) if isinstance(value, bytes) else None


class RagGlobal(LuaObject):
    """The ``RAG`` table: its methods are the dot-call functions."""

    lua_name = "RAG"

    def __init__(self, rt: Runtime, service: RagService) -> None:
        self._rt = rt
        self._svc = service

    def _named(self, exc: Exception) -> Exception:
        """A damaged rag.sqlite3 is named, with advice."""
        return self._svc.store.explain(exc) if isinstance(exc, sqlite3.Error) else exc

    @contextmanager
    def _calling(self, fn: str) -> Iterator[None]:
        """The service's refusals reach Lua as ``fn: <why>`` (upstream's texts as they are)."""
        try:
            yield
        except SERVICE_ERRORS as exc:
            raise _fail(fn, self._named(exc)) from None

    def search(self, query: Any = None, options: Any = None) -> dict[str, Any]:
        fn = "RAG.search"
        if not isinstance(query, bytes):
            raise ApiError(f"{fn}: query must be a string, got {args.describe(query)}")
        opts = args.optional_fields(options, fn, 2, name="options")
        k = _top_k(opts)
        threshold = args.field(opts, "threshold", "number", fn)
        filters = args.field(opts, "metadata_filter", "fields", fn) or args.field(
            opts, "filters", "fields", fn)
        with self._calling(fn):
            scope, scope_id, namespace = _scope(fn, opts)
            return self._svc.search(convert.decode(query), k, scope, scope_id, threshold,
                                    filters or None, namespace)

    def ingest(self, docs: Any = None, options: Any = None) -> dict[str, Any]:
        fn = "RAG.ingest"
        items = _documents(docs)
        opts = args.optional_fields(options, fn, 2, name="options")
        chunking = args.field(opts, "chunking", "fields", fn)
        with self._calling(fn):
            scope, scope_id, _ = _scope(fn, opts)
            return self._svc.ingest(items, scope, scope_id, chunking)

    def configure(self, options: Any = None) -> None:
        if convert.lua_type(options) != "table":
            raise ApiError(f"RAG.configure: expected a table, got {args.describe(options)}")
        opts = args.fields(options, "RAG.configure", 1, name="options")
        with self._calling("RAG.configure"):
            self._svc.configure(opts)

    def cleanup_scope(self, scope: Any = None, scope_id: Any = None) -> int:
        s, sid = _optional_string(scope), _optional_string(scope_id)
        if s is None or (scope_id is not None and sid is None):
            raise ApiError("RAG cleanup failed: expected RAG.cleanup_scope(scope, scope_id) with "
                           f"strings, got {args.describe(scope)}, {args.describe(scope_id)}")
        try:
            return self._svc.cleanup_scope(s, sid)
        except SERVICE_ERRORS as exc:
            raise ApiError(f"RAG cleanup failed: {self._named(exc)}") from None

    def get_stats(self, scope: Any = None, scope_id: Any = None) -> dict[str, Any]:
        s, sid = _optional_string(scope), _optional_string(scope_id)
        if (scope is not None and s is None) or (scope_id is not None and sid is None):
            raise ApiError("RAG.get_stats: expected (scope, scope_id) strings")
        with self._calling("RAG.get_stats"):
            return self._svc.stats(s, sid)

    def create_session_collection(self, session_id: Any = None,
                                  ttl: Any = None) -> dict[str, Any]:
        """Answers an ok-table (``created = false, error = ...``), never raises."""
        sid = _optional_string(session_id)
        if sid is None:
            return {"created": False, "error": "session_id must be a string"}
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
            return {"created": False, "session_id": sid, "error": "ttl must be a number"}
        try:
            return self._svc.create_session_collection(sid, ttl)
        except SERVICE_ERRORS as exc:
            return {"created": False, "session_id": sid, "error": str(self._named(exc))}

    def configure_session(self, options: Any = None) -> dict[str, Any]:
        fn = "RAG.configure_session"
        opts = args.optional_fields(options, fn, 1, name="options")
        sid = opts.get("session_id")
        if not isinstance(sid, str):
            raise ApiError(f"{fn}: session_id is required")
        ttl = args.field(opts, "vector_ttl", "number", fn, default=3600)
        with self._calling(fn):
            return self._svc.configure_session(sid, ttl)

    def list_providers(self) -> list[str]:
        names = list(PROVIDERS)
        configured = self._rt.settings.get("providers.providers")
        names += [n for n in configured if n not in names]
        return names

    def save(self) -> None:
        try:
            self._svc.save()
        except Exception as exc:
            raise ApiError(f"Failed to save RAG storage: {exc}") from None

    def purge_expired(self) -> int:
        return self._svc.purge_expired()


def install(rt: Runtime, table: Any) -> None:
    try:
        service: RagService = rt.services.rag
    except (StoreError, RagError, ValueError, OSError) as exc:
        raise ApiError(f"RAG: {exc}") from None
    lua_objects(rt).install(table, RagGlobal(rt, service))
