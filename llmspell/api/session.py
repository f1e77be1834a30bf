"""The Session global (spec § 6): session ids, lifecycle, metadata, current session.

Present when ``[runtime.sessions] enabled`` or ``[rag] enabled``. Sessions live in memory
for the run, or in a SQLite file when ``[runtime.sessions] storage_backend`` is durable
(``sqlite``; upstream's ``sled`` selects it too). Other services use the same sessions
through ``session_service(rt)``.

Replay: upstream replays recorded hook executions of a session. Nothing records hook
executions into sessions here, so ``can_replay`` answers false, ``list_replayable`` is
empty and ``replay`` raises saying there is nothing recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import args
from ..lua.objects import LuaObject, forwarding, lua_objects
from ..sessions.service import SessionError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..sessions.service import SessionService


def session_service(rt: Runtime) -> SessionService:
    """The run's session service (opened on first use, closed when the run ends;
    deleting a session deletes its RAG session collection if RAG is in use)."""
    return rt.services.sessions


def calling(fn: str, action: Any, *values: Any) -> Any:
    """Run a service call; a refusal reaches Lua as ``<fn>: <reason>``."""
    try:
        return action(*values)
    except SessionError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def session_id(value: Any, fn: str, position: int = 1) -> str:
    return args.text(value, fn, position, name="session_id")


def _create_args(fn: str, opts: dict[str, Any]) -> dict[str, Any]:
    metadata = args.field(opts, "metadata", "fields", fn)
    if metadata is None:
        metadata = args.field(opts, "custom_metadata", "fields", fn)
    return {"name": args.field(opts, "name", "string", fn),
            "description": args.field(opts, "description", "string", fn),
            "tags": list(args.field(opts, "tags", "names", fn, default=[])),
            "metadata": metadata, "parent_session_id": opts.get("parent_session_id")}


class SessionBuilder(LuaObject):
    """``Session.builder()``: ``:name(s)``, ``:description(s)``, ``:tag(s)``, ``:tags(t)``
    (each returns the builder), ``:build()`` -> the new session's id."""

    lua_name = "SessionBuilder"

    def __init__(self, sessions: SessionGlobal) -> None:
        self._sessions = sessions
        self._spec: dict[str, Any] = {"tags": []}

    def name(self, value: Any = None) -> SessionBuilder:
        self._spec["name"] = args.text(value, "SessionBuilder:name", 1, name="name")
        return self

    def description(self, value: Any = None) -> SessionBuilder:
        self._spec["description"] = args.text(value, "SessionBuilder:description", 1,
                                              name="description")
        return self

    def tag(self, value: Any = None) -> SessionBuilder:
        self._spec["tags"].append(args.text(value, "SessionBuilder:tag", 1, name="tag"))
        return self

    def tags(self, value: Any = None) -> SessionBuilder:
        if value is not None:
            self._spec["tags"].extend(args.names(value, "SessionBuilder:tags", 1, name="tags"))
        return self

    def build(self) -> str:
        return self._sessions._create_from("SessionBuilder:build", dict(self._spec))


class SessionBacked(LuaObject):
    """A global served by the run's session service (``Session``, ``Artifact``); the
    service opens on the first call that needs it."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def _svc(self) -> SessionService:
        return session_service(self._rt)


@forwarding("_call", "get", "save", "load", "complete", "suspend", "resume", "delete")
class SessionGlobal(SessionBacked):
    """The ``Session`` table: its methods are the dot-call functions."""

    lua_name = "Session"
    lua_names = {"list_sessions": "list"}

    def _call(self, name: str, value: Any) -> Any:
        """``Session.<name>(session_id)``: the service's method of the same name."""
        fn = f"Session.{name}"
        return calling(fn, getattr(self._svc(), name), session_id(value, fn))

    def _create_from(self, fn: str, opts: dict[str, Any]) -> str:
        created = _create_args(fn, opts)
        return calling(fn, lambda: self._svc().create(**created))

    def create(self, opts: Any = None) -> str:
        return self._create_from("Session.create",
                                args.optional_fields(opts, "Session.create", 1))

    def builder(self) -> SessionBuilder:
        return SessionBuilder(self)

    def list_sessions(self, query: Any = None) -> list[dict[str, Any]]:
        fn = "Session.list"
        q = args.optional_fields(query, fn, 1, name="query")
        status = args.field(q, "status", "string", fn)
        limit = args.field(q, "limit", "integer", fn)
        tags = args.field(q, "tags", "names", fn) or None
        return calling(fn, lambda: self._svc().list(status, tags, limit))

    def get_current(self) -> str | None:
        return self._svc().current

    def set_current(self, sid: Any = None) -> None:
        if sid is None:
            self._svc().set_current(None)
            return
        self._call("set_current", sid)

    def can_replay(self, sid: Any = None) -> bool:
        """Nothing records hook executions into sessions: never replayable."""
        calling("Session.can_replay", self._svc().get, session_id(sid, "Session.can_replay"))
        return False

    def replay(self, sid: Any = None, cfg: Any = None) -> None:
        loaded = calling("Session.replay", self._svc().load, session_id(sid, "Session.replay"))
        raise ApiError(f"Session.replay: session {loaded} has no recorded hook executions "
                       "to replay")

    def get_replay_metadata(self, sid: Any = None) -> dict[str, Any]:
        fn = "Session.get_replay_metadata"
        info = calling(fn, self._svc().get, session_id(sid, fn))
        return {"session_id": info["id"], "can_replay": False, "total_hooks": 0,
                "status": info["status"], "created_at": info["created_at"]}

    def list_replayable(self) -> list[str]:
        return []


def install(rt: Runtime, table: Any) -> None:
    lua_objects(rt).install(table, SessionGlobal(rt))
