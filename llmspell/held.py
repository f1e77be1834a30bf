"""Per-run byte budgets for objects a script can pile up outside the Lua heap.

The Lua heap is capped (``max_memory_bytes``), but what a script hands to a Python service
and that service keeps (workflow definitions with their inputs, agent configs and their
conversations) is not on it: 120 workflows each carrying 5 MB held 600 MB. Each service
keeps a ``HeldBytes`` for the run, charging what it keeps under a key and releasing it
when the object goes, like State's ``MemoryStoreFull`` (16 x ``max_state_size_bytes``),
events (64 MiB per subscription) and sessions (256 MiB).
"""

from __future__ import annotations

import threading
from typing import Any

WORKFLOWS_HELD_LIMIT = 256 * 1024 * 1024
AGENTS_HELD_LIMIT = 256 * 1024 * 1024


class HeldBytesFull(ValueError):
    """Past the budget; the message starts with the function that was refused."""


def size_of(value: Any, budget: int) -> int:
    """About how much memory ``value`` holds (plain data, dataclasses and objects with a
    ``__dict__``; each object counted once), counted until past ``budget``."""
    total, stack, seen = 0, [value], set()
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
            continue
        if isinstance(item, int | float | bool) or item is None:
            total += 8
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            total += 8 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 8 * len(item)
            stack.extend(item)
        elif hasattr(item, "__dict__") and not callable(item):
            total += 8
            stack.extend(vars(item).values())
        else:
            total += 8
    return total


class HeldBytes:
    def __init__(self, limit: int, setting: str) -> None:
        self.limit = limit
        self.setting = setting  # how the limit is described in errors
        self.held: dict[Any, int] = {}
        self.total = 0
        self._lock = threading.Lock()

    def charge(self, key: Any, nbytes: int, fn: str) -> None:
        """Hold ``nbytes`` for ``key`` (replacing its previous charge) or raise."""
        with self._lock:
            after = self.total - self.held.get(key, 0) + nbytes
            if after > self.limit:
                raise HeldBytesFull(
                    f"{fn}: the run's {self.setting} would hold {after} bytes, past the "
                    f"limit of {self.limit} bytes ({self.limit // (1024 * 1024)} MiB); "
                    "remove some first")
            self.total = after
            self.held[key] = nbytes

    def charge_value(self, key: Any, value: Any, fn: str) -> None:
        self.charge(key, size_of(value, self.limit + 1), fn)

    def release(self, key: Any) -> None:
        with self._lock:
            self.total -= self.held.pop(key, 0)
