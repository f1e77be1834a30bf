"""Run Lua work on the script's thread while other threads do I/O.

LuaJIT (through lupa) may only be entered from the thread running the script: a call
from another thread blocks on the runtime lock. ``LuaGate.call(fn, ...)`` runs ``fn``
directly on the owner thread; from any other thread it queues ``fn`` and waits until
the owner runs it. The owner runs queued work while it waits for worker threads in
``LuaGate.wait(...)``. A ``Scope`` groups the work of one parallel run: when the owner
stops waiting for it (timeout, error, Ctrl-C), the scope is cancelled and its queued or
later Lua calls fail with ``Cancelled`` instead of running late.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

_local = threading.local()
STALL_SECONDS = 5.0  # a worker's Lua call gives up after the owner ignored it this long
MAX_WORKER_THREADS = 64  # parallel-branch threads of one script run, all nesting levels


class Cancelled(Exception):
    """The work this belonged to was abandoned (its parallel run ended)."""


class Scope:
    __slots__ = ("parent", "cancelled")

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.cancelled = False

    def is_cancelled(self) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if scope.cancelled:
                return True
            scope = scope.parent
        return False


def current_scope() -> Scope | None:
    return getattr(_local, "scope", None)


class _Task:
    __slots__ = ("fn", "args", "scope", "done", "result", "error", "abandoned")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], scope: Scope | None):
        self.fn = fn
        self.args = args
        self.scope = scope
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False


class Worker:
    """A daemon thread running one function; the owner waits for it through the gate."""

    def __init__(self, gate: LuaGate, fn: Callable[[], Any], scope: Scope) -> None:
        self.gate = gate
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self._fn = fn
        self._scope = scope
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="llmspell-workflow")

    def start(self) -> Worker:
        self.thread.start()
        return self

    def _run(self) -> None:
        _local.scope = self._scope
        try:
            self.result = self._fn()
        except BaseException as exc:  # handed to the owner thread
            self.error = exc
        finally:
            self.done = True
            self.gate._wake()


class LuaGate:
    """See the module docstring."""

    def __init__(self, check: Callable[[], bool] | None = None) -> None:
        self.owner = threading.get_ident()
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._check = check  # True = the script must stop (timeout, Ctrl-C)
        self.pumping = 0  # > 0 while the owner waits in wait() (and runs queued work)
        self._slots = MAX_WORKER_THREADS
        self._slots_lock = threading.Lock()

    def take_slots(self, wanted: int) -> int:
        """Up to ``wanted`` of the run's parallel-thread slots (maybe 0), never waiting: a
        nested parallel run that gets none runs its branches in its own thread, so it
        cannot deadlock waiting for a slot its parent holds."""
        with self._slots_lock:
            granted = max(0, min(wanted, self._slots))
            self._slots -= granted
            return granted

    def give_slot(self) -> None:
        with self._slots_lock:
            self._slots += 1

    def on_owner(self) -> bool:
        return threading.get_ident() == self.owner

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if threading.get_ident() == self.owner:
            return fn(*args)
        scope = current_scope()
        if scope is not None and scope.is_cancelled():
            raise Cancelled("the workflow run this step belonged to has ended")
        task = _Task(fn, args, scope)
        self._queue.put(task)
        idle = 0.0
        while not task.done.wait(0.5):
            if scope is not None and scope.is_cancelled():
                raise Cancelled("the workflow run this step belonged to has ended")
            idle = idle + 0.5 if self.pumping == 0 else 0.0
            if idle >= STALL_SECONDS:
                task.abandoned = True
                raise RuntimeError(
                    "a Lua callback (hook, step or condition) was requested from a "
                    "background thread while the script's thread was busy elsewhere; "
                    "Lua can only run on the script's thread")
        if task.error is not None:
            raise task.error
        return task.result

    def _wake(self) -> None:
        self._queue.put(None)

    def _run_task(self, task: _Task) -> None:
        try:
            if task.abandoned or (task.scope is not None and task.scope.is_cancelled()):
                raise Cancelled("the workflow run this step belonged to has ended")
            task.result = task.fn(*task.args)
        except BaseException as exc:
            task.error = exc
            if isinstance(exc, KeyboardInterrupt):
                task.done.set()
                raise
        finally:
            task.done.set()

    def wait(self, workers: Iterable[Worker], deadline: float | None = None,
             until: Callable[[], bool] | None = None) -> bool:
        """Owner thread: run queued Lua work until every worker is done.

        Returns False if ``deadline`` (time.monotonic) passed or the script must stop.
        ``until`` may end the wait early (e.g. fail-fast after one failure).
        From a non-owner thread this just waits.
        """
        workers = list(workers)
        on_owner = threading.get_ident() == self.owner
        if on_owner:
            self.pumping += 1
            try:
                return self._wait(workers, deadline, until, True)
            finally:
                self.pumping -= 1
        return self._wait(workers, deadline, until, False)

    def _wait(self, workers: list[Worker], deadline: float | None,
              until: Callable[[], bool] | None, on_owner: bool) -> bool:
        while True:
            if all(w.done for w in workers):
                return True
            if until is not None and until():
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            if self._check is not None and self._check():
                return False
            slice_s = 0.1 if deadline is None else min(0.1, deadline - now)
            if not on_owner:
                for w in workers:
                    if not w.done:
                        w.thread.join(slice_s)
                        break
                continue
            try:
                task = self._queue.get(timeout=max(slice_s, 0.0005))
            except queue.Empty:
                continue
            if task is not None:
                self._run_task(task)
