"""The Artifact global (spec § 7): content-addressed artifacts stored in sessions.

    local id = Artifact.store(session_id, "tool_result", "out.json", content, {tags = {"x"}})
    -- id = {content_hash = <blake3 hex>, session_id = ..., sequence = 1}
    local a = Artifact.get(session_id, id)      -- {content = "...", metadata = {...}}

Same availability as ``Session``. ``Artifact.store_file`` reads a file only when
``[runtime.security] allow_file_access`` is on and the path is inside the allowed paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from .session import calling, session_service, table_arg, text

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..sessions.service import SessionService


def _artifact_id(value: Any, fn: str, position: int) -> dict[str, Any]:
    data = table_arg(value, fn, position)
    if not data:
        raise ApiError(f"{fn}: argument #{position} must be an artifact id table "
                       "{content_hash, session_id, sequence}")
    return data


def _metadata(value: Any, fn: str, position: int) -> dict[str, Any]:
    data = table_arg(value, fn, position)
    if "tags" in data and data["tags"] == {}:
        data["tags"] = []
    return data


def _readable(rt: Runtime, raw: str, fn: str) -> Path:
    """``raw`` resolved, if ``io.open`` could read it: the same guard (file access on,
    inside the allowed paths, never a llmspell config file)."""
    return Path(rt.checked_path(raw, "r", fn))


def install(rt: Runtime, table: Any) -> None:
    def svc() -> SessionService:
        return session_service(rt)

    def store(session_id: Any = None, kind: Any = None, name: Any = None, content: Any = None,
              metadata: Any = None) -> dict[str, Any]:
        fn = "Artifact.store"
        sid = text(session_id, fn, 1)
        kind_text = text(kind, fn, 2, "artifact type")
        name_text = text(name, fn, 3, "artifact name")
        if not isinstance(content, bytes):
            raise ApiError(f"{fn}: Content must be string or byte array")
        meta = _metadata(metadata, fn, 5)
        return calling(fn, svc().store_artifact, sid, kind_text, name_text, content, meta)

    def get(session_id: Any = None, artifact_id: Any = None) -> dict[str, Any]:
        fn = "Artifact.get"
        return calling(fn, svc().get_artifact, text(session_id, fn, 1),
                       _artifact_id(artifact_id, fn, 2))

    def list_(session_id: Any = None) -> list[dict[str, Any]]:
        return calling("Artifact.list", svc().list_artifacts,
                       text(session_id, "Artifact.list", 1))

    def delete(session_id: Any = None, artifact_id: Any = None) -> None:
        fn = "Artifact.delete"
        calling(fn, svc().delete_artifact, text(session_id, fn, 1),
                _artifact_id(artifact_id, fn, 2))

    def store_file(session_id: Any = None, file_path: Any = None, kind: Any = None,
                   metadata: Any = None) -> dict[str, Any]:
        fn = "Artifact.store_file"
        sid = text(session_id, fn, 1)
        path = _readable(rt, text(file_path, fn, 2, "file path"), fn)
        kind_text = text(kind, fn, 3, "artifact type")
        return calling(fn, svc().store_file, sid, path, kind_text, _metadata(metadata, fn, 4))

    def query(q: Any = None) -> list[dict[str, Any]]:
        fn = "Artifact.query"
        args = table_arg(q, fn, 1)
        known = {"session_id": str, "type": str, "name_pattern": str, "tags": list,
                 "created_after": str, "created_before": str, "min_size": int,
                 "max_size": int, "limit": int}
        for key, kind_ in known.items():
            if key in args and not isinstance(args[key], kind_):
                if key == "tags" and args[key] == {}:
                    args[key] = []
                    continue
                raise ApiError(f"{fn}: {key} must be a {kind_.__name__}")
        return calling(fn, lambda: svc().query_artifacts(
            session_id=args.get("session_id"), artifact_type=args.get("type"),
            name_pattern=args.get("name_pattern"), tags=args.get("tags"),
            created_after=args.get("created_after"), created_before=args.get("created_before"),
            min_size=args.get("min_size"), max_size=args.get("max_size"),
            limit=args.get("limit")))

    functions = {"store": store, "get": get, "list": list_, "delete": delete,
                 "store_file": store_file, "query": query}
    for name, fn in functions.items():
        table[name.encode()] = rt.function(fn, f"Artifact.{name}")
