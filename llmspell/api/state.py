"""The State global (spec § 5): scoped values in memory or a durable SQLite file.

    State.save(scope, key, value)  State.load(scope, key)  State.delete(scope, key)
    State.list_keys(scope)         State.get(key) / State.set(key, value)  (scope "global")
    State.workflow_get/workflow_list, State.agent_get/agent_set, State.tool_get/tool_set
    State.create_backup/list_backups/restore_backup/validate_backup/get_storage_usage/
    cleanup_backups  (real backups, see llmspell/state/backup.py)
    State.migrate/get_migration_status/get_schema_versions  (format migrations of the
    SQLite file, see llmspell/state/migrations.py)

Keys are ``scope:key`` for both save and load (upstream's persistent-mode load quirk is
not reproduced). Saving ``nil`` deletes the key. Other services reach the same store
through ``state_service(rt)``.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ..errors import ApiError, StateError
from ..lua import convert

lua_type = convert.lua_type

if TYPE_CHECKING:
    from ..lua.runtime import Runtime
    from ..state.backup import BackupManager
    from ..state.service import StateService


def state_service(rt: Runtime) -> StateService:
    """The run's state service (opened on first use, closed when the run ends)."""
    return rt.services.state


def backup_manager(rt: Runtime) -> BackupManager:
    return rt.services.state_backups


def _text(value: Any, fn: str, position: int, what: str) -> str:
    if type(value) is bytes:
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # numbers as keys, like tostring
    raise ApiError(f"{fn}: {what} (argument #{position}) must be a string, "
                   f"got {convert.describe(value)}")


# -- a fast path for State values ---------------------------------------------------
# ``State.save``/``State.load`` run in tight script loops, so they convert values with
# these two functions rather than ``convert.to_python``/``convert.to_lua``: the same
# rules (tests/test_state.py checks they agree), one ``items()`` call per table instead
# of ``len`` plus indexing, and an upper bound of the JSON size gathered on the way so
# the exact size is only computed for values that might pass the size limit.

_bound = 0
_nodes = 0  # nodes still allowed (convert.limits()): shared sub-tables count each time
_max_bound = 0


def _from_lua(value: Any, depth: int = 0) -> Any:
    global _bound, _nodes
    kind = type(value)
    if kind is bytes:
        _bound += 6 * len(value) + 2
        return value.decode("utf-8", "surrogateescape")
    if kind is int:
        _bound += 24
        return value
    if kind is bool or value is None:
        _bound += 5
        return value
    if kind is float:
        _bound += 26
        if value != value or value in (math.inf, -math.inf):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if lua_type(value) != "table":
        raise TypeError("Unsupported Lua type for JSON conversion")
    if depth > convert.MAX_DEPTH:
        raise TypeError("table nesting too deep (is there a cycle?)")
    _nodes -= 1
    if _nodes < 0 or _bound > _max_bound:
        raise convert.ValueTooLarge(
            f"value too large to convert (more than {convert.limits().nodes} nodes or "
            f"{convert.limits().text_bytes} bytes of text)")
    pairs = list(value.items())
    _nodes -= len(pairs)
    _bound += 2 + 2 * len(pairs)
    if not pairs:
        return {}
    n = len(value)
    if n:
        if len(pairs) == n and [k for k, _ in pairs] == list(range(1, n + 1)):
            return [_from_lua(v, depth + 1) for _, v in pairs]
        numbered = {k: v for k, v in pairs if type(k) is int}
        if all(i in numbered for i in range(1, n + 1)):
            return [_from_lua(numbered[i], depth + 1) for i in range(1, n + 1)]
    out: dict[str, Any] = {}
    for k, v in pairs:
        key_kind = type(k)
        if key_kind is bytes:
            _bound += 6 * len(k) + 2
            out[k.decode("utf-8", "surrogateescape")] = _from_lua(v, depth + 1)
        elif key_kind is int:
            _bound += 24
            out[str(k)] = _from_lua(v, depth + 1)
        elif key_kind is float:
            _bound += 30
            out[str(int(k)) if k.is_integer() else repr(k)] = _from_lua(v, depth + 1)
    return out


