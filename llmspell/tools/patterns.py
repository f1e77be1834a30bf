"""User-supplied regular expressions, with a time limit.

Python's ``re`` cannot be interrupted, so a pattern such as ``(a+)+$`` on a long line can
stall a run. Patterns that come from scripts go through the ``regex`` module instead
(same syntax), whose matching takes a timeout.
"""

from __future__ import annotations

from typing import Any

from .errors import ToolError, ToolValidationError

DEFAULT_SECONDS = 2.0


def compile_pattern(pattern: str, ignore_case: bool = False) -> Any:
    import regex

    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except (regex.error, TypeError, ValueError) as exc:
        raise ToolValidationError(f"Invalid regex '{pattern}': {exc}") from None


def search(compiled: Any, text: str, seconds: float | None = None) -> Any:
    """``compiled.search(text)``, refusing to run longer than ``seconds``
    (at most DEFAULT_SECONDS)."""
    seconds = DEFAULT_SECONDS if seconds is None else min(seconds, DEFAULT_SECONDS)
    try:
        return compiled.search(text, timeout=max(0.01, seconds))
    except TimeoutError:
        raise ToolError(f"Regular expression '{compiled.pattern}' took longer than "
                        f"{seconds:g} s") from None
