"""The state service behind the ``State`` global: scoped JSON values over a store.

    svc = StateService(MemoryStore())
    svc.save("global", "counter", 1)          # full key "global:counter"
    svc.load("global", "counter")  -> 1
    svc.list_keys("global")        -> ["counter"]
    svc.set("workflow:abc:step1", {...})      # raw full keys, for other services
    svc.get("workflow:abc:step1")

Values are anything JSON can hold, kept as JSON text by either store (memory or SQLite);
every ``get``/``load`` decodes a copy the caller owns. A value that cannot be stored (a
function, a cycle, too large) raises ``StateValueError`` naming the key.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from .store import MemoryStore, MemoryStoreFull

if TYPE_CHECKING:
    from ..config import Settings
    from .sqlite_store import SQLiteStore

DURABLE_ALIASES = ("sled", "rocksdb")
DEFAULT_MAX_VALUE_BYTES = 10_000_000
# The memory backend holds at most this many times max_state_size_bytes in all (0: no
# limit, like the setting).
MEMORY_TOTAL_FACTOR = 16

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                           check_circular=True).encode
_DECODE = json.JSONDecoder().decode
_told: set[tuple[str, str]] = set()


class StateValueError(StateError):
    """A value cannot be stored (not JSON-able or too large); the message names the key."""


def full_key(scope: str, key: str) -> str:
    return f"{scope}:{key}"


class StateService:
    """Scoped get/set over a ``Store``; the store decides memory or durable."""

    def __init__(self, store: MemoryStore | SQLiteStore,
                 max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> None:
        self.store = store
        self.max_value_bytes = max_value_bytes

    @property
    def backend(self) -> str:
        return self.store.backend

    @property
    def path(self) -> Path | None:
        return self.store.path

    @property
    def location(self) -> str:
        """Where the values live, for reports: the file, the server, or "memory"."""
        if self.store.path:
            return str(self.store.path)
        return getattr(self.store, "server", None) or "memory"

    # -- raw full keys ------------------------------------------------------------

    def encode(self, key: str, value: Any) -> str:
        """``value`` as the JSON text the store keeps; raises ``StateValueError`` (naming
        the key) for a value JSON cannot hold or one over ``max_value_bytes``."""
        try:
            text = _ENCODE(value)
        except (TypeError, ValueError) as exc:
            raise StateValueError(f"value for key '{key}' cannot be stored: {exc}") from None
        if self.max_value_bytes and len(text) > self.max_value_bytes // 4 \
                and len(text.encode("utf-8", "surrogatepass")) > self.max_value_bytes:
            raise StateValueError(
                f"value for key '{key}' is {len(text.encode('utf-8', 'surrogatepass'))} bytes "
                f"as JSON, over the limit of {self.max_value_bytes} "
                "(runtime.state_persistence.max_state_size_bytes)")
        return text

    def set(self, key: str, value: Any) -> None:
        """Store (a copy of) ``value`` under the full key ``key``; ``None`` deletes.

        One transaction on SQLite. Raises ``StateValueError`` (naming the key) for a value
        JSON cannot hold, one over ``max_value_bytes``, or one that would take the memory
        store past its total.
        """
        if value is None:
            self.store.delete(key)
            return
        text = self.encode(key, value)
        try:
            self.store.put(key, text)
        except MemoryStoreFull as exc:
            raise StateValueError(f"value for key '{key}' cannot be stored: {exc}") from None

    def set_text(self, key: str, text: str) -> None:
        """Store a value given as its JSON text (compact, as ``encode`` writes it; not
        ``null``): the Lua converter writes it, so no Python value is made in between.
        The same size checks as ``set``."""
        if self.max_value_bytes and len(text) > self.max_value_bytes // 4 \
                and len(text.encode("utf-8", "surrogatepass")) > self.max_value_bytes:
            self.encode(key, _DECODE(text))  # raises, with the exact size
        try:
            self.store.put(key, text)
        except MemoryStoreFull as exc:
            raise StateValueError(f"value for key '{key}' cannot be stored: {exc}") from None

    def get(self, key: str) -> Any:
        """The value under the full key ``key`` (a copy the caller may change), or None."""
        text = self.store.get(key)
        return None if text is None else _DECODE(text)

    def get_text(self, key: str) -> str | None:
        """The JSON text of the value under ``key`` (as ``encode`` wrote it), or None."""
        return self.store.get(key)

    def remove(self, key: str) -> bool:
        return self.store.delete(key)

    def keys(self, prefix: str = "") -> list[str]:
        return self.store.keys(prefix)

    # -- scoped (what State.save/load/delete/list_keys do) -----------------------

    def save(self, scope: str, key: str, value: Any) -> None:
        self.set(full_key(scope, key), value)

    def load(self, scope: str, key: str) -> Any:
        return self.get(full_key(scope, key))

    def delete(self, scope: str, key: str) -> bool:
        return self.remove(full_key(scope, key))

    def list_keys(self, scope: str) -> list[str]:
        prefix = scope + ":"
        return [k[len(prefix):] for k in self.store.keys(prefix)]

    def clear_scope(self, scope: str) -> int:
        keys = self.store.keys(scope + ":")
        for k in keys:
            self.store.delete(k)
        return len(keys)

    # -- whole store (backups) ----------------------------------------------------

    def snapshot(self) -> dict[str, str]:
        """Every full key with its JSON text."""
        return dict(self.store.items())

    def restore(self, items: dict[str, str]) -> None:
        """Replace the whole state with ``items`` (full key -> JSON text), atomically."""
        self.store.replace_all(items)

    def close(self) -> None:
        self.store.close()


def resolve_path(raw: str | None, default_name: str) -> Path:
    """A configured path (``~`` expanded, relative to the working directory) or the default
    ``$XDG_DATA_HOME/llmspell/<default_name>``."""
    from ..paths import data_dir

    if raw:
        return Path(raw).expanduser().resolve()
    return data_dir() / default_name


def backend_name(configured: str | None, section: str) -> str:
    """Normalise a backend name; upstream's durable names select SQLite (said once)."""
    name = (configured or "memory").strip().lower()
    if name in DURABLE_ALIASES:
        if (section, name) not in _told:
            _told.add((section, name))
            sys.stderr.write(f"llmspell: [{section}] backend '{name}' is provided by the "
                             "SQLite backend\n")
        return "sqlite"
    if name not in ("memory", "sqlite", "postgres"):
        raise StateError(f"[{section}] unknown backend '{configured}': use 'memory', "
                         "'sqlite' or 'postgres' ('sled'/'rocksdb' also select sqlite)")
    return name


def state_path(settings: Settings) -> Path:
    return resolve_path(settings.get("runtime.state_persistence.path"), "state.db")


def open_state(settings: Settings, database: Callable[[], Any] | None = None) -> StateService:
    """The state service a run's settings ask for (memory unless a durable backend is set)."""
    section = "runtime.state_persistence"
    enabled = settings.get("runtime.state_persistence.enabled")
    backend = backend_name(settings.get("runtime.state_persistence.backend_type"), section)
    max_bytes = settings.get("runtime.state_persistence.max_state_size_bytes")
    if not enabled or backend == "memory":
        return StateService(MemoryStore(MEMORY_TOTAL_FACTOR * max_bytes), max_bytes)
    if backend == "postgres":
        from ..postgres import open_database
        from ..postgres.state_store import PostgresStateStore

        db = database() if database else open_database(settings)
        return StateService(PostgresStateStore(db, owns_db=database is None), max_bytes)
    from .sqlite_store import SQLiteStore

    return StateService(SQLiteStore(state_path(settings)), max_bytes)