def value_from_lua(value: Any, fn: str, key: str) -> tuple[Any, int]:
    """A Lua value as plain JSON data plus an upper bound of its JSON size in bytes."""
    global _bound, _nodes, _max_bound
    limits = convert.limits()
    _bound = 0
    _nodes = limits.nodes
    _max_bound = 6 * limits.text_bytes + 2 * limits.nodes
    try:
        data = _from_lua(value)
    except (TypeError, convert.ValueTooLarge) as exc:
        raise ApiError(f"{fn}: value for key '{key}' cannot be stored: {exc}") from None
    return data, _bound


_cost = 0


def _prepare(value: Any) -> Any:
    global _cost
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        _cost += len(raw) + convert.STRING_COST
        return raw
    if kind is dict:
        _cost += convert.TABLE_COST + (convert.ENTRY_COST + convert.STRING_COST) * len(value)
        return {k.encode("utf-8", "surrogateescape"): _prepare(v)
                for k, v in value.items() if v is not None}
    if kind is list:
        _cost += convert.TABLE_COST + convert.ENTRY_COST * len(value)
        return [_prepare(v) for v in value]
    return value


def value_to_lua(rt: Runtime, value: Any) -> Any:
    """Plain JSON data as fresh Lua values (JSON null becomes nil); refused when it would
    not fit in the Lua heap (``convert.ensure_room``)."""
    global _cost
    kind = type(value)
    if kind is dict or kind is list:
        _cost = 0
        prepared = _prepare(value)
        convert.room_for(rt.lua, _cost)
        return rt.lua.table_from(prepared, recursive=True)
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        convert.room_for(rt.lua, len(raw) + convert.STRING_COST)
        return raw
    return value


