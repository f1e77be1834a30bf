"""The one retry helper every provider call goes through.

429, 5xx (and Anthropic's 529) and timeouts are retried with exponential backoff and
jitter; a ``Retry-After`` (or ``retry-after-ms``) header from the server wins over the
computed delay. Attempts and total time are bounded (``[providers.<name>]`` keys
``max_retries``, ``retry = {max_retries, initial_delay_ms, max_delay_ms,
backoff_multiplier, max_total_ms}``), and by the script's own deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 30.0
    multiplier: float = 2.0
    max_total: float = 120.0

    @classmethod
    def from_config(cls, entry: dict[str, Any] | None) -> RetryPolicy:
        entry = entry or {}
        retry = entry.get("retry") or {}
        max_retries = retry.get("max_retries", entry.get("max_retries"))

        def ms(key: str, default: float) -> float:
            value = retry.get(key)
            return float(value) / 1000 if isinstance(value, int | float) else default

        return cls(
            max_retries=int(max_retries) if isinstance(max_retries, int) else cls.max_retries,
            initial_delay=ms("initial_delay_ms", cls.initial_delay),
            max_delay=ms("max_delay_ms", cls.max_delay),
            multiplier=float(retry.get("backoff_multiplier") or cls.multiplier),
            max_total=ms("max_total_ms", cls.max_total),
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (attempt counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return retry_after + random.uniform(0, min(0.05, retry_after * 0.1))
        base = min(self.max_delay, self.initial_delay * self.multiplier ** attempt)
        return random.uniform(base / 2, base)  # "equal jitter": never less than half


class Retryable(Exception):
    """Raised by an attempt that may succeed if tried again; ``error`` is what to raise
    when no attempt is left."""

    def __init__(self, error: Exception, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    import email.utils  # only for the rare HTTP-date form (the email package is slow to load)

    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def with_retry(attempt: Callable[[int], T], policy: RetryPolicy, *,
               budget: Callable[[], float | None] | None = None,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """Call ``attempt(n)`` until it returns, retrying on ``Retryable`` within the policy."""
    started = clock()
    n = 0
    while True:
        try:
            return attempt(n)
        except Retryable as retry:
            if n >= policy.max_retries:
                raise _gave_up(retry.error, n + 1) from None
            wait = policy.delay(n, retry.retry_after)
            left = policy.max_total - (clock() - started)
            outer = budget() if budget is not None else None
            if outer is not None:
                left = min(left, outer)
            if wait > left:
                raise _gave_up(retry.error, n + 1,
                               f"retry needed {wait:.1f}s but only {max(left, 0):.1f}s left"
                               ) from None
            sleep(wait)
            n += 1


def _gave_up(error: Exception, attempts: int, why: str = "") -> Exception:
    if attempts > 1 or why:
        note = f" (after {attempts} attempt{'s' if attempts != 1 else ''}"
        note += f"; {why})" if why else ")"
        error.args = (str(error) + note,)
    return error
