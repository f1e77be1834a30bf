"""[runtime.sessions] session_timeout_seconds: idle active sessions expire (a movable clock)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stores import open_session_store

from llmspell import config as config_mod
from llmspell.sessions.service import SessionError, SessionService, open_sessions


class Clock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make(kind: str, tmp_path: Path, clock: Clock, timeout: float = 1,
         request: pytest.FixtureRequest | None = None, **limits: int) -> SessionService:
    store = open_session_store(kind, request, tmp_path)
    return SessionService(store, session_timeout=timeout, clock=clock, **limits)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_idle_session_expires_and_keeps_artifacts(kind: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    clock = Clock()
    svc = make(kind, tmp_path, clock, request=request)
    sid = svc.create(name="chat")
    first = svc.store_artifact(sid, "text", "a.txt", b"one")
    clock.advance(0.8)
    svc.store_artifact(sid, "text", "b.txt", b"two")  # activity: the idle time starts again
    clock.advance(0.8)
    assert svc.get(sid)["status"] == "active"  # 0.8 s idle < 1 s
    clock.advance(0.5)
    info = svc.get(sid)
    assert info["status"] == "expired"
    with pytest.raises(SessionError, match=r"has expired .*session_timeout_seconds"):
        svc.store_artifact(sid, "text", "c.txt", b"three")
    assert svc.get_artifact(sid, first)["content"] == b"one"
    assert [m["name"] for m in svc.list_artifacts(sid)] == ["a.txt", "b.txt"]
    with pytest.raises(SessionError, match="cannot resume a expired session"):
        svc.resume(sid)
    assert [s["id"] for s in svc.list(status="expired")] == [sid]
    assert svc.list(status="active") == []
    svc.delete(sid)
    svc.close()


def test_expiry_is_noticed_by_every_entry_point(tmp_path: Path) -> None:
    clock = Clock()
    svc = make("memory", tmp_path, clock)
    by_list, by_store, by_transition = svc.create(), svc.create(), svc.create()
    clock.advance(2)
    assert {s["status"] for s in svc.list() if s["id"] == by_list} == {"expired"}
    with pytest.raises(SessionError, match="has expired"):
        svc.store_artifact(by_store, "text", "n", b"x")
    with pytest.raises(SessionError, match="cannot complete a expired session"):
        svc.complete(by_transition)
    # the refusals above still recorded the expiry
    assert svc.store.get_session(by_store)["status"] == "expired"
    assert svc.store.get_session(by_transition)["status"] == "expired"


def test_expired_sessions_free_active_slots(tmp_path: Path) -> None:
    clock = Clock()
    svc = make("memory", tmp_path, clock, max_sessions=1)
    old = svc.create()
    with pytest.raises(SessionError, match="Maximum active sessions"):
        svc.create()
    clock.advance(1.5)
    svc.create()
    assert svc.get(old)["status"] == "expired"


def test_suspended_and_completed_sessions_do_not_expire(tmp_path: Path) -> None:
    clock = Clock()
    svc = make("memory", tmp_path, clock)
    parked, done = svc.create(), svc.create()
    svc.suspend(parked)
    svc.complete(done)
    clock.advance(10)
    assert svc.get(parked)["status"] == "suspended"
    assert svc.get(done)["status"] == "completed"
    svc.resume(parked)  # resuming is activity
    svc.store_artifact(parked, "text", "n", b"x")


def test_zero_timeout_never_expires(tmp_path: Path) -> None:
    clock = Clock()
    svc = make("memory", tmp_path, clock, timeout=0)
    sid = svc.create()
    clock.advance(10 * 365 * 86400)
    assert svc.get(sid)["status"] == "active"
    svc.store_artifact(sid, "text", "n", b"x")


def test_expiry_across_runs_on_a_durable_store(tmp_path: Path) -> None:
    clock = Clock()
    first = make("sqlite", tmp_path, clock)
    sid = first.create(name="yesterday")
    aid = first.store_artifact(sid, "text", "n.txt", b"kept")
    first.close()
    clock.advance(3600)
    second = make("sqlite", tmp_path, clock)
    assert second.expire_idle() == 1
    second.close()
    raw = sqlite3.connect(tmp_path / "sessions.db")
    assert raw.execute("SELECT status FROM sessions WHERE id = ?", (sid,)).fetchone() == (
        "expired",)
    raw.close()
    third = make("sqlite", tmp_path, clock)
    assert third.get_artifact(sid, aid)["content"] == b"kept"
    third.close()


def test_config_sets_the_timeout() -> None:
    settings = config_mod.from_dict({"runtime": {"sessions": {"session_timeout_seconds": 1}}},
                                    environ={})
    svc = open_sessions(settings)
    assert svc.session_timeout == 1
    svc.close()
    assert open_sessions(config_mod.from_dict({}, environ={})).session_timeout == 3600


def test_lua_sees_expiry(lua) -> None:
    from llmspell.api.session import session_service

    rt, _ = lua.runtime({"runtime": {"sessions": {"enabled": True,
                                                  "session_timeout_seconds": 1}}})
    clock = Clock()
    session_service(rt).clock = clock
    try:
        rt.run_source(b"""
            SID = Session.create({name = "short"})
            AID = Artifact.store(SID, "text", "a.txt", "still here")
        """, "one.lua")
        clock.advance(2)
        got = rt.run_source(b"""
            local ok, err = pcall(Artifact.store, SID, "text", "b.txt", "too late")
            return {status = Session.get(SID).status, ok = ok, err = err,
                    content = Artifact.get(SID, AID).content, listed = #Artifact.list(SID)}
        """, "two.lua")
    finally:
        rt.close()
    assert got["status"] == "expired" and got["ok"] is False
    assert "has expired" in got["err"] and got["err"].startswith("Artifact.store: ")
    assert got["content"] == "still here" and got["listed"] == 1
