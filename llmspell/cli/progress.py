"""Progress bars on the terminal (rich, on stderr) for the services' long work.

Installed by the CLI only when stderr is a terminal: in a pipe or a file nothing is
written. rich is imported when the first task starts, never at start-up. Several tasks
may be shown at once (loading the embedding model inside an ingest); the display lasts
while any task is open and is cleared when the last one ends.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from .. import progress


class _RichTask:
    def __init__(self, bars: Any, task_id: Any) -> None:
        self._bars = bars
        self.task_id = task_id

    def advance(self, amount: int = 1) -> None:
        self._bars.advance(self.task_id, amount)

    def update(self, *, description: str | None = None, total: int | None = None) -> None:
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if total is not None:
            fields["total"] = total
        self._bars.update(self.task_id, **fields)


class TerminalReporter:
    """Shows tasks as rich progress bars on stderr."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bars: Any = None
        self._open = 0

    def _start_display(self) -> Any:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=True,
                        redirect_stdout=False, redirect_stderr=False)
        bars.start()
        return bars

    def start(self, description: str, total: int | None, unit: str) -> progress.Task:
        with self._lock:
            if self._bars is None:
                self._bars = self._start_display()
            self._open += 1
            bars = self._bars
        return _RichTask(bars, bars.add_task(description, total=total, unit=unit))

    def finish(self, task: progress.Task) -> None:
        if not isinstance(task, _RichTask):
            return
        with self._lock:
            bars = self._bars
            if bars is None:
                return
            bars.remove_task(task.task_id)
            self._open -= 1
            if self._open <= 0:
                self._bars, self._open = None, 0
                bars.stop()


def on_terminal() -> bool:
    """Whether progress is wanted: stderr is a terminal (and not a dumb one)."""
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # stderr closed or replaced
        return False


def install_terminal_progress() -> None:
    """Show the services' progress on stderr when it is a terminal; else show nothing."""
    if on_terminal():
        progress.install(TerminalReporter())
