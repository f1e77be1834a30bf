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

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_DECODE = json.JSONDecoder().decode

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


class JsonText(str):
    """A value the memory store holds as its JSON text (as written by the Lua fast path,
    see ``api/state.py``); decoded when read. Not necessarily canonical JSON."""

    __slots__ = ()


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
    """Keys to JSON values (plain Python data, owned by the store) in a dict; for one run.

    Holding values rather than JSON texts saves an encode and a decode per operation
    (values saved from Lua are held as ``JsonText``, decoded when Python reads them);
    ``StateService`` makes sure what goes in is JSON data nobody else holds, and hands
    copies to Python callers. The text methods (``get``/``put``/``items``/...) speak
    JSON like the SQLite store, for backups.
    """

    backend = "memory"
    path: Path | None = None

    def __init__(self, limit: int = 0) -> None:
        self.data: dict[str, Any] = {}
        # The JSON size of each value and their total, capped by ``limit`` (0: none): the
        # values live in Python, outside the Lua heap's cap, and a script can save any
        # number of keys.
        self.limit = limit
        self.sizes: dict[str, int] = {}
        self.total = 0

    def hold(self, key: str, value: Any, size: int) -> None:
        """Store ``value`` (JSON data or ``JsonText``, about ``size`` bytes as JSON) under
        ``key``; raises ``MemoryStoreFull`` past ``limit``."""
        total = self.total - self.sizes.get(key, 0) + size
        if self.limit and total > self.limit:
            raise MemoryStoreFull(
                f"the state held in memory would exceed {self.limit} bytes in all "
                "(16 x runtime.state_persistence.max_state_size_bytes); delete some keys, "
                "or use the sqlite backend")
        self.data[key] = value
        self.sizes[key] = size
        self.total = total

    def get(self, key: str) -> str | None:
        value = self.data.get(key)
        if type(value) is JsonText:
            value = _DECODE(value)
        return None if value is None else _ENCODE(value)

    def put(self, key: str, text: str) -> None:
        self.hold(key, _DECODE(text), len(text))

    def delete(self, key: str) -> bool:
        self.total -= self.sizes.pop(key, 0)
        return self.data.pop(key, None) is not None

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k, _ in _items(self.data) if k.startswith(prefix)]

    def items(self) -> list[tuple[str, str]]:
        return sorted((k, _ENCODE(_DECODE(v) if type(v) is JsonText else v))
                      for k, v in _items(self.data))

    def replace_all(self, items: dict[str, str]) -> None:
        self.data = {k: _DECODE(v) for k, v in items.items()}
        self.sizes = {k: len(v) for k, v in items.items()}
        self.total = sum(self.sizes.values())

    def count(self) -> int:
        return len(self.data)

    def close(self) -> None:
        pass
