"""Sessions and artifacts (the services behind ``Session`` and ``Artifact``, spec § 6-7).

    svc = SessionService(SessionStore(":memory:"))
    sid = svc.create(name="chat", tags=["demo"])          # a UUID string
    svc.suspend(sid); svc.resume(sid); svc.complete(sid)  # lifecycle
    aid = svc.store_artifact(sid, "user_input", "q.txt", b"hello", {"tags": ["x"]})
          -> {"content_hash": <blake3 hex>, "session_id": sid, "sequence": 1}
    svc.get_artifact(sid, aid) -> {"content": b"hello", "metadata": {...}}

Every change is written through to the store at once (one transaction), so with a
durable store nothing acknowledged is lost when the process ends, however it ends.
Artifact content is hashed with BLAKE3, stored once per distinct content, compressed
(zlib) above ``compression_threshold`` bytes when that makes it smaller, and verified
against its hash when read back.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from .store import SessionStore

if TYPE_CHECKING:
    from ..config import Settings

# action -> (statuses it may start from, status it leads to)
TRANSITIONS = {
    "suspend": ({"active"}, "suspended"),
    "resume": ({"suspended"}, "active"),
    "complete": ({"active", "suspended"}, "completed"),
}
KNOWN_TYPES = {
    "agent_output": "AgentOutput",
    "tool_result": "ToolResult",
    "user_input": "UserInput",
    "system_generated": "SystemGenerated",
}
METADATA_FIELDS = ("mime_type", "description", "tags", "created_by", "parent_artifact")
DEFAULT_MAX_ARTIFACT_SIZE = 100 * 1024 * 1024


class SessionError(StateError):
    """A session or artifact operation was refused (not found, invalid, over a limit)."""


def rfc3339(moment: datetime) -> str:
    """A fixed-width UTC stamp (microseconds, ``Z``): such stamps sort as text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SessionError(f"{what}: not an RFC3339 time: '{text}'") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_id(session_id: Any) -> str:
    """A canonical session id, or ``Invalid session ID: ...``."""
    if not isinstance(session_id, str):
        raise SessionError(f"Invalid session ID: expected a string, got {session_id!r}")
    try:
        return str(uuid.UUID(session_id))
    except ValueError:
        raise SessionError(f"Invalid session ID: {session_id}") from None


def artifact_type_name(kind: str) -> tuple[str, str]:
    """(stored name, upstream debug name) for an artifact type string."""
    if not isinstance(kind, str) or not kind.strip():
        raise SessionError("Artifact type cannot be empty")
    low = kind.strip().lower()
    if low in KNOWN_TYPES:
        return low, KNOWN_TYPES[low]
    return kind, f'Custom("{kind}")'


def content_hash(content: bytes) -> str:
    import blake3

    return blake3.blake3(content).hexdigest()


# The memory backend holds at most this much artifact content and session metadata in all
# (or max_artifact_size, if larger; no limit when that is 0): it lives in this process,
# outside the Lua heap's cap, and the count limits alone allow 100 x 1000 x 100 MB.
MEMORY_HELD_LIMIT = 256 * 1024 * 1024


