"""One typed Services object per run (llmspell/run.py): lazy, made once, closed in order.

The services here are real (memory state, the event bus, the tool registry); the few
made-up ones are declared on a subclass the way run.py declares its own, to watch the
order of ``close()`` and to count factory calls.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmspell import config
from llmspell.events import EventBus
from llmspell.hooks import HookRegistry
from llmspell.run import Services, Slot, _service
from llmspell.state.service import StateService
from llmspell.tools.service import ToolService


def _settings(data: dict[str, Any] | None = None) -> config.Settings:
    return config.from_dict(data or {}, environ={})


class Closing:
    """A service whose ``close`` is recorded (or fails, or is interrupted)."""

    def __init__(self, name: str, log: list[str], error: BaseException | None = None
                 ) -> None:
        self.name = name
        self.log = log
        self.error = error

    def close(self) -> None:
        self.log.append(self.name)
        if self.error is not None:
            raise self.error


class Watched(Services):
    """Services plus a few recording ones (declared as run.py declares its own)."""

    def __init__(self, settings: config.Settings) -> None:
        super().__init__(settings)
        self.log: list[str] = []
        self.calls = 0
        self.fail_a: BaseException | None = None

    @_service(closes=True)
    def a(self) -> Closing:
        return Closing("a", self.log, self.fail_a)

    @_service(closes=True)
    def b(self) -> Closing:  # made from a: a is made first, b is closed first
        assert self.a is not None
        return Closing("b", self.log)

    @_service(closes=True)
    def c(self) -> Closing:
        return Closing("c", self.log)

    @_service(closes=True)
    def emitter(self) -> Closing:
        """Emits on the bus while it closes (the bus must still be open then)."""
        services = self

        class Emitter(Closing):
            def close(self) -> None:
                super().close()
                services.events.emit("emitter.closed", {})

        return Emitter("emitter", self.log)

    @_service()
    def slow(self) -> object:
        self.calls += 1
        time.sleep(0.05)  # wide enough for every waiting thread to arrive meanwhile
        return object()


# -- lazy creation ---------------------------------------------------------------------


def test_nothing_is_made_until_first_read_then_the_same_object():
    services = Services(_settings())
    assert list(services.made) == []
    assert services.hooks_if_made is None and services.events_if_made is None
    assert services.tools_if_made is None and services.rag_if_made is None
    tools = services.tools
    assert isinstance(tools, ToolService)
    assert list(services.made) == ["tools"] and services.tools_if_made is tools
    assert services.tools is tools and services.hooks_if_made is None
    # made once: from then on a plain attribute of the instance (no lock, no call)
    assert vars(services)["tools"] is tools


def test_typed_attributes_and_their_links():
    services = Services(_settings())
    assert isinstance(services.state, StateService)
    assert services.state_backups is services.state_backups
    assert list(services.made) == ["state", "state_backups"]  # backups are made from state
    assert isinstance(services.hooks, HookRegistry)
    assert isinstance(services.events, EventBus)
    # the tools look at the run's hooks at each call: a hook registered now runs
    services.hooks.register("BeforeToolExecution", lambda c: "cancel: closed")
    with pytest.raises(Exception, match="cancelled by hook: cancel: closed"):
        services.tools.invoke("uuid_generator", {})
    # the agents get the run's providers (made first, so closed after the agents)
    agents = services.agents
    assert agents is services.agents
    assert list(services.made).index("providers") < list(services.made).index("agents")
    services.close()


def test_importing_run_loads_no_service_module():
    """Start-up: ``llmspell.run`` is on every run's import path; the services come later."""
    code = ("import sys, llmspell.run\n"
            "heavy = ('llmspell.tools.service', 'llmspell.agents', 'llmspell.providers',"
            " 'llmspell.rag', 'llmspell.state', 'llmspell.sessions', 'llmspell.events',"
            " 'llmspell.hooks', 'llmspell.workflows')\n"
            "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- one instance under concurrent first use -------------------------------------------


def _read_together(read: Any, threads: int = 8) -> list[Any]:
    barrier = threading.Barrier(threads)
    got: list[Any] = [None] * threads

    def work(i: int) -> None:
        barrier.wait()
        got[i] = read()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    return got


def test_concurrent_first_use_makes_one_instance():
    services = Watched(_settings())
    got = _read_together(lambda: services.slow)
    assert services.calls == 1
    assert all(x is got[0] for x in got) and got[0] is not None


def test_concurrent_first_use_of_real_services_and_slots():
    services = Services(_settings())
    tools = _read_together(lambda: services.tools)
    assert all(x is tools[0] for x in tools) and list(services.made) == ["tools"]
    key: Slot[list[int]] = Slot("counted")
    made: list[int] = []

    def make() -> list[int]:
        made.append(1)
        time.sleep(0.05)
        return made

    objs = _read_together(lambda: services.slot(key, make))
    assert made == [1] and all(x is made for x in objs)


# -- close -------------------------------------------------------------------------------


def test_close_runs_newest_first_and_the_event_bus_last():
    services = Watched(_settings())
    bus = services.events  # made first, closed last all the same
    sid = bus.subscribe("emitter.*")
    _ = services.emitter
    _ = services.b  # makes a, then b
    _ = services.c
    assert list(services.made) == ["events", "emitter", "a", "b", "c"]
    assert services.close() == []
    assert services.log == ["c", "b", "a", "emitter"]
    # the emitter published while it closed: the bus was still open then
    assert bus.stats()["event_bus_stats"]["events_delivered"] == 1
    assert bus.list_subscriptions() == []  # and is closed now
    with pytest.raises(KeyError):
        bus.receive(sid, 0)


def test_a_failing_close_does_not_stop_the_others():
    services = Watched(_settings())
    services.fail_a = ValueError("disk gone")
    _ = services.c
    _ = services.b
    failures = services.close()
    assert services.log == ["b", "a", "c"]
    assert [(name, str(exc)) for name, exc in failures] == [("a", "disk gone")]


def test_ctrl_c_during_close_still_closes_the_rest_then_raises():
    services = Watched(_settings())
    services.fail_a = KeyboardInterrupt()
    _ = services.c
    _ = services.b
    with pytest.raises(KeyboardInterrupt):
        services.close()
    assert services.log == ["b", "a", "c"]


def test_no_service_after_close():
    services = Watched(_settings())
    _ = services.tools
    services.close()
    assert services.close() == []  # a second close does nothing
    with pytest.raises(RuntimeError, match=r"services are closed \(asked for 'tools'\)"):
        _ = services.tools
    with pytest.raises(RuntimeError, match=r"services are closed \(asked for 'state'\)"):
        _ = services.state
    with pytest.raises(RuntimeError, match=r"closed \(asked for 'objects'\)"):
        services.slot(Slot("objects"), object)
    assert services.tools_if_made is None and services.hooks_if_made is None


def test_nothing_is_made_while_closing():
    services = Watched(_settings())
    seen: list[str] = []

    class MakesMore(Closing):
        def close(self) -> None:
            super().close()
            assert services.a is not None  # made before: still there while closing
            try:
                _ = services.c
            except RuntimeError as exc:
                seen.append(str(exc))

    class Greedy(Watched):
        @_service(closes=True)
        def greedy(self) -> Closing:
            return MakesMore("greedy", self.log)

    services = Greedy(_settings())
    _ = services.a
    _ = services.greedy
    services.close()
    assert services.log == ["greedy", "a"]
    assert seen == ["the run is ending: no service can be made now (asked for 'c')"]


# -- through the runtime ------------------------------------------------------------------


def test_shutdown_hooks_run_before_the_services_close(lua, tmp_path: Path):
    """A SystemShutdown hook registered before State was first used can still save:
    the runtime's own closers (the shutdown hooks) run before any service closes."""
    db = tmp_path / "state.db"
    cfg = {"runtime": {"state_persistence": {"backend_type": "sqlite", "path": str(db)}}}
    rt, _ = lua.runtime(cfg)
    rt.run_source(b"""
      Hook.register("SystemShutdown", function(ctx) State.save("global", "bye", "saved") end)
      State.save("global", "hello", 1)
    """, "t.lua")
    rt.close()
    with pytest.raises(RuntimeError, match="services are closed"):
        _ = rt.services.state
    second = Services(_settings(cfg))
    try:
        assert second.state.load("global", "hello") == 1
        assert second.state.load("global", "bye") == "saved"
    finally:
        second.close()


def test_the_event_bus_closes_even_when_only_state_made_it(lua, tmp_path: Path):
    """State events made the bus (no Event global): it is closed at the end all the same,
    which closes its file export."""
    out = tmp_path / "events.jsonl"
    cfg = {"events": {"emit_state_events": True, "export": {"file": str(out)}}}
    rt, _ = lua.runtime(cfg)
    rt.run_source(b'State.save("global", "k", 1)', "t.lua")
    bus = rt.services.events_if_made
    assert bus is not None and "events" in rt.services.made
    rt.close()
    assert '"state.changed"' in out.read_text()
    assert bus._export._file is None  # closed
