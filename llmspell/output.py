"""How results and errors reach the terminal.

The script's return value is printed as upstream prints it (spec § 21.6). Errors go to
stderr as one clear line (plus the Lua traceback); rich colours them only on a TTY, so
pipes and CI get plain text and rich is never imported there.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import jsonutil


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


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def print_error(message: str, detail: str = "") -> None:
    """One error line (+ detail) on stderr, with secrets hidden (secret_filter)."""
    from .secret_filter import redact_text

    message, detail = redact_text(message), redact_text(detail)
    sys.stdout.flush()
    if _stderr_is_tty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(stderr=True, highlight=False, soft_wrap=True)
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
