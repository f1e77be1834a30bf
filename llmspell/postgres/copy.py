"""Moving data between the local stores and a PostgreSQL server (``llmspell store copy``).

An endpoint is ``sqlite:FOLDER`` (``FOLDER/state.db``, ``FOLDER/sessions.db`` with its
artifact folder, and the RAG store in ``FOLDER/rag``, the file names llmspell uses by
default) or ``postgres:URL`` (``postgres`` alone: the configured server). Either way
round. What is copied: state keys, sessions with their artifacts (content checked
against its hash), and RAG vectors with their collections' TTLs and tenant usage.

Copying is idempotent: a key is overwritten, a session already at the destination is
left alone, a RAG document already there is replaced. At the end each part reports how
many items it copied and a SHA-256 over what the source holds and over the same items
read back from the destination; the two must match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LLMSpellError

PARTS = ("state", "sessions", "rag")
Progress = Callable[[str, int, int | None], None]  # (part, done, total or None)


class CopyError(LLMSpellError):
    """An endpoint is malformed, missing, or the copy did not read back the same."""


@dataclass
class Endpoint:
    kind: str               # "sqlite" or "postgres"
    folder: Path | None = None
    url: str | None = None

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:{self.folder}"
        from .database import describe_url

        return f"postgres:{describe_url(self.url or '')}"


def parse_endpoint(text: str, settings: Any) -> Endpoint:
    kind, _, rest = text.partition(":")
    if kind == "sqlite" and rest:
        return Endpoint("sqlite", folder=Path(rest).expanduser().resolve())
    if kind in ("postgres", "postgresql"):
        if kind == "postgresql":  # a bare URL
            return Endpoint("postgres", url=text)
        if rest:
            return Endpoint("postgres", url=rest)
        from .database import postgres_config

        return Endpoint("postgres", url=postgres_config(settings).url)
    raise CopyError(f"store copy: '{text}' is not an endpoint: use sqlite:FOLDER or "
                    "postgres:URL (postgres alone: the configured server)")


@dataclass
class Stores:
    state: Any
    sessions: Any
    rag: Any


@dataclass
class PartReport:
    copied: int = 0
    source_checksum: str = ""
    destination_checksum: str = ""
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        return self.source_checksum == self.destination_checksum


def open_stores(endpoint: Endpoint, settings: Any, stack: ExitStack,
                must_exist: bool) -> Stores:
    dims = int(settings.get("rag.vector_storage.dimensions"))
    metric = settings.get("rag.vector_storage.hnsw.metric") or "cosine"
    if endpoint.kind == "sqlite":
        from ..rag.store import VectorStore
        from ..sessions.store import SessionStore
        from ..state.sqlite_store import SQLiteStore

        folder = endpoint.folder
        assert folder is not None
        if must_exist and not folder.is_dir():
            raise CopyError(f"store copy: {folder} is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        state = SQLiteStore(folder / "state.db")
        stack.callback(state.close)
        sessions = SessionStore(folder / "sessions.db")
        stack.callback(sessions.close)
        rag = VectorStore(dims, metric=metric, path=folder / "rag")
        stack.callback(rag.close)
        return Stores(state, sessions, rag)
    from . import open_database
    from .session_store import PostgresSessionStore
    from .state_store import PostgresStateStore
    from .vector_store import PgVectorStore

    db = open_database(settings, url=endpoint.url)
    stack.callback(db.close)
    return Stores(PostgresStateStore(db), PostgresSessionStore(db),
                  PgVectorStore(db, dims, metric=metric))


def _digest(items: Iterator[Any]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


# -- state --------------------------------------------------------------------------

def copy_state(src: Any, dst: Any, progress: Progress) -> PartReport:
    items = src.items()
    report = PartReport()
    for n, (key, text) in enumerate(items, 1):
        dst.put(key, text)
        report.copied = n
        progress("state", n, len(items))
    canonical = [(k, json.loads(v)) for k, v in items]
    report.source_checksum = _digest(iter(canonical))
    back = [(k, json.loads(dst.get(k) or "null")) for k, _ in items]
    report.destination_checksum = _digest(iter(back))
    return report


# -- sessions -----------------------------------------------------------------------

_ARTIFACT_FIELDS = ("session_id", "sequence", "hash", "name", "artifact_type", "size",
                    "version", "created_at", "metadata")


def _session_view(store: Any, session: dict[str, Any]) -> list[Any]:
    artifacts = [{k: a[k] for k in _ARTIFACT_FIELDS} for a in
                 store.list_artifacts(session["id"])]
    return [session, artifacts]


def copy_sessions(src: Any, dst: Any, progress: Progress) -> PartReport:
    from ..sessions.service import content_hash

    sessions = src.list_sessions()
    report = PartReport(extra={"artifacts": 0})
    for n, session in enumerate(sessions, 1):
        artifacts = src.list_artifacts(session["id"])
        with dst.write() as conn:
            if dst.get_session(session["id"], conn) is None:
                dst.insert_session(conn, session)
                for artifact in artifacts:
                    _copy_artifact(src, dst, conn, artifact, content_hash)
                    report.extra["artifacts"] += 1
        report.copied = n
        progress("sessions", n, len(sessions))
    report.source_checksum = _digest(_session_view(src, s) for s in sessions)
    back = [dst.get_session(s["id"]) for s in sessions]
    report.destination_checksum = _digest(_session_view(dst, s) for s in back if s)
    return report


def _copy_artifact(src: Any, dst: Any, conn: Any, artifact: dict[str, Any],
                   content_hash: Callable[[bytes], str]) -> None:
    import zlib

    blob = src.read_blob(artifact["hash"])
    if blob is None:
        raise CopyError(f"store copy: the content of artifact {artifact['name']} "
                        f"({artifact['hash']}) is missing at the source")
    stored, compressed = blob
    plain = zlib.decompress(stored) if compressed else stored
    if content_hash(plain) != artifact["hash"]:
        raise CopyError(f"store copy: the content of artifact {artifact['name']} does not "
                        "match its hash at the source (damaged); nothing of this session "
                        "was copied")
    dst.put_blob(conn, artifact["hash"], artifact["size"], stored, compressed,
                 dst.prepare_blob(stored))
    dst.insert_artifact(conn, {k: artifact[k] for k in _ARTIFACT_FIELDS})


# -- RAG ----------------------------------------------------------------------------

def copy_rag(src: Any, dst: Any, progress: Progress, batch: int = 500) -> PartReport:
    import numpy as np

    report = PartReport(extra={"namespaces": 0})
    source_rows: list[Any] = []
    namespaces = src.namespaces()
    total = src.count()
    done = 0
    for namespace in namespaces:
        rows = list(src.export(namespace))
        for doc_id in {r[0].doc_id for r in rows}:
            dst.delete_doc(namespace, doc_id)
        for start in range(0, len(rows), batch):
            part = rows[start:start + batch]
            dst.add(namespace, [r for r, _ in part], np.stack([v for _, v in part]))
            done += len(part)
            progress("rag", done, total)
        found, ttl = src.collection_ttl(namespace)
        if found:
            dst.set_collection(namespace, ttl)
        source_rows += [_vector_view(namespace, r, v) for r, v in rows]
        report.extra["namespaces"] += 1
    for tenant, counts in src.usages():  # once: a second copy must not count twice
        if not any(dst.tenant_usage(tenant)[:4]):
            dst.add_usage(tenant, **counts)
    report.copied = done
    report.source_checksum = _digest(iter(sorted(source_rows)))
    back = [_vector_view(ns, r, v) for ns in namespaces for r, v in dst.export(ns)]
    report.destination_checksum = _digest(iter(sorted(back)))
    return report


def _vector_view(namespace: str, record: Any, vector: Any) -> tuple[Any, ...]:
    return (namespace, record.id, record.doc_id, record.chunk_index, record.content,
            json.dumps(record.metadata, sort_keys=True, ensure_ascii=False),
            record.expires_at, hashlib.sha256(vector.astype("<f4").tobytes()).hexdigest())


COPIERS: dict[str, Callable[[Any, Any, Progress], PartReport]] = {
    "state": lambda s, d, p: copy_state(s.state, d.state, p),
    "sessions": lambda s, d, p: copy_sessions(s.sessions, d.sessions, p),
    "rag": lambda s, d, p: copy_rag(s.rag, d.rag, p),
}


def copy_stores(source: str, destination: str, settings: Any, parts: tuple[str, ...] = PARTS,
                progress: Progress | None = None) -> dict[str, PartReport]:
    """Copy ``parts`` from one endpoint to the other; raises ``CopyError`` when a part
    does not read back the same."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise CopyError(f"store copy: unknown part {unknown[0]!r} (use {', '.join(PARTS)})")
    src, dst = parse_endpoint(source, settings), parse_endpoint(destination, settings)
    if str(src) == str(dst):
        raise CopyError(f"store copy: the source and the destination are the same ({src})")
    report = {}
    with ExitStack() as stack:
        source_stores = open_stores(src, settings, stack, must_exist=True)
        destination_stores = open_stores(dst, settings, stack, must_exist=False)
        for part in parts:
            report[part] = COPIERS[part](source_stores, destination_stores,
                                        progress or (lambda *_: None))
    bad = [p for p, r in report.items() if not r.matches]
    if bad:
        raise CopyError(f"store copy: {', '.join(bad)} did not read back the same from "
                        f"{dst} (checksums differ)")
    return report
