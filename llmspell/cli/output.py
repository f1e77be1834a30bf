"""How results and errors reach the terminal.

The script's return value is printed as upstream prints it (spec § 21.6). Errors go to
stderr as one clear line (plus the Lua traceback); rich colours them only on a TTY, so
pipes and CI get plain text and rich is never imported there.

The output contract (docs/globals.md): with ``--output json`` stdout carries exactly one
JSON document and the script's ``print`` lines go to stderr as they happen; with
``--output pretty`` each console line is printed once, in the ``Console Output:`` block;
a reader that closes the pipe early (``| head``) ends the run quietly with status 141
(128 + SIGPIPE, what a shell reports for ``seq`` or ``cat`` in the same place).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import jsonutil

if TYPE_CHECKING:
    from rich.console import Console

PIPE_CLOSED_STATUS = 141


def quiet_closed_stream(stream: Any) -> None:
    """The reader went away: point the stream's descriptor at /dev/null so the writes
    and flushes still to come (ours, Python's at exit) succeed silently."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class ScriptStream:
    """Where the script's ``print``/``io.write`` bytes go for one CLI run.

    ``target`` is a binary stream (flushed after each write when ``live``) or None to
    keep the bytes only (``--output pretty`` prints them once, after the run, or as they
    were if the run fails). ``on_closed`` is called once when the reader closes the
    pipe; the runtime then stops the script like ``os.exit``.
    """

    def __init__(self, target: BinaryIO | None, *, live: bool = False,
                 on_closed: Callable[[], None] | None = None) -> None:
        self.target = target
        self.live = live
        self.on_closed = on_closed
        self.closed = False
        self.kept: list[bytes] = []

    def write(self, data: bytes) -> int:
        if self.target is None:
            self.kept.append(bytes(data))
            return len(data)
        if not self.closed:
            try:
                self.target.write(data)
                if self.live:
                    self.target.flush()
            except BrokenPipeError:
                self._reader_gone()
        return len(data)

    def flush(self) -> None:
        if self.target is not None and not self.closed:
            try:
                self.target.flush()
            except BrokenPipeError:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed = True
        quiet_closed_stream(self.target)
        if self.on_closed is not None:
            self.on_closed()

    def replay(self) -> None:
        """Write the kept bytes to stdout (a ``pretty`` run that failed or exited)."""
        data = b"".join(self.kept)
        self.kept.clear()
        if data:
            write_stdout(data)



def script_stream(mode: str) -> ScriptStream:
    """Where print/io.write go for an ``--output`` mode: stdout (text), stderr (json:
    stdout holds only the result document), or kept for the Console Output block (pretty).
    A terminal gets every write flushed; a pipe gets the runtime's ``Output`` policy
    (flushed within ``Output.FLUSH_INTERVAL``), the one place that decides it."""
    if mode == "json":
        return ScriptStream(sys.stderr.buffer, live=sys.stderr.isatty())
    if mode == "pretty":
        return ScriptStream(None)
    return ScriptStream(sys.stdout.buffer, live=sys.stdout.isatty())


def reply_sink(output: Any) -> Callable[[str], None]:
    """``--stream``: agent reply pieces go where the script's ``print`` output goes (stdout;
    stderr with ``--output json``; the Console Output block with ``pretty``), each one
    shown at once."""

    def show(piece: str) -> None:
        output.write(piece.encode("utf-8", "surrogateescape"))
        output.flush()

    return show


def replay_unfinished(stream: ScriptStream) -> None:
    """A run that did not finish shows what it printed (pretty mode kept it back)."""
    try:
        stream.replay()
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_closed_stream(sys.stdout)

def write_stdout(data: bytes) -> None:
    """Write bytes to stdout; a closed pipe is dealt with by the caller's handler."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def format_result(value: Any, mode: str) -> str:
    if mode == "json":
        return jsonutil.dumps_pretty(value)
    if isinstance(value, str):
        return value
    return jsonutil.dumps(value)


def print_result(value: Any, mode: str, captured: list[str], elapsed_ms: float,
                 extra: list[str] | None = None) -> None:
    out = sys.stdout
    if mode == "pretty":
        if captured:
            out.write("Console Output:\n")
            for line in captured:
                out.write(f"  {line}\n")
            out.write("\n")
        out.write(f"Output: {jsonutil.dumps_pretty(value)}\n")
        out.write("Engine: lua\n")
        out.write(f"Execution time: {elapsed_ms:.0f}ms\n")
        for line in extra or []:
            out.write(line + "\n")
    else:
        out.write(format_result(value, mode) + "\n")
    out.flush()


def use_rich(stream: Any) -> bool:
    """Colour and tables only on a terminal, and not when NO_COLOR is set; decided here for
    every command, so pipes and CI get plain text and never import rich."""
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


def rich_console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A rich console for our own messages (imports rich): our markup only, no automatic
    highlighting of the text we print. Escape untrusted text (rich.markup.escape)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


def print_error(message: str, detail: str = "") -> None:
    """One error line (+ detail) on stderr, with secrets hidden (secret_filter)."""
    from ..secret_filter import redact_text

    message, detail = redact_text(message), redact_text(detail)
    sys.stdout.flush()
    if use_rich(sys.stderr):
        from rich.markup import escape

        console = rich_console(stderr=True, soft_wrap=True)
        console.print(f"[bold red]Error:[/] {escape(message)}")
        if detail:
            console.print(escape(detail), style="dim")
        return
    sys.stderr.write(f"Error: {message}\n")
    if detail:
        sys.stderr.write(detail + "\n")
    sys.stderr.flush()


def print_warning(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()
