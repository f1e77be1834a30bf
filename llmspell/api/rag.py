"""The RAG global (spec § 8): ingest, search, scopes, session collections, stats.

A thin adapter over :class:`llmspell.rag.service.RagService` (one per run, kept in
``rt.services["rag"]``, saved and closed when the run ends). Beyond upstream: ``limit``
is an alias of ``k``; ``collection = "session_<uuid>"`` searches that session's
collection (another collection name is its own namespace); ingest honours per-call
``chunking``; ``RAG.configure`` honours chunk sizes and ``session_ttl``;
``RAG.purge_expired()`` drops expired session vectors now.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..rag.service import RagService

_RAW_MESSAGES = ("Invalid session ID", "Document requires")


def _fail(fn: str, exc: Exception) -> ApiError:
    text = str(exc)
    if text.startswith(_RAW_MESSAGES):
        return ApiError(text)
    return ApiError(f"{fn}: {text}")


def _str(value: Any) -> str | None:
    return convert.decode(value) if isinstance(value, bytes) else None


def _opts(fn: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    data = convert.to_python(value)
    if data == [] or data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(f"{fn}: options must be a table with named fields")
    return data


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


def install(rt: Runtime, table: Any) -> None:
    from ..rag.service import PROVIDERS, RagError, RagService
    from ..rag.store import StoreError

    service: RagService | None = rt.services.get("rag")
    if service is None:
        def notify(message: str) -> None:
            rt.output.error(convert.encode(message + "\n"))

        def stop_reason() -> str | None:  # the run's deadline and Ctrl-C, between batches
            if not rt.check():
                return None
            return {"timeout": "the time limit passed", "interrupt": "interrupted"}.get(
                rt.stop_reason or "", "the script is ending")

        try:
            service = RagService(rt.settings, notify, stop_reason=stop_reason,
                                 time_left=rt.remaining_seconds)
        except (StoreError, RagError, ValueError, OSError) as exc:
            raise ApiError(f"RAG: {exc}") from None
        rt.services["rag"] = service
        rt.on_close(service.close)
    svc = service
    errors = (RagError, StoreError, ValueError, sqlite3.Error)

    def named(exc: Exception) -> Exception:  # a damaged rag.sqlite3 is named, with advice
        return svc.store.explain(exc) if isinstance(exc, sqlite3.Error) else exc

    def search(query: Any = None, options: Any = None) -> dict[str, Any]:
        text = _str(query)
        if text is None:
            raise ApiError(f"RAG.search: query must be a string, got {convert.describe(query)}")
        opts = _opts("RAG.search", options)
        k = opts.get("top_k", opts.get("k", opts.get("limit", 10)))
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ApiError("k must be a positive integer")
        threshold = opts.get("threshold")
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, int | float)):
            raise ApiError("RAG.search: threshold must be a number")
        filters = opts.get("metadata_filter", opts.get("filters"))
        if filters is not None and not isinstance(filters, dict):
            raise ApiError("RAG.search: metadata_filter must be a table of field = value")
        try:
            scope, scope_id, namespace = _scope("RAG.search", opts)
            return svc.search(text, k, scope, scope_id, threshold, filters or None, namespace)
        except errors as exc:
            raise _fail("RAG.search", named(exc)) from None

    def ingest(docs: Any = None, options: Any = None) -> dict[str, Any]:
        data = convert.to_python(docs) if docs is not None else None
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
        opts = _opts("RAG.ingest", options)
        chunking = opts.get("chunking")
        if chunking is not None and not isinstance(chunking, dict):
            raise ApiError("RAG.ingest: chunking must be a table")
        try:
            scope, scope_id, _ = _scope("RAG.ingest", opts)
            return svc.ingest(items, scope, scope_id, chunking)
        except errors as exc:
            raise _fail("RAG.ingest", named(exc)) from None

    def configure(options: Any = None) -> None:
        if options is None or convert.lua_type(options) != "table":
            raise ApiError(f"RAG.configure: expected a table, got {convert.describe(options)}")
        try:
            svc.configure(_opts("RAG.configure", options))
        except errors as exc:
            raise _fail("RAG.configure", named(exc)) from None

    def cleanup_scope(scope: Any = None, scope_id: Any = None) -> int:
        s, sid = _str(scope), _str(scope_id)
        if s is None or (scope_id is not None and sid is None):
            raise ApiError("RAG cleanup failed: expected RAG.cleanup_scope(scope, scope_id) with "
                           f"strings, got {convert.describe(scope)}, {convert.describe(scope_id)}")
        try:
            return svc.cleanup_scope(s, sid)
        except errors as exc:
            raise ApiError(f"RAG cleanup failed: {named(exc)}") from None

    def get_stats(scope: Any = None, scope_id: Any = None) -> dict[str, Any]:
        s = _str(scope) if scope is not None else None
        sid = _str(scope_id) if scope_id is not None else None
        if (scope is not None and s is None) or (scope_id is not None and sid is None):
            raise ApiError("RAG.get_stats: expected (scope, scope_id) strings")
        try:
            return svc.stats(s, sid)
        except errors as exc:
            raise _fail("RAG.get_stats", named(exc)) from None

    def create_session_collection(session_id: Any = None, ttl: Any = None) -> dict[str, Any]:
        sid = _str(session_id)
        if sid is None:
            return {"created": False, "error": "session_id must be a string"}
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
            return {"created": False, "session_id": sid, "error": "ttl must be a number"}
        try:
            return svc.create_session_collection(sid, ttl)
        except errors as exc:
            return {"created": False, "session_id": sid, "error": str(named(exc))}

    def configure_session(options: Any = None) -> dict[str, Any]:
        opts = _opts("RAG.configure_session", options)
        sid = opts.get("session_id")
        if not isinstance(sid, str):
            raise ApiError("RAG.configure_session: session_id is required")
        ttl = opts.get("vector_ttl", 3600)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            raise ApiError("RAG.configure_session: vector_ttl must be a number")
        try:
            return svc.configure_session(sid, ttl)
        except errors as exc:
            raise _fail("RAG.configure_session", named(exc)) from None

    def list_providers() -> list[str]:
        names = list(PROVIDERS)
        configured = (rt.settings.get("providers.providers") or {})
        names += [n for n in configured if n not in names]
        return names

    def save() -> None:
        try:
            svc.save()
        except Exception as exc:
            raise ApiError(f"Failed to save RAG storage: {exc}") from None

    def purge_expired() -> int:
        return svc.purge_expired()

    for name, fn in (("search", search), ("ingest", ingest), ("configure", configure),
                     ("cleanup_scope", cleanup_scope), ("get_stats", get_stats),
                     ("create_session_collection", create_session_collection),
                     ("configure_session", configure_session),
                     ("list_providers", list_providers), ("save", save),
                     ("purge_expired", purge_expired)):
        table[convert.encode(name)] = rt.function(fn, f"RAG.{name}")
