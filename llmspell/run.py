"""One run's services: one typed object, each service made on first use, closed at the end.

    services = Services(settings, budget=..., stopped=..., stop_reason=..., notify=...)
    services.tools.invoke("calculator", {...})     # made now, the same object from then on
    services.close()                               # newest first, the event bus last

Every service of a run is an attribute here: ``tools``, ``agents``, ``providers``,
``state``, ``state_backups``, ``sessions``, ``rag``, ``hooks``, ``events``, ``debug``,
``gate``. Each is made the first time it is read (a factory below, lazy imports, so a
run pays only for what its script uses), once, even when workflow worker threads ask at
the same moment: creation takes ``_lock`` (re-entrant: a factory may read other
services) and checks again under it. The made service is stored in the instance's
``__dict__`` under its own name, where attribute lookup finds it before the descriptor
(as ``functools.cached_property`` does), so the hot path (``services.tools`` on every
``Tool.invoke``) is a plain attribute read: no lock, no call.

Services reach each other through this object: the tools and agents get a
``ServiceHooks`` that looks in ``made`` for the hook registry and the event bus at each
call (a script may register its first hook after the tools were made); the debug log
publishes to ``events``; deleting a session drops its RAG collection if ``rag_if_made``.

Plain inputs, no Lua: this module is the service layer and never imports ``lupa``,
``llmspell.lua``, ``llmspell.api`` or ``llmspell.cli`` (``tests/test_layers.py``). What a
service needs of the run comes in as plain callables (``budget``: seconds left before the
script's deadline; ``stopped``: the run must stop now; ``stop_reason``; ``notify``: a
message for the user on stderr), so every factory lives here, next to its attribute,
and ``Services(settings)`` works alone (tests, the CLI's backup commands). The adapters'
own per-run objects, which hold Lua values (``lua.objects.Objects``, the Workflow
global's ``Bridge``), are not services: the adapters keep them in typed ``Slot`` keys
(``services.slot(KEY, make)``, as aiohttp's ``AppKey``), declared beside their class, with
the same lazy creation under the same lock.

Closing (``close()``, once, when the run ends): services that hold something to release
(``closes=True``: providers' HTTP clients, the state and session stores, the RAG index,
the event bus) are closed newest first — a service made from another (agents from
providers, backups from state) is closed before what it was made from — and the event
bus after all of them, whenever it was made, since any service may emit while it closes
(the bus flushes the file export and drains the webhook queue). A failing ``close`` does
not stop the others (``close`` returns the failures); Ctrl-C during it is re-raised
after all of them ran. From the moment closing starts no service can be made, and after
it no service can be read: both raise ``RuntimeError`` naming the service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from .agents.registry import AgentRegistry
    from .config import Settings
    from .debugging import DebugService
    from .events import EventBus
    from .hooks import HookRegistry, ServiceHooks
    from .postgres.database import Database
    from .providers import ProviderManager
    from .rag.service import RagService
    from .sessions.service import SessionService
    from .state.backup import BackupManager
    from .state.service import StateService
    from .tools.service import ToolService
    from .workflows.gate import LuaGate

T = TypeVar("T")


class _Service(Generic[T]):
    """One lazily made attribute of ``Services`` (see the module docstring).

    A non-data descriptor: it is consulted only while the instance's ``__dict__`` has no
    value under its name, i.e. until the service is made (or after the run closed)."""

    def __init__(self, make: Callable[[Services], T], *, closes: bool,
                 last: bool) -> None:
        self.make = make
        self.closes = closes
        self.last = last
        self.name = make.__name__
        self.__doc__ = make.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Service[T]: ...

    @overload
    def __get__(self, obj: Services, owner: type | None = None) -> T: ...

    def __get__(self, obj: Services | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._create(self)


def _service(*, closes: bool = False, last: bool = False
             ) -> Callable[[Callable[[Services], T]], _Service[T]]:
    """Make the decorated factory a lazily made service of ``Services``; with ``closes``
    its ``close()`` runs when the run ends (with ``last``, after every other one)."""
    def wrap(make: Callable[[Services], T]) -> _Service[T]:
        return _Service(make, closes=closes, last=last)

    return wrap


class Slot(Generic[T]):
    """A typed key for a per-run object of the adapter layer (it holds Lua values, so
    this layer cannot name its class): ``OBJECTS: Slot[Objects] = Slot("lua_objects")``
    beside the class, then ``rt.services.slot(OBJECTS, lambda: Objects(rt))``. Made once
    under the services' lock; never closed (its Lua values end with the Lua state)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


