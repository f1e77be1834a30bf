"""Progress of long work (RAG ingest, model loading, backups), as services report it.

Services say what they are doing through :func:`task`; by default nothing is shown (the
no-op reporter), so services, tests and library users pay nothing. The CLI installs a
terminal reporter (``llmspell.cli.progress``, rich on stderr) only when stderr is a
terminal; this module never imports rich.

    with progress.task("Embedding chunks", total=len(chunks), unit="chunks") as bar:
        for batch in batches:
            ...
            bar.advance(len(batch))

``total=None`` is work of unknown size (a spinner). A task ends when its block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Task(Protocol):
    def advance(self, amount: int = 1) -> None:
        """Count ``amount`` more units done."""

    def update(self, *, description: str | None = None, total: int | None = None) -> None:
        """Change what the task says it does, or its size."""


class Reporter(Protocol):
    def start(self, description: str, total: int | None, unit: str) -> Task:
        """Show a new task; it is shown until :meth:`finish`."""

    def finish(self, task: Task) -> None:
        """The task is over (done, failed or stopped): stop showing it."""


class _NullTask:
    def advance(self, amount: int = 1) -> None:
        pass

    def update(self, *, description: str | None = None, total: int | None = None) -> None:
        pass


class NullReporter:
    """Shows nothing (the default: no terminal, a library user, a test)."""

    _task = _NullTask()

    def start(self, description: str, total: int | None, unit: str) -> Task:
        return self._task

    def finish(self, task: Task) -> None:
        pass


_reporter: Reporter = NullReporter()


def install(reporter: Reporter | None) -> Reporter:
    """Make ``reporter`` the process's reporter (None: the no-op one); return the old one."""
    global _reporter
    previous = _reporter
    _reporter = reporter if reporter is not None else NullReporter()
    return previous


def current() -> Reporter:
    return _reporter


@contextmanager
def task(description: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A unit of long work, shown while the block runs (when a reporter is installed)."""
    reporter = _reporter
    handle = reporter.start(description, total, unit)
    try:
        yield handle
    finally:
        reporter.finish(handle)
