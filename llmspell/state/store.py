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

    Holding values rather than JSON texts saves an encode and a decode per operation;
    ``StateService`` makes sure what goes in is JSON data nobody else holds, and hands
    copies to Python callers. The text methods (``get``/``put``/``items``/...) speak
    JSON like the SQLite store, for backups.
    """

    backend = "memory"
    path: Path | None = None

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else _ENCODE(value)

    def put(self, key: str, text: str) -> None:
        self.data[key] = _DECODE(text)

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k in list(self.data) if k.startswith(prefix)]  # list(): a snapshot

    def items(self) -> list[tuple[str, str]]:
        return sorted((k, _ENCODE(v)) for k, v in list(self.data.items()))

    def replace_all(self, items: dict[str, str]) -> None:
        self.data = {k: _DECODE(v) for k, v in items.items()}

    def count(self) -> int:
        return len(self.data)

    def close(self) -> None:
        pass