def _no_deadline() -> float | None:
    return None


def _not_stopped() -> bool:
    return False


def _no_stop_reason() -> str | None:
    return None


def _to_stderr(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class Services:
    """The services of one run (see the module docstring)."""

    def __init__(self, settings: Settings, *, debug: bool = False,
                 budget: Callable[[], float | None] = _no_deadline,
                 stopped: Callable[[], bool] = _not_stopped,
                 stop_reason: Callable[[], str | None] = _no_stop_reason,
                 notify: Callable[[str], None] = _to_stderr) -> None:
        self.settings = settings
        self.debug_mode = debug
        self._budget = budget
        self._stopped = stopped
        self._stop_reason = stop_reason
        self._notify = notify
        self._lock = threading.RLock()
        # The services made so far, by name, in creation order. For callers that only
        # act when a service is in use (``ServiceHooks`` on every tool and agent call):
        # a plain dict read, never making anything; emptied by ``close``.
        self.made: dict[str, Any] = {}
        self._slots: dict[Slot[Any], Any] = {}
        self._closing = False
        self._closed = False

    # -- making and closing ------------------------------------------------------------

    def _create(self, spec: _Service[T]) -> T:
        with self._lock:
            value = self.__dict__.get(spec.name)
            if value is not None:  # another thread made it while this one waited
                return value
            self._refuse_after_close(spec.name)
            value = spec.make(self)
            self.__dict__[spec.name] = value
            self.made[spec.name] = value
            return value

    def _refuse_after_close(self, name: str) -> None:
        if self._closed:
            raise RuntimeError(f"the run is over: its services are closed (asked for "
                               f"'{name}')")
        if self._closing:
            raise RuntimeError(f"the run is ending: no service can be made now (asked "
                               f"for '{name}')")

    def slot(self, key: Slot[T], make: Callable[[], T]) -> T:
        """The run's object for ``key``, made by ``make`` on first use (see ``Slot``)."""
        value = self._slots.get(key)
        if value is None:
            with self._lock:
                value = self._slots.get(key)
                if value is None:
                    self._refuse_after_close(key.name)
                    value = self._slots[key] = make()
        return value

    def close(self) -> list[tuple[str, Exception]]:
        """Close the services (see the module docstring); the ``(name, error)`` of each
        ``close()`` that failed. A second call does nothing."""
        with self._lock:
            if self._closing:
                return []
            self._closing = True
            newest_first: list[_Service[Any]] = [getattr(type(self), name)
                                                 for name in reversed(self.made)]
        order = ([s for s in newest_first if not s.last]
                 + [s for s in newest_first if s.last])
        failures: list[tuple[str, Exception]] = []
        interrupted: KeyboardInterrupt | None = None
        for spec in order:
            if not spec.closes:
                continue
            try:
                self.made[spec.name].close()
            except KeyboardInterrupt as exc:  # the rest still close (they flush data)
                interrupted = exc
            except Exception as exc:
                failures.append((spec.name, exc))
        with self._lock:
            self._closed = True
            for spec in order:
                self.__dict__.pop(spec.name, None)
            self.made.clear()
            self._slots.clear()
        if interrupted is not None:
            raise interrupted
        return failures

    # -- what exists without making it ----------------------------------------------------
    # Typed reads of ``made``: they never make a service, and answer None after the close.

    @property
    def hooks_if_made(self) -> HookRegistry | None:
        return self.made.get("hooks")

    @property
    def events_if_made(self) -> EventBus | None:
        return self.made.get("events")

    @property
    def tools_if_made(self) -> ToolService | None:
        return self.made.get("tools")

    @property
    def rag_if_made(self) -> RagService | None:
        return self.made.get("rag")

    # -- the services ---------------------------------------------------------------------

    def service_hooks(self) -> ServiceHooks:
        """What a service calls at its hook points (the registry and the bus are looked
        up at each call, so hooks registered later still run)."""
        from .hooks import ServiceHooks

        return ServiceHooks(self)

    @_service()
    def hooks(self) -> HookRegistry:
        """The Hook global's registry; tools, agents and workflows run its hooks."""
        from .hooks import HookRegistry

        return HookRegistry()

    @_service(closes=True, last=True)
    def events(self) -> EventBus:
        """The event bus ([events] settings, exports); closed after every other service."""
        from .events import EventBus

        return EventBus.from_settings(self.settings)

    @_service()
    def tools(self) -> ToolService:
        """The run's tools: every Tool call, tool step and agent tool call goes here."""
        from .tools.service import ToolService

        return ToolService(self.settings, self._budget, stopped=self._stopped,
                           hooks=self.service_hooks())

    @_service(closes=True)
    def providers(self) -> ProviderManager:
        """The LLM providers (clients reused across agents; closed at the end)."""
        from .providers import ProviderManager

        return ProviderManager(self.settings, budget=self._budget, debug=self.debug_mode)

    @_service()
    def agents(self) -> AgentRegistry:
        """The run's agents (workflows call them by name)."""
        from .agents.registry import AgentRegistry
        from .providers.registry import default_provider
        from .tools.output import output_to_lua_value

        def output(text: str, metadata: dict[str, Any]) -> dict[str, Any]:
            return output_to_lua_value(text, metadata)

        return AgentRegistry(self.providers, lambda: self.tools, output,
                             default_provider(self.settings), hooks=self.service_hooks())

    @_service(closes=True)
    def state(self) -> StateService:
        """The state store (memory or SQLite; saved and closed at the end)."""
        from .state.service import open_state

        return open_state(self.settings, self._postgres)

    @_service()
    def state_backups(self) -> BackupManager:
        """Backups of ``state``."""
        from .state.backup import backup_manager

        return backup_manager(self.state, self.settings)

    @_service(closes=True)
    def sessions(self) -> SessionService:
        """The sessions (memory or SQLite); deleting one drops its RAG collection."""
        from .sessions.service import open_sessions

        svc = open_sessions(self.settings, self._postgres)
        svc.on_delete.append(self._drop_rag_collection)
        return svc

    def _drop_rag_collection(self, session_id: str) -> None:
        rag = self.rag_if_made
        if rag is not None:
            rag.cleanup_scope("session", session_id)

    @_service(closes=True)
    def rag(self) -> RagService:
        """The RAG index (saved and closed at the end). Raises ``RagError``/``StoreError``/
        ``ValueError``/``OSError`` when it cannot be opened (nothing is kept then)."""
        from .rag.service import RagService

        return RagService(self.settings, self._notify, stop_reason=self._why_stopping,
                          time_left=self._budget, database=self._postgres)

    @_service(closes=True)
    def postgres(self) -> Database:
        """The shared PostgreSQL server (one pool per run, schema migrated), made when the
        first store that ``[storage.postgres]`` backs opens; closed after those stores."""
        from .postgres import open_database

        return open_database(self.settings)

    def _postgres(self) -> Database:
        return self.postgres

    @_service()
    def debug(self) -> DebugService:
        """The Debug/Logger service; with [events] emit_debug_events every message is a
        ``debug.log`` event."""
        from .debugging import DebugService

        settings = self.settings
        level = "debug" if self.debug_mode else (
            settings.get("debug.level") or settings.get("runtime.log_level") or "info")
        service = DebugService(level=level)
        if settings.get("events.emit_debug_events"):
            def publish(entry: dict[str, Any]) -> None:
                self.events.emit("debug.log", entry, component="debug")

            service.on_log = publish
        return service

    @_service()
    def gate(self) -> LuaGate:
        """Queues Lua calls from worker threads to the script's thread. Its owner is the
        thread that first reads it: read it first on the script's thread."""
        from .workflows.gate import LuaGate

        return LuaGate(self._must_stop)

    def _why_stopping(self) -> str | None:
        """Why long work should stop between its steps (the deadline, Ctrl-C), in words
        for the message that reports what was kept; None: go on."""
        if not self._stopped():
            return None
        return {"timeout": "the time limit passed", "interrupt": "interrupted"}.get(
            self._stop_reason() or "", "the script is ending")

    def _must_stop(self) -> bool:
        left = self._budget()
        return self._stop_reason() is not None or (left is not None and left <= 0)