def install(rt: Runtime, table: Any) -> None:
    svc_cache: list[StateService] = []

    def svc() -> StateService:
        if not svc_cache:
            svc_cache.append(state_service(rt))
        return svc_cache[0]

    # [events] emit_state_events: every change is published as a `state.changed` event
    emit_events = bool(rt.settings.get("events.emit_state_events"))

    def changed(full: str, operation: str) -> None:
        rt.services.events.emit(
            "state.changed", {"key": full, "operation": operation}, component="state")

    def put(fn: str, full: str, value: Any) -> None:
        data, bound = value_from_lua(value, fn, full)
        svc().set_owned(full, data, bound)
        if emit_events:
            changed(full, "delete" if data is None else "save")

    def fetch(full: str) -> Any:
        return value_to_lua(rt, svc().get_shared(full))

    def save(scope: Any = None, key: Any = None, value: Any = None) -> None:
        full = _text(scope, "State.save", 1, "scope") + ":" + _text(key, "State.save", 2, "key")
        put("State.save", full, value)

    def load(scope: Any = None, key: Any = None) -> Any:
        return fetch(_text(scope, "State.load", 1, "scope") + ":"
                     + _text(key, "State.load", 2, "key"))

    def delete(scope: Any = None, key: Any = None) -> None:
        full = _text(scope, "State.delete", 1, "scope") + ":" + _text(key, "State.delete", 2,
                                                                       "key")
        removed = svc().remove(full)
        drop = rt.services.forget_state_copies
        if drop is not None:
            drop(full)
        if removed and emit_events:
            changed(full, "delete")

    def list_keys(scope: Any = None) -> list[str]:
        return svc().list_keys(_text(scope, "State.list_keys", 1, "scope"))

    def get(key: Any = None) -> Any:
        return fetch("global:" + _text(key, "State.get", 1, "key"))

    def set_(key: Any = None, value: Any = None) -> None:
        put("State.set", "global:" + _text(key, "State.set", 1, "key"), value)

    def workflow_get(workflow_id: Any = None, step: Any = None) -> Any:
        fn = "State.workflow_get"
        return fetch(f"workflow:{_text(workflow_id, fn, 1, 'workflow id')}:"
                     f"{_text(step, fn, 2, 'step name')}")

    def workflow_list(workflow_id: Any = None) -> list[str]:
        return svc().list_keys(
            "workflow:" + _text(workflow_id, "State.workflow_list", 1, "workflow id"))

    def scoped_get(kind: str) -> Any:
        fn = f"State.{kind}_get"

        def getter(owner: Any = None, key: Any = None) -> Any:
            return fetch(f"{kind}:{_text(owner, fn, 1, kind + ' id')}:"
                         f"{_text(key, fn, 2, 'key')}")
        return getter

    def scoped_set(kind: str) -> Any:
        fn = f"State.{kind}_set"

        def setter(owner: Any = None, key: Any = None, value: Any = None) -> None:
            put(fn, f"{kind}:{_text(owner, fn, 1, kind + ' id')}:{_text(key, fn, 2, 'key')}",
                value)
        return setter

    # -- backups ---------------------------------------------------------------------

    def create_backup(incremental: Any = None, description: Any = None) -> dict[str, Any]:
        desc = convert.decode(description) if isinstance(description, bytes) else None
        return backup_manager(rt).create(bool(incremental), desc)

    def list_backups() -> list[dict[str, Any]]:
        return backup_manager(rt).list()

    def restore_backup(backup_id: Any = None, dry_run: Any = None) -> dict[str, Any]:
        bid = _text(backup_id, "State.restore_backup", 1, "backup id")
        from ..state.backup import BackupError

        try:
            result = backup_manager(rt).restore(bid, bool(dry_run))
        except BackupError as exc:
            return {"success": False, "backup_id": bid, "error": str(exc)}
        drop = rt.services.forget_state_copies
        if drop is not None and not dry_run:
            drop(None)
        if emit_events and not dry_run:
            changed("*", "restore")
        return result

    def validate_backup(backup_id: Any = None) -> dict[str, Any]:
        return backup_manager(rt).validate(
            _text(backup_id, "State.validate_backup", 1, "backup id"))

    def get_storage_usage() -> dict[str, Any]:
        return backup_manager(rt).usage()

    def cleanup_backups(dry_run: Any = None) -> dict[str, Any]:
        return backup_manager(rt).cleanup(bool(dry_run))

    # -- format migrations ---------------------------------------------------------------

    def migrate(target: Any = None) -> dict[str, Any]:
        from ..state import migrations

        if isinstance(target, bytes):
            target = convert.decode(target)
        elif target is None or not isinstance(target, int | float):
            raise ApiError("State.migrate: target version (argument #1) must be a string or "
                           f"number, got {convert.describe(target)}")
        backup = None
        if rt.settings.get("runtime.state_persistence.backup_on_migration"):
            def backup(description: str) -> dict[str, Any]:
                return backup_manager(rt).create(False, description)
        try:
            return migrations.migrate(
                svc(), target,
                enabled=bool(rt.settings.get("runtime.state_persistence.migration_enabled")),
                backup=backup)
        except migrations.VersionError as exc:
            raise ApiError(f"State.migrate: {exc}") from None

    def get_migration_status() -> dict[str, Any]:
        from ..state import migrations

        return migrations.migration_status(
            svc(), bool(rt.settings.get("runtime.state_persistence.migration_enabled")))

    def get_schema_versions() -> list[str]:
        from ..state import migrations

        return migrations.schema_versions()

    functions = {
        "save": save, "load": load, "delete": delete, "list_keys": list_keys,
        "get": get, "set": set_,
        "workflow_get": workflow_get, "workflow_list": workflow_list,
        "agent_get": scoped_get("agent"), "agent_set": scoped_set("agent"),
        "tool_get": scoped_get("tool"), "tool_set": scoped_set("tool"),
        "create_backup": create_backup, "list_backups": list_backups,
        "restore_backup": restore_backup, "validate_backup": validate_backup,
        "get_storage_usage": get_storage_usage, "cleanup_backups": cleanup_backups,
        "migrate": migrate, "get_migration_status": get_migration_status,
        "get_schema_versions": get_schema_versions,
    }
    for name, fn in functions.items():
        table[name.encode()] = rt.function(fn, f"State.{name}")
    _install_fast_paths(rt, table, svc(), emit_events, changed)


# -- fast paths ------------------------------------------------------------------------

_OK = (True,)
_VALID = (True, True)
_MISSING = (True, False, None)

# State.save/load/set/get run in tight script loops. Walking a Lua table from Python
# through lupa costs several microseconds per table, so the Lua code in
# ``llmspell/lua/state_cache.lua`` turns the value into JSON text on the Lua side (one
# walk, which also builds the copy a JSON round trip would give) and hands Python two
# strings; the memory store keeps that text (``JsonText``) and Python decodes it only when
# Python reads the key. On the memory backend Lua also keeps a bounded number of those
# copies (``cache_limits``): ``load`` asks Python whether the key still holds the very
# object saved with it (identity: any other write replaces the object) and, if so, returns
# a deep copy made in Lua instead of converting the value back. Unusual values take the
# Python path above (same results, same errors).

