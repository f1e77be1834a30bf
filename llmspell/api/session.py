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
from ..lua import convert
from ..sessions.service import SessionError

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..sessions.service import SessionService


def session_service(rt: Runtime) -> SessionService:
    """The run's session service (opened on first use, closed when the run ends;
    deleting a session deletes its RAG session collection if RAG is in use)."""
    return rt.services.sessions


def text(value: Any, fn: str, position: int, what: str = "session id") -> str:
    if isinstance(value, bytes):
        return convert.decode(value)
    raise ApiError(f"{fn}: {what} (argument #{position}) must be a string, "
                   f"got {convert.describe(value)}")


def table_arg(value: Any, fn: str, position: int) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        data = convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: {exc}") from None
    if data == [] or data == {}:
        return {}
    if not isinstance(data, dict):
        raise ApiError(f"{fn}: argument #{position} must be a table of named fields")
    return data


def calling(fn: str, action: Any, *args: Any) -> Any:
    """Run a service call; a refusal reaches Lua as ``<fn>: <reason>``."""
    try:
        return action(*args)
    except SessionError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def _create_args(fn: str, opts: dict[str, Any]) -> dict[str, Any]:
    for key in ("name", "description"):
        if key in opts and not isinstance(opts[key], str):
            raise ApiError(f"{fn}: {key} must be a string")
    tags = opts.get("tags", [])
    if tags == {}:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ApiError(f"{fn}: tags must be an array of strings")
    metadata = opts.get("metadata", opts.get("custom_metadata"))
    if metadata is not None and not isinstance(metadata, dict):
        raise ApiError(f"{fn}: metadata must be a table")
    return {"name": opts.get("name"), "description": opts.get("description"), "tags": tags,
            "metadata": metadata, "parent_session_id": opts.get("parent_session_id")}


def install(rt: Runtime, table: Any) -> None:
    def svc() -> SessionService:
        return session_service(rt)

    def create(opts: Any = None) -> str:
        args = _create_args("Session.create", table_arg(opts, "Session.create", 1))
        return calling("Session.create", lambda: svc().create(**args))

    def builder() -> Any:
        spec: dict[str, Any] = {"tags": []}

        def setter(field: str) -> Any:
            def set_field(this: Any, value: Any = None) -> Any:
                spec[field] = text(value, f"SessionBuilder:{field}", 1, field)
                return this
            return set_field

        def tag(this: Any, value: Any = None) -> Any:
            spec["tags"].append(text(value, "SessionBuilder:tag", 1, "tag"))
            return this

        def tags(this: Any, value: Any = None) -> Any:
            items = convert.to_python(value) if value is not None else []
            if items == {}:
                items = []
            if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
                raise ApiError("SessionBuilder:tags: expected an array of strings")
            spec["tags"].extend(items)
            return this

        def build(this: Any) -> str:
            args = _create_args("SessionBuilder:build", dict(spec))
            return calling("SessionBuilder:build", lambda: svc().create(**args))

        return rt.object("SessionBuilder", {
            "name": setter("name"), "description": setter("description"), "tag": tag,
            "tags": tags, "build": build})

    def get(session_id: Any = None) -> dict[str, Any]:
        return calling("Session.get", svc().get, text(session_id, "Session.get", 1))

    def list_(query: Any = None) -> list[dict[str, Any]]:
        q = table_arg(query, "Session.list", 1)
        status = q.get("status")
        limit = q.get("limit")
        tags = q.get("tags") or None
        if status is not None and not isinstance(status, str):
            raise ApiError("Session.list: status must be a string")
        if limit is not None and not isinstance(limit, int):
            raise ApiError("Session.list: limit must be an integer")
        if tags is not None and not isinstance(tags, list):
            raise ApiError("Session.list: tags must be an array of strings")
        return calling("Session.list", lambda: svc().list(status, tags, limit))

    def simple(name: str) -> Any:
        fn = f"Session.{name}"

        def call(session_id: Any = None) -> Any:
            return calling(fn, getattr(svc(), name), text(session_id, fn, 1))
        return call

    def get_current() -> str | None:
        return svc().current

    def set_current(session_id: Any = None) -> None:
        if session_id is None:
            svc().set_current(None)
            return
        calling("Session.set_current", svc().set_current,
                text(session_id, "Session.set_current", 1))

    def can_replay(session_id: Any = None) -> bool:
        calling("Session.can_replay", svc().get, text(session_id, "Session.can_replay", 1))
        return False

    def replay(session_id: Any = None, cfg: Any = None) -> Any:
        sid = calling("Session.replay", svc().load, text(session_id, "Session.replay", 1))
        raise ApiError(f"Session.replay: session {sid} has no recorded hook executions to "
                       "replay")

    def get_replay_metadata(session_id: Any = None) -> dict[str, Any]:
        info = calling("Session.get_replay_metadata", svc().get,
                       text(session_id, "Session.get_replay_metadata", 1))
        return {"session_id": info["id"], "can_replay": False, "total_hooks": 0,
                "status": info["status"], "created_at": info["created_at"]}

    def list_replayable() -> list[str]:
        return []

    functions = {
        "create": create, "builder": builder, "get": get, "list": list_,
        "save": simple("save"), "load": simple("load"), "complete": simple("complete"),
        "suspend": simple("suspend"), "resume": simple("resume"), "delete": simple("delete"),
        "get_current": get_current, "set_current": set_current, "can_replay": can_replay,
        "replay": replay, "get_replay_metadata": get_replay_metadata,
        "list_replayable": list_replayable,
    }
    for name, fn in functions.items():
        table[name.encode()] = rt.function(fn, f"Session.{name}")
