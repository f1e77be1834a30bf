"""Sessions and artifacts: the service over memory/SQLite stores, and the Lua globals."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import blake3
import pytest
from lua_text import lua_fmt
from stores import open_session_store

from llmspell import config as config_mod
from llmspell.sessions.service import SessionError, SessionService, open_sessions


def make(kind: str, tmp_path: Path, request: pytest.FixtureRequest | None = None,
         **limits: int) -> SessionService:
    options = {} if kind == "postgres" else {"inline_max": 1024}
    return SessionService(open_session_store(kind, request, tmp_path, **options), **limits)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> SessionService:
    service = make(request.param, tmp_path, request)
    yield service
    service.close()


def test_create_get_list(svc: SessionService) -> None:
    sid = svc.create(name="chat", description="d", tags=["a", "b"], metadata={"k": 1})
    assert re.fullmatch(r"[0-9a-f-]{36}", sid)
    info = svc.get(sid)
    assert info["name"] == "chat" and info["description"] == "d"
    assert info["tags"] == ["a", "b"] and info["status"] == "active"
    assert info["custom_metadata"] == {"k": 1} and info["created_at"].endswith("Z")
    assert "parent_session_id" not in info
    other = svc.create(tags=["b"], parent_session_id=sid)
    assert svc.get(other)["parent_session_id"] == sid
    assert [s["id"] for s in svc.list(tags=["a"])] == [sid]
    assert len(svc.list(tags=["b"])) == 2 and len(svc.list(limit=1)) == 1
    assert svc.load(sid) == sid


def test_lifecycle(svc: SessionService) -> None:
    sid = svc.create()
    svc.suspend(sid)
    assert svc.get(sid)["status"] == "suspended"
    assert [s["id"] for s in svc.list(status="suspended")] == [sid]
    with pytest.raises(SessionError, match="cannot suspend a suspended"):
        svc.suspend(sid)
    svc.resume(sid)
    svc.complete(sid)
    with pytest.raises(SessionError, match="cannot resume a completed"):
        svc.resume(sid)
    svc.delete(sid)
    with pytest.raises(SessionError, match="Session not found"):
        svc.get(sid)
    with pytest.raises(SessionError, match="Invalid session ID: nope"):
        svc.get("nope")


@pytest.mark.parametrize("kind", ["memory", "postgres"])
def test_max_active_sessions(kind: str, tmp_path: Path, request: pytest.FixtureRequest
                             ) -> None:
    svc = make(kind, tmp_path, request, max_sessions=2)
    a = svc.create()
    svc.create()
    with pytest.raises(SessionError, match="Maximum active sessions reached"):
        svc.create()
    svc.complete(a)
    svc.create()


def test_artifact_round_trip_and_metadata(svc: SessionService) -> None:
    sid = svc.create()
    content = bytes(range(256)) * 3  # binary, not UTF-8
    aid = svc.store_artifact(sid, "Tool_Result", "dump.bin", content,
                             {"tags": ["t"], "description": "raw", "run": 7})
    assert aid == {"content_hash": blake3.blake3(content).hexdigest(), "session_id": sid,
                   "sequence": 1}
    got = svc.get_artifact(sid, aid)
    assert got["content"] == content
    meta = got["metadata"]
    assert meta["artifact_type"] == "ToolResult" and meta["name"] == "dump.bin"
    assert meta["size"] == len(content) and meta["tags"] == ["t"]
    assert meta["description"] == "raw" and meta["custom"] == {"run": 7}
    assert meta["mime_type"] == "application/octet-stream" and meta["version"] == 1
    second = svc.store_artifact(sid, "text", "dump.bin", b"v2")
    assert second["sequence"] == 2
    assert svc.get_artifact(sid, second)["metadata"]["version"] == 2
    assert svc.get_artifact(sid, second)["metadata"]["artifact_type"] == 'Custom("text")'
    assert [m["name"] for m in svc.list_artifacts(sid)] == ["dump.bin", "dump.bin"]
    svc.delete_artifact(sid, aid)
    with pytest.raises(SessionError, match="Artifact not found"):
        svc.get_artifact(sid, aid)
    assert svc.get(sid)["artifact_count"] == 1
    with pytest.raises(SessionError, match="Artifact not found"):
        svc.get_artifact(sid, {**second, "content_hash": "0" * 64})


def test_artifact_limits_and_rules(tmp_path: Path) -> None:
    svc = make("memory", tmp_path, max_artifacts_per_session=2, max_artifact_size=100)
    sid = svc.create()
    with pytest.raises(SessionError, match="Artifact type cannot be empty"):
        svc.store_artifact(sid, "", "n", b"x")
    with pytest.raises(SessionError, match="Artifact too large: 101 bytes"):
        svc.store_artifact(sid, "text", "n", b"x" * 101)
    svc.store_artifact(sid, "text", "a", b"1")
    svc.store_artifact(sid, "text", "b", b"2")
    with pytest.raises(SessionError, match="artifact limit"):
        svc.store_artifact(sid, "text", "c", b"3")
    other = svc.create()
    svc.complete(other)
    with pytest.raises(SessionError, match="not active \\(status: completed\\)"):
        svc.store_artifact(other, "text", "c", b"3")
    with pytest.raises(SessionError, match="Session not found"):
        svc.store_artifact("00000000-0000-0000-0000-000000000000", "text", "c", b"3")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_compression_above_threshold(kind: str, tmp_path: Path,
                                     request: pytest.FixtureRequest) -> None:
    svc = make(kind, tmp_path, request, compression_threshold=100)
    sid = svc.create()
    text = b"abcdefgh" * 500
    aid = svc.store_artifact(sid, "text", "big.txt", text)
    meta = svc.get_artifact(sid, aid)["metadata"]
    assert meta["is_compressed"] is True and meta["original_size"] == len(text)
    assert meta["stored_size"] < len(text)
    assert svc.get_artifact(sid, aid)["content"] == text
    small = svc.store_artifact(sid, "text", "s.txt", b"tiny")
    assert svc.get_artifact(sid, small)["metadata"]["is_compressed"] is False


def test_large_content_lives_in_files_and_is_shared(tmp_path: Path) -> None:
    svc = make("sqlite", tmp_path, compression_threshold=0)
    sid = svc.create()
    content = bytes(range(256)) * 20  # 5120 bytes > inline_max (1024)
    a = svc.store_artifact(sid, "text", "one", content)
    b = svc.store_artifact(sid, "text", "two", content)
    blob = tmp_path / "sessions-artifacts" / a["content_hash"][:2] / a["content_hash"]
    assert blob.read_bytes() == content
    conn = sqlite3.connect(tmp_path / "sessions.db")
    rows = conn.execute("SELECT in_file, data FROM blobs").fetchall()
    assert rows == [(1, None)]  # stored once, out of the row store
    conn.close()
    svc.delete_artifact(sid, a)
    assert blob.exists()  # still used by "two"
    assert svc.get_artifact(sid, b)["content"] == content
    svc.delete(sid)
    assert not blob.exists()
    assert not list((tmp_path / "sessions-artifacts").rglob(".trash-*"))


def test_damaged_content_is_detected(tmp_path: Path) -> None:
    svc = make("sqlite", tmp_path, compression_threshold=0)
    sid = svc.create()
    aid = svc.store_artifact(sid, "text", "f", b"z" * 4000)
    blob = tmp_path / "sessions-artifacts" / aid["content_hash"][:2] / aid["content_hash"]
    blob.write_bytes(b"y" * 4000)
    with pytest.raises(SessionError, match="does not match its hash"):
        svc.get_artifact(sid, aid)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sessions_persist_between_opens(kind: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    first = make(kind, tmp_path, request)
    sid = first.create(name="keep")
    aid = first.store_artifact(sid, "user_input", "q", "question?")
    first.suspend(sid)
    first.close()
    second = make(kind, tmp_path, request)
    assert second.get(sid)["status"] == "suspended"
    assert second.get_artifact(sid, aid)["content"] == b"question?"
    second.resume(sid)
    assert second.store_artifact(sid, "user_input", "q2", "again")["sequence"] == 2
    second.close()


def test_query(svc: SessionService) -> None:
    s1, s2 = svc.create(), svc.create()
    svc.store_artifact(s1, "tool_result", "report.md", b"x" * 10, {"tags": ["r"]})
    svc.store_artifact(s1, "user_input", "note.txt", b"y" * 100)
    svc.store_artifact(s2, "tool_result", "other.md", b"z")
    assert {m["name"] for m in svc.query_artifacts(artifact_type="TOOL_RESULT")} == {
        "report.md", "other.md"}
    assert [m["name"] for m in svc.query_artifacts(session_id=s1, name_pattern="*.md")] == [
        "report.md"]
    assert [m["name"] for m in svc.query_artifacts(name_pattern="note")] == ["note.txt"]
    assert [m["name"] for m in svc.query_artifacts(tags=["r"])] == ["report.md"]
    assert [m["name"] for m in svc.query_artifacts(min_size=50)] == ["note.txt"]
    assert [m["name"] for m in svc.query_artifacts(max_size=1)] == ["other.md"]
    assert svc.query_artifacts(created_after="2999-01-01T00:00:00Z") == []
    assert len(svc.query_artifacts(created_before="2999-01-01T00:00:00Z", limit=2)) == 2


def test_open_sessions_backends(tmp_path: Path) -> None:
    memory = open_sessions(config_mod.from_dict({}, environ={}))
    assert memory.backend == "memory"
    memory.close()
    cfg = {"runtime": {"sessions": {"storage_backend": "sled",
                                     "path": str(tmp_path / "s.db")}}}
    durable = open_sessions(config_mod.from_dict(cfg, environ={}))
    assert durable.backend == "sqlite" and (tmp_path / "s.db").is_file()
    durable.close()


# -- Lua ---------------------------------------------------------------------------

def test_globals_only_when_enabled(lua) -> None:
    assert lua("return {Session == nil, Artifact == nil}").value == [True, True]
    on = {"runtime": {"sessions": {"enabled": True}}}
    assert lua("return {Session ~= nil, Artifact ~= nil}", config=on).value == [True, True]
    rag = {"rag": {"enabled": True}}
    assert lua("return type(Session.create)", config=rag).value == "function"


SESSIONS_ON = {"runtime": {"sessions": {"enabled": True}}}


@pytest.fixture(params=["memory", "postgres"])
def sessions_on(request: pytest.FixtureRequest) -> dict:
    """Sessions enabled in memory, or on a PostgreSQL server (a fresh database)."""
    if request.param == "memory":
        return SESSIONS_ON
    url = request.getfixturevalue("postgres_url")
    return {"runtime": {"sessions": {"enabled": True, "storage_backend": "postgres"}},
            "storage": {"postgres": {"url": url}}}


def test_rag_session_shapes(lua) -> None:
    run = lua("""
        local sid = Session.create({name = "conv", description = "a chat", tags = {"rag"}})
        local id = Artifact.store(sid, "text", "history", "turn 1\\nturn 2",
                                  {conversation_turns = 2, timestamp = os.time()})
        local got = Artifact.get(sid, id)
        return {sid = sid, kind = type(sid), hash = id.content_hash, owner = id.session_id,
                seq = id.sequence, content = got.content,
                turns = got.metadata.custom.conversation_turns,
                mime = got.metadata.mime_type, listed = #Artifact.list(sid)}
    """, config=SESSIONS_ON)
    v = run.value
    assert v["kind"] == "string" and v["owner"] == v["sid"] and v["seq"] == 1
    assert re.fullmatch(r"[0-9a-f]{64}", v["hash"])
    assert v["content"] == "turn 1\nturn 2" and v["turns"] == 2 and v["listed"] == 1
    assert v["mime"] == "text/plain"


def test_session_lua_lifecycle_and_errors(lua, sessions_on: dict) -> None:
    run = lua("""
        local sid = Session.builder():name("b"):description("d"):tag("x"):tags({"y"}):build()
        local info = Session.get(sid)
        Session.suspend(sid)
        local suspended = Session.get(sid).status
        Session.resume(sid)
        Session.save(sid)
        local ok1, e1 = pcall(Session.get, "bad-id")
        local ok2, e2 = pcall(Artifact.store, sid, "text", "n", {1, 2})
        local ok3, e3 = pcall(Artifact.store, sid, "", "n", "c")
        local ok4, e4 = pcall(Artifact.list, "")
        Session.set_current(sid)
        local current = Session.get_current()
        local id = Artifact.store(sid, "agent_output", "a.txt", "hi")
        local n = #Artifact.list("")
        Artifact.delete(sid, id)
        Session.complete(sid)
        local ok5, e5 = pcall(Session.suspend, sid)
        local replayable = Session.can_replay(sid)
        local ok6, e6 = pcall(Session.replay, sid)
        Session.delete(sid)
        return {name = info.name, tags = info.tags, suspended = suspended, e1 = e1, e2 = e2,
                e3 = e3, e4 = e4, e5 = e5, e6 = e6, same = current == sid, n = n,
                after = Session.get_current(), replayable = replayable,
                count = #Session.list(), oks = {ok1, ok2, ok3, ok4, ok5, ok6}}
    """, config=sessions_on)
    v = run.value
    assert v["name"] == "b" and v["tags"] == ["x", "y"] and v["suspended"] == "suspended"
    assert v["e1"] == "Session.get: Invalid session ID: bad-id"
    assert v["e2"] == "Artifact.store: Content must be string or byte array"
    assert v["e3"] == "Artifact.store: Artifact type cannot be empty"
    assert v["e4"] == "Artifact.list: No current session set"
    assert "cannot suspend a completed session" in v["e5"]
    assert "no recorded hook executions" in v["e6"]
    assert v["same"] is True and v["n"] == 1 and v["replayable"] is False
    assert "after" not in v and v["count"] == 0 and v["oks"] == [False] * 6


def test_store_file_follows_file_access_rules(lua, tmp_path: Path) -> None:
    target = tmp_path / "notes.md"
    target.write_text("# notes\n")
    code = lua_fmt("""
        local sid = Session.create()
        local ok, r = pcall(Artifact.store_file, sid, "${target}", "user_input", {tags = {"f"}})
        if not ok then return r end
        return Artifact.get(sid, r).metadata.mime_type .. "|" .. Artifact.get(sid, r).content
    """, target=target)
    denied = lua(code, config=SESSIONS_ON).value
    assert "file access is disabled" in denied
    allowed = {"runtime": {"sessions": {"enabled": True},
                           "security": {"allow_file_access": True}}}
    assert lua(code, config=allowed).value == "text/markdown|# notes\n"


def test_session_service_is_shared_with_python(lua) -> None:
    from llmspell.api.session import session_service

    rt, _ = lua.runtime(SESSIONS_ON)
    sid = session_service(rt).create(name="from python", tags=["py"])
    assert rt.run_source(f"return Session.get('{sid}').name".encode(), "t.lua") == "from python"
    rt.close()


def test_newer_sessions_format_is_refused(tmp_path: Path) -> None:
    from llmspell.errors import StateError

    make("sqlite", tmp_path).close()
    conn = sqlite3.connect(tmp_path / "sessions.db")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer llmspell.*format version 2"):
        make("sqlite", tmp_path)


def test_stale_temp_files_are_swept_on_open(tmp_path: Path) -> None:
    import os

    make("sqlite", tmp_path).close()
    blobs = tmp_path / "sessions-artifacts"
    blobs.mkdir(exist_ok=True)
    stale, fresh = blobs / ".tmp-stale", blobs / ".tmp-fresh"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (1, 1))
    make("sqlite", tmp_path).close()
    assert not stale.exists() and fresh.exists()


def test_deleting_a_session_drops_its_rag_collection(lua):
    run = lua("""
        local sid = Session.create({name = "chat"})
        RAG.create_session_collection(sid, 3600)
        RAG.ingest({content = "transfer learning reuses a trained model"},
                   {scope = "session", scope_id = sid})
        RAG.ingest({content = "global note about models"})
        local before = RAG.get_stats("session", sid).total_vectors
        Session.delete(sid)
        local after = RAG.get_stats("session", sid).total_vectors
        local global = RAG.get_stats("global").total_vectors
        return {before, after, global}
    """, config={"rag": {"enabled": True}})
    before, after, kept = run.value
    assert before >= 1
    assert after == 0
    assert kept >= 1