class SessionService:
    """Session lifecycle and content-addressed artifacts over a ``SessionStore``."""

    def __init__(self, store: SessionStore, *, max_sessions: int = 100,
                 max_artifacts_per_session: int = 1000, compression_threshold: int = 10240,
                 max_artifact_size: int = DEFAULT_MAX_ARTIFACT_SIZE,
                 session_timeout: float | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        # an active session idle for longer than this many seconds expires (0/None: never)
        self.session_timeout = session_timeout or 0
        self.clock = clock  # what "now" is (tests move it forward)
        self.max_sessions = max_sessions
        self.max_artifacts_per_session = max_artifacts_per_session
        self.compression_threshold = compression_threshold
        self.max_artifact_size = max_artifact_size
        # Called with the id of each deleted session (RAG drops its session collection).
        self.on_delete: list[Callable[[str], None]] = []
        self.current: str | None = None

    @property
    def backend(self) -> str:
        return self.store.backend

    # -- sessions ---------------------------------------------------------------------

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {"id": row["id"], "tags": row["tags"], "status": row["status"],
               "created_at": row["created_at"], "updated_at": row["updated_at"],
               "custom_metadata": row["custom_metadata"],
               "artifact_count": row["artifact_count"]}
        for key in ("name", "description", "parent_session_id"):
            if row.get(key) is not None:
                out[key] = row[key]
        return out

    # -- idle timeout ---------------------------------------------------------------
    # Activity is any change to a session: create, save, suspend/resume, storing an
    # artifact (each moves ``updated_at``). An *active* session whose ``updated_at`` is
    # older than ``session_timeout`` seconds becomes ``expired`` the next time anything
    # looks at it (lazily; nothing runs in the background). Expired is final: its
    # artifacts stay readable, storing into it raises, it can be deleted.

    def _stamp(self) -> str:
        return rfc3339(self.clock())

    def _cutoff(self) -> str | None:
        if not self.session_timeout:
            return None
        return rfc3339(self.clock() - timedelta(seconds=self.session_timeout))

    @staticmethod
    def _idle(row: dict[str, Any], cutoff: str | None) -> bool:
        return cutoff is not None and row["status"] == "active" and row["updated_at"] < cutoff

    def _expire(self, rows: list[dict[str, Any]], conn: Any = None) -> None:
        """Mark the idle ones among ``rows`` expired (in the rows and in the store)."""
        cutoff = self._cutoff()
        idle = [r for r in rows if self._idle(r, cutoff)]
        if not idle:
            return
        if conn is None:
            with self.store.write() as own:
                for r in idle:
                    # only if nothing touched it since we read it (another process may)
                    self.store.expire_unchanged(own, r["id"], r["updated_at"])
        else:
            for r in idle:
                self.store.update_session(conn, r["id"], status="expired")
        for r in idle:
            r["status"] = "expired"

    def expire_idle(self) -> int:
        """Expire every idle active session now; returns how many."""
        cutoff = self._cutoff()
        if cutoff is None:
            return 0
        with self.store.write() as conn:
            return self.store.expire_idle(conn, cutoff)

    def _expired_message(self, sid: str) -> str:
        return (f"Session {sid} has expired (no activity for more than "
                f"{self.session_timeout:g} s, runtime.sessions.session_timeout_seconds); its "
                "artifacts can still be read: create a new session to store more")

    def _row(self, session_id: Any) -> dict[str, Any]:
        sid = check_id(session_id)
        row = self.store.get_session(sid)
        if row is None:
            raise SessionError(f"Session not found: {sid}")
        self._expire([row])
        return row

    def create(self, name: str | None = None, description: str | None = None,
               tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
               parent_session_id: str | None = None) -> str:
        """Create an active session; returns its id (a UUID string)."""
        for field, value in (("name", name), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise SessionError(f"session {field} must be a string")
        tags = list(tags or [])
        if not all(isinstance(t, str) for t in tags):
            raise SessionError("session tags must be a list of strings")
        if metadata is not None and not isinstance(metadata, dict):
            raise SessionError("session metadata must be a table of string keys")
        parent = check_id(parent_session_id) if parent_session_id is not None else None
        sid = str(uuid.uuid4())
        stamp = self._stamp()
        cutoff = self._cutoff()
        with self.store.write() as conn:
            if cutoff is not None:  # idle sessions no longer count as active
                self.store.expire_idle(conn, cutoff)
            if parent is not None and self.store.get_session(parent, conn) is None:
                raise SessionError(f"Parent session not found: {parent}")
            active = self.store.count_sessions(conn, "active")
            if self.max_sessions and active >= self.max_sessions:
                raise SessionError(f"Maximum active sessions reached ({self.max_sessions}; "
                                   "runtime.sessions.max_sessions): complete or delete some")
            self._check_held(conn, len(json.dumps(metadata or {}, default=str)))
            self.store.insert_session(conn, {
                "id": sid, "name": name, "description": description, "tags": tags,
                "status": "active", "created_at": stamp, "updated_at": stamp,
                "parent_session_id": parent, "custom_metadata": metadata or {}})
        return sid

    def _check_held(self, conn: Any, adding: int) -> None:
        """Refuse ``adding`` more bytes past ``MEMORY_HELD_LIMIT`` (memory backend only)."""
        if not self.store.memory or not self.max_artifact_size:
            return
        limit = max(MEMORY_HELD_LIMIT, self.max_artifact_size)
        held = self.store.held_bytes(conn)
        if held + adding > limit:
            raise SessionError(f"the sessions held in memory would exceed {limit} bytes of "
                               "artifacts and metadata; delete some sessions, or use a "
                               "durable storage_backend")

    def get(self, session_id: Any) -> dict[str, Any]:
        return self._public(self._row(session_id))

    def exists(self, session_id: Any) -> bool:
        return self.store.get_session(check_id(session_id)) is not None

    def list(self, status: str | None = None, tags: list[str] | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        rows = self.store.list_sessions()
        self._expire(rows)
        if status:
            rows = [r for r in rows if r["status"] == status]
        if tags:
            wanted = set(tags)
            rows = [r for r in rows if wanted.issubset(r["tags"])]
        if limit is not None and limit >= 0:
            rows = rows[:limit]
        return [self._public(r) for r in rows]

    def save(self, session_id: Any) -> None:
        """Persist the session (every change is already written through; this checks it
        exists and records the save time)."""
        row = self._row(session_id)
        with self.store.write() as conn:
            self.store.update_session(conn, row["id"], updated_at=self._stamp())

    def load(self, session_id: Any) -> str:
        return self._row(session_id)["id"]

    def _transition(self, session_id: Any, action: str) -> None:
        allowed, target = TRANSITIONS[action]
        sid = check_id(session_id)
        refused = None
        with self.store.write() as conn:
            row = self.store.get_session(sid, conn)
            if row is None:
                raise SessionError(f"Session not found: {sid}")
            self._expire([row], conn)  # committed even when the transition is refused
            if row["status"] not in allowed:
                refused = (f"Invalid session state transition: cannot {action} a "
                           f"{row['status']} session ({sid})")
            elif target == "active" and self.max_sessions and \
                    self.store.count_sessions(conn, "active") >= self.max_sessions:
                refused = f"Maximum active sessions reached ({self.max_sessions})"
            else:
                self.store.update_session(conn, sid, status=target, updated_at=self._stamp())
        if refused:
            raise SessionError(refused)

    def suspend(self, session_id: Any) -> None:
        self._transition(session_id, "suspend")

    def resume(self, session_id: Any) -> None:
        self._transition(session_id, "resume")

    def complete(self, session_id: Any) -> None:
        self._transition(session_id, "complete")

    def delete(self, session_id: Any) -> None:
        sid = check_id(session_id)
        if not self.store.delete_session(sid):
            raise SessionError(f"Session not found: {sid}")
        if self.current == sid:
            self.current = None
        for listener in self.on_delete:
            listener(sid)

    def set_current(self, session_id: Any) -> None:
        self.current = None if session_id is None else check_id(session_id)

    def resolve(self, session_id: Any) -> str:
        """``""`` means the current session (``No current session set`` if there is none)."""
        if session_id == "" or session_id is None:
            if self.current is None:
                raise SessionError("No current session set")
            return self.current
        return check_id(session_id)

    # -- artifacts --------------------------------------------------------------------

    def store_artifact(self, session_id: Any, artifact_type: str, name: str,
                       content: bytes | str, metadata: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
        """Store content in an active session; returns the ArtifactId."""
        sid = check_id(session_id)
        stored_type, _ = artifact_type_name(artifact_type)
        if not isinstance(name, str) or not name:
            raise SessionError("Artifact name must be a non-empty string")
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        if not isinstance(content, bytes | bytearray):
            raise SessionError("Content must be string or byte array")
        content = bytes(content)
        if self.max_artifact_size and len(content) > self.max_artifact_size:
            raise SessionError(f"Artifact too large: {len(content)} bytes (limit "
                               f"{self.max_artifact_size}, runtime.sessions.max_artifact_size)")
        meta = dict(metadata or {})
        info = {k: meta.pop(k) for k in METADATA_FIELDS if k in meta}
        tags = info.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise SessionError("artifact metadata.tags must be a list of strings")
        info["tags"] = tags
        info["mime_type"] = info.get("mime_type") or guess_mime(name, content)
        info["custom"] = meta
        digest = content_hash(content)
        stored, compressed = content, False
        if self.compression_threshold and len(content) > self.compression_threshold:
            packed = zlib.compress(content, 6)
            if len(packed) < len(content):
                stored, compressed = packed, True
        prepared = self.store.prepare_blob(stored)
        expired = False
        try:
            with self.store.write() as conn:
                row = self.store.get_session(sid, conn)
                if row is None:
                    raise SessionError(f"Session not found: {sid}")
                self._expire([row], conn)
                if row["status"] == "expired":
                    expired = True  # commit the expiry, then refuse (below)
                elif row["status"] != "active":
                    raise SessionError(f"Session {sid} is not active (status: {row['status']})")
                elif self.max_artifacts_per_session and \
                        row["artifact_count"] >= self.max_artifacts_per_session:
                    raise SessionError(
                        f"Session {sid} has reached its artifact limit "
                        f"({self.max_artifacts_per_session}; "
                        "runtime.sessions.max_artifacts_per_session)")
                else:
                    self._check_held(conn, len(stored))
                    sequence = row["next_sequence"] + 1
                    stamp = self._stamp()
                    self.store.put_blob(conn, digest, len(content), stored, compressed,
                                        prepared)
                    prepared = None
                    self.store.insert_artifact(conn, {
                        "session_id": sid, "sequence": sequence, "hash": digest, "name": name,
                        "artifact_type": stored_type, "size": len(content),
                        "version": self.store.next_version(conn, sid, name),
                        "created_at": stamp, "metadata": info})
                    self.store.update_session(conn, sid, next_sequence=sequence,
                                              updated_at=stamp,
                                              artifact_count=row["artifact_count"] + 1)
        finally:
            if prepared is not None:
                prepared.unlink(missing_ok=True)
        if expired:
            raise SessionError(self._expired_message(sid))
        return {"content_hash": digest, "session_id": sid, "sequence": sequence}

    def store_file(self, session_id: Any, path: Path, artifact_type: str,
                   metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise SessionError(f"File not found: {path}") from None
        except OSError as exc:
            raise SessionError(f"Cannot read {path}: {exc.strerror}") from None
        meta = dict(metadata or {})
        meta.setdefault("source_path", str(path))
        return self.store_artifact(session_id, artifact_type, path.name, content, meta)

    def _locate(self, session_id: Any, artifact_id: Any) -> dict[str, Any]:
        sid = self.resolve(session_id)
        if not isinstance(artifact_id, dict):
            raise SessionError("artifact id must be a table {content_hash, session_id, sequence}")
        sequence = artifact_id.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise SessionError("artifact id needs an integer 'sequence'")
        owner = artifact_id.get("session_id")
        if owner is not None and check_id(owner) != sid:
            raise SessionError(f"Artifact belongs to session {owner}, not {sid}")
        row = self.store.get_artifact(sid, sequence)
        wanted = artifact_id.get("content_hash")
        if row is None or (wanted is not None and wanted != row["hash"]):
            raise SessionError(f"Artifact not found: session {sid}, sequence {sequence}")
        return row

    def _metadata(self, row: dict[str, Any]) -> dict[str, Any]:
        info = row["metadata"]
        _, debug_name = artifact_type_name(row["artifact_type"])
        out: dict[str, Any] = {
            "name": row["name"], "artifact_type": debug_name, "mime_type": info["mime_type"],
            "size": row["size"], "tags": info.get("tags", []), "custom": info.get("custom", {}),
            "version": row["version"], "created_at": row["created_at"],
            "is_compressed": row["compressed"],
            "artifact_id": {"content_hash": row["hash"], "session_id": row["session_id"],
                            "sequence": row["sequence"]},
        }
        for key in ("description", "created_by", "parent_artifact"):
            if info.get(key) is not None:
                out[key] = info[key]
        if row["compressed"]:
            out["original_size"] = row["size"]
            out["stored_size"] = row["stored_size"]
        return out

    def get_artifact(self, session_id: Any, artifact_id: Any) -> dict[str, Any]:
        row = self._locate(session_id, artifact_id)
        blob = self.store.read_blob(row["hash"])
        if blob is None:
            raise SessionError(f"Failed to get content: blob {row['hash']} is missing")
        data, compressed = blob
        if compressed:
            try:
                data = zlib.decompress(data)
            except zlib.error as exc:
                raise SessionError(f"Failed to get content: {exc}") from None
        if content_hash(data) != row["hash"]:
            raise SessionError(f"Failed to get content: content of {row['name']} does not "
                               "match its hash (damaged)")
        return {"content": data, "metadata": self._metadata(row)}

    def list_artifacts(self, session_id: Any) -> list[dict[str, Any]]:
        sid = self.resolve(session_id)
        if self.store.get_session(sid) is None:
            raise SessionError(f"Session not found: {sid}")
        return [self._metadata(r) for r in self.store.list_artifacts(sid)]

    def delete_artifact(self, session_id: Any, artifact_id: Any) -> None:
        row = self._locate(session_id, artifact_id)
        self.store.delete_artifact(row["session_id"], row["sequence"])

    def query_artifacts(self, session_id: str | None = None, artifact_type: str | None = None,
                        name_pattern: str | None = None, tags: list[str] | None = None,
                        created_after: str | None = None, created_before: str | None = None,
                        min_size: int | None = None, max_size: int | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
        sid = check_id(session_id) if session_id else None
        rows = self.store.list_artifacts(sid)
        if artifact_type:
            stored, _ = artifact_type_name(artifact_type)
            rows = [r for r in rows if r["artifact_type"].lower() == stored.lower()]
        if name_pattern:
            if any(ch in name_pattern for ch in "*?["):
                rows = [r for r in rows if fnmatch.fnmatchcase(r["name"], name_pattern)]
            else:
                rows = [r for r in rows if name_pattern in r["name"]]
        if tags:
            wanted = set(tags)
            rows = [r for r in rows if wanted.issubset(r["metadata"].get("tags", []))]
        if created_after:
            after = parse_time(created_after, "created_after")
            rows = [r for r in rows if parse_time(r["created_at"], "created_at") > after]
        if created_before:
            before = parse_time(created_before, "created_before")
            rows = [r for r in rows if parse_time(r["created_at"], "created_at") < before]
        if min_size is not None:
            rows = [r for r in rows if r["size"] >= min_size]
        if max_size is not None:
            rows = [r for r in rows if r["size"] <= max_size]
        if limit is not None and limit >= 0:
            rows = rows[:limit]
        return [self._metadata(r) for r in rows]

    def close(self) -> None:
        self.store.close()


def guess_mime(name: str, content: bytes) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(name)
    if guessed:
        return guessed
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def sessions_path(settings: Settings) -> Path:
    from ..state.service import resolve_path

    return resolve_path(settings.get("runtime.sessions.path"), "sessions.db")


def open_sessions(settings: Settings, database: Callable[[], Any] | None = None
                  ) -> SessionService:
    """The session service the settings ask for (memory unless storage_backend is durable)."""
    from ..state.service import backend_name

    backend = backend_name(settings.get("runtime.sessions.storage_backend"), "runtime.sessions")
    store: Any
    if backend == "postgres":
        from ..postgres import open_database
        from ..postgres.session_store import PostgresSessionStore

        db = database() if database else open_database(settings)
        store = PostgresSessionStore(db, owns_db=database is None)
    else:
        store = SessionStore(":memory:" if backend == "memory" else sessions_path(settings))
    return SessionService(
        store,
        max_sessions=settings.get("runtime.sessions.max_sessions"),
        max_artifacts_per_session=settings.get("runtime.sessions.max_artifacts_per_session"),
        compression_threshold=settings.get("runtime.sessions.artifact_compression_threshold"),
        max_artifact_size=settings.get("runtime.sessions.max_artifact_size"),
        session_timeout=float(settings.get("runtime.sessions.session_timeout_seconds")))
