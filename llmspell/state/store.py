"""Key/value stores behind ``State``: values are JSON texts under full keys (``scope:key``).

- ``MemoryStore``: a dict of values, for one run (the default backend).
- ``SQLiteStore`` (``sqlite_store.py``, imported only when used): a durable file
  (``backend_type = "sqlite"``); one transaction per write, WAL, safe to share between
  processes (see ``sqlite.py``).

Both answer the same small interface: ``get``, ``put``, ``delete``, ``keys``, ``items``,
``replace_all`` (used by backup restore), ``close``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _items(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """A snapshot of ``data``'s items while other threads may write to it (copying can
    be interrupted by a thread switch, e.g. from a finalizer the garbage collector runs;
    then it is simply tried again)."""
    while True:
        try:
            return list(data.items())
        except RuntimeError:  # dictionary changed size during iteration
            continue


class MemoryStoreFull(ValueError):
    """The memory store's total limit would be passed (``MemoryStore.limit``)."""


def utf8_text(text: str) -> str:
    """JSON text that a UTF-8 database (SQLite, PostgreSQL) can hold: lone surrogates
    (bytes of a Lua string that were not UTF-8) escaped as ``\\udcXX``, which decode back
    to the same characters. Most texts pass through unchanged."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":"))
    return text


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """[low, high) covering every string that starts with ``prefix`` (binary order)."""
    if not prefix:
        return "", None
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return prefix, None
    return prefix, prefix[:-1] + chr(ord(last) + 1)


class MemoryStore:
    """Keys to JSON texts in a dict, for one run; the same interface as the SQLite store.

    The texts are what ``StateService`` encoded (canonical JSON, checked against the value
    size limit), so every read decodes a fresh copy for its caller.
    """

    backend = "memory"
    path: Path | None = None

    def __init__(self, limit: int = 0) -> None:
        self.data: dict[str, str] = {}
        # The total size of the texts, capped by ``limit`` (0: none): the values live in
        # Python, outside the Lua heap's cap, and a script can save any number of keys.
        self.limit = limit
        self.total = 0

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, text: str) -> None:
        """Store ``text`` under ``key``; raises ``MemoryStoreFull`` past ``limit``."""
        old = self.data.get(key)
        total = self.total - (len(old) if old is not None else 0) + len(text)
        if self.limit and total > self.limit:
            raise MemoryStoreFull(
                f"the state held in memory would exceed {self.limit} bytes in all "
                "(16 x runtime.state_persistence.max_state_size_bytes); delete some keys, "
                "or use the sqlite backend")
        self.data[key] = text
        self.total = total

    def delete(self, key: str) -> bool:
        old = self.data.pop(key, None)
        if old is None:
            return False
        self.total -= len(old)
        return True

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k, _ in _items(self.data) if k.startswith(prefix)]

    def items(self) -> list[tuple[str, str]]:
        return sorted(_items(self.data))

    def replace_all(self, items: dict[str, str]) -> None:
        self.data = dict(items)
        self.total = sum(len(v) for v in items.values())

    def count(self) -> int:
        return len(self.data)

    def close(self) -> None:
        pass
