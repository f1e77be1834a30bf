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
from ..lua import args
from ..lua.objects import lua_objects
from .session import SessionBacked, calling, session_id

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

QUERY_FIELDS = {"session_id": "string", "type": "string", "name_pattern": "string",
                "tags": "names", "created_after": "string", "created_before": "string",
                "min_size": "integer", "max_size": "integer", "limit": "integer"}


def _artifact_id(value: Any, fn: str, position: int) -> dict[str, Any]:
    data = args.optional_fields(value, fn, position, name="artifact_id")
    if not data:
        raise ApiError(f"{fn}: argument #{position} must be an artifact id table "
                       "{content_hash, session_id, sequence}")
    return data


def _metadata(value: Any, fn: str, position: int) -> dict[str, Any]:
    data = args.optional_fields(value, fn, position, name="metadata")
    if "tags" in data and data["tags"] == {}:
        data["tags"] = []
    return data


class ArtifactGlobal(SessionBacked):
    """The ``Artifact`` table: its methods are the dot-call functions."""

    lua_name = "Artifact"
    lua_names = {"list_artifacts": "list"}

    def store(self, sid: Any = None, kind: Any = None, name: Any = None, content: Any = None,
              metadata: Any = None) -> dict[str, Any]:
        fn = "Artifact.store"
        owner = session_id(sid, fn, 1)
        kind_text = args.text(kind, fn, 2, name="type")
        name_text = args.text(name, fn, 3, name="name")
        if not isinstance(content, bytes):
            raise ApiError(f"{fn}: Content must be string or byte array")
        meta = _metadata(metadata, fn, 5)
        return calling(fn, self._svc().store_artifact, owner, kind_text, name_text, content,
                       meta)

    def get(self, sid: Any = None, artifact_id: Any = None) -> dict[str, Any]:
        fn = "Artifact.get"
        return calling(fn, self._svc().get_artifact, session_id(sid, fn, 1),
                       _artifact_id(artifact_id, fn, 2))

    def list_artifacts(self, sid: Any = None) -> list[dict[str, Any]]:
        return calling("Artifact.list", self._svc().list_artifacts,
                       session_id(sid, "Artifact.list", 1))

    def delete(self, sid: Any = None, artifact_id: Any = None) -> None:
        fn = "Artifact.delete"
        calling(fn, self._svc().delete_artifact, session_id(sid, fn, 1),
                _artifact_id(artifact_id, fn, 2))

    def store_file(self, sid: Any = None, file_path: Any = None, kind: Any = None,
                   metadata: Any = None) -> dict[str, Any]:
        """Reads the file only as ``io.open`` could: file access on, inside the allowed
        paths, never a llmspell config file (``Runtime.checked_path``)."""
        fn = "Artifact.store_file"
        owner = session_id(sid, fn, 1)
        raw = args.text(file_path, fn, 2, name="file_path")
        path = Path(self._rt.checked_path(raw, "r", fn))
        kind_text = args.text(kind, fn, 3, name="type")
        return calling(fn, self._svc().store_file, owner, path, kind_text,
                       _metadata(metadata, fn, 4))

    def query(self, q: Any = None) -> list[dict[str, Any]]:
        fn = "Artifact.query"
        given = args.optional_fields(q, fn, 1, name="query")
        f = {key: args.field(given, key, kind, fn) for key, kind in QUERY_FIELDS.items()}
        return calling(fn, lambda: self._svc().query_artifacts(
            session_id=f["session_id"], artifact_type=f["type"],
            name_pattern=f["name_pattern"], tags=f["tags"], created_after=f["created_after"],
            created_before=f["created_before"], min_size=f["min_size"],
            max_size=f["max_size"], limit=f["limit"]))


def install(rt: Runtime, table: Any) -> None:
    lua_objects(rt).install(table, ArtifactGlobal(rt))