CACHE_ENTRIES = 8192  # per generation (state_cache.lua keeps two)


def cache_limits(max_memory: int | None) -> tuple[int, int]:
    """Entries and bytes of JSON text per generation of Lua copies: a small share of the
    script's memory cap (1/128 of it, between 16 KB and 4 MB; 1 MB without a cap)."""
    if not max_memory or max_memory <= 0:
        return CACHE_ENTRIES, 1 << 20
    return CACHE_ENTRIES, min(4 << 20, max(16 << 10, max_memory // 128))


def _install_fast_paths(rt: Runtime, table: Any, service: StateService, emit_events: bool,
                        changed: Any) -> None:
    from .. import jsonutil
    from ..state.store import JsonText

    _DECODE = json.JSONDecoder().decode

    def _size(value: Any) -> int:
        """The JSON size of a value Lua may keep a copy of (it bounds the copies)."""
        if value is None or isinstance(value, bool | int | float):
            return 8
        if isinstance(value, str):
            return len(value) + 2
        try:
            return len(jsonutil.dumps(value))
        except (TypeError, ValueError):
            return 1 << 30  # unknown: too big to keep a copy of

    memory = service._memory
    known: dict[str, Any] = {}  # full key -> the object its Lua copy came from

    def save_json(full: bytes, text: bytes, fn: str) -> None:
        key = full.decode("utf-8", "surrogateescape")
        try:
            stored = service.set_json(key, text.decode("utf-8", "surrogateescape"))
        except StateError as exc:
            raise ApiError(f"{fn}: {exc}") from None
        if memory is not None:
            known[key] = stored
        if emit_events:
            changed(key, "save")

    def load_full(full: bytes, has_copy: bool) -> Any:
        key = full.decode("utf-8", "surrogateescape")
        if memory is not None:
            stored = memory.data.get(key)
            if has_copy and stored is not None and known.get(key) is stored:
                return True
            known.pop(key, None)
        value = service.get_shared(key)
        return convert.LuaMulti((False, value_to_lua(rt, value), _size(value)))

    # The runtime's call protocol answers (true, ...) or (false, message); these answer
    # the common case directly and leave every failure to it (same messages, aborts).
    careful_save = rt._protocol(lambda f, t: save_json(f, t, "State.save"), "State.save")
    careful_set = rt._protocol(lambda f, t: save_json(f, t, "State.set"), "State.set")
    careful_load = rt._protocol(load_full, "State.load")
    lua_value = value_to_lua

    def quick_save(full: bytes, text: bytes) -> Any:
        if memory is None or emit_events:
            return careful_save(full, text)
        try:
            key = full.decode("utf-8", "surrogateescape")
            known[key] = service.set_json(key, text.decode("utf-8", "surrogateescape"))
        except Exception:
            return careful_save(full, text)
        return _OK

    def quick_load(full: bytes, has_copy: bool) -> Any:
        if memory is None:
            return careful_load(full, has_copy)
        try:
            key = full.decode("utf-8", "surrogateescape")
            stored = memory.data.get(key)
            if stored is None:
                return _MISSING
            if has_copy and known.get(key) is stored:
                return _VALID
            known[key] = stored  # Lua keeps the converted value as the copy of it
            if type(stored) is JsonText:
                return (True, False, lua_value(rt, _DECODE(stored)), len(stored))
            return (True, False, lua_value(rt, stored), _size(stored))
        except Exception:
            return careful_load(full, has_copy)

    entries, max_bytes = cache_limits(rt.settings.get("runtime.security.max_memory_bytes"))
    save, load, set_, get, forget = rt.chunk("state_cache")(
        quick_save, careful_set, quick_load, rt.abort_token, rt.internals[b"lost"],
        memory is not None, convert.MAX_DEPTH, entries, max_bytes,
        table[b"save"], table[b"load"], table[b"set"], table[b"get"])
    table[b"save"], table[b"load"], table[b"set"], table[b"get"] = save, load, set_, get
    if memory is not None:
        def drop(key: str | None) -> None:
            """Forget the Lua copies of ``key`` (None: of every key)."""
            if key is None:
                known.clear()
                forget(None)
            elif known.pop(key, None) is not None:
                forget(key.encode("utf-8", "surrogateescape"))
        rt.services.forget_state_copies = drop
