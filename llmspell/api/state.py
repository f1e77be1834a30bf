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

``StateGlobal``'s public methods are the Lua functions. Values cross through the run's
converter (``rt.converter``) and the store keeps JSON text, so every load is a fresh copy
the script may change. ``install`` puts the converter's two fast paths in front of the
save and load functions (``Converter.json_setter``: the JSON text is written in Lua;
``Converter.from_json``: tables made once per text, copied in Lua per load); both pay
on ``benchmarks/bench_state.py``'s mixed workload (docs/state.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import args, convert
from ..lua.objects import LuaObject, lua_objects

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
    """A scope or key: a string, or a number as Lua's ``tostring`` writes it."""
    if type(value) is bytes:
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return args.number_text(value)
    raise ApiError(f"{fn}: {what} (argument #{position}) must be a string, "
                   f"got {convert.describe(value)}")


class StateGlobal(LuaObject):
    """The ``State`` table: its public methods are the dot-call functions."""

    lua_name = "State"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._converter = rt.converter
        self._svc: StateService | None = None
        # [events] emit_state_events: every change is published as a `state.changed` event
        self._emit = bool(rt.settings.get("events.emit_state_events"))
        self._memo = False  # loads go through the converter's memo (set by install)

    # -- helpers -----------------------------------------------------------------------

    def _service(self) -> StateService:
        svc = self._svc
        if svc is None:
            svc = self._svc = state_service(self._rt)
        return svc

    def _changed(self, full: str, operation: str) -> None:
        self._rt.services.events.emit(
            "state.changed", {"key": full, "operation": operation}, component="state")

    def _put(self, fn: str, full: str, value: Any) -> None:
        try:
            data = self._converter.to_python(value)
        except (TypeError, convert.ValueTooLarge) as exc:
            raise ApiError(f"{fn}: value for key '{full}' cannot be stored: {exc}") from None
        self._service().set(full, data)
        if self._emit:
            self._changed(full, "delete" if data is None else "save")

    def _fetch(self, full: str) -> Any:
        return self._service().get(full)

    def _scoped(self, kind: str, fn: str, owner: Any, key: Any) -> str:
        return f"{kind}:{_text(owner, fn, 1, kind + ' id')}:{_text(key, fn, 2, 'key')}"

    # -- values ------------------------------------------------------------------------

    def save(self, scope: Any = None, key: Any = None, value: Any = None) -> None:
        full = _text(scope, "State.save", 1, "scope") + ":" + _text(key, "State.save", 2, "key")
        self._put("State.save", full, value)

    def load(self, scope: Any = None, key: Any = None) -> Any:
        return self._fetch(_text(scope, "State.load", 1, "scope") + ":"
                           + _text(key, "State.load", 2, "key"))

    def delete(self, scope: Any = None, key: Any = None) -> None:
        full = (_text(scope, "State.delete", 1, "scope") + ":"
                + _text(key, "State.delete", 2, "key"))
        if self._service().remove(full) and self._emit:
            self._changed(full, "delete")

    def list_keys(self, scope: Any = None) -> list[str]:
        return self._service().list_keys(_text(scope, "State.list_keys", 1, "scope"))

    def get(self, key: Any = None) -> Any:
        return self._fetch("global:" + _text(key, "State.get", 1, "key"))

    def set(self, key: Any = None, value: Any = None) -> None:
        self._put("State.set", "global:" + _text(key, "State.set", 1, "key"), value)

    def workflow_get(self, workflow_id: Any = None, step: Any = None) -> Any:
        fn = "State.workflow_get"
        return self._fetch(f"workflow:{_text(workflow_id, fn, 1, 'workflow id')}:"
                           f"{_text(step, fn, 2, 'step name')}")

    def workflow_list(self, workflow_id: Any = None) -> list[str]:
        return self._service().list_keys(
            "workflow:" + _text(workflow_id, "State.workflow_list", 1, "workflow id"))

    def agent_get(self, agent: Any = None, key: Any = None) -> Any:
        return self._fetch(self._scoped("agent", "State.agent_get", agent, key))

    def agent_set(self, agent: Any = None, key: Any = None, value: Any = None) -> None:
        self._put("State.agent_set", self._scoped("agent", "State.agent_set", agent, key),
                  value)

    def tool_get(self, tool: Any = None, key: Any = None) -> Any:
        return self._fetch(self._scoped("tool", "State.tool_get", tool, key))

    def tool_set(self, tool: Any = None, key: Any = None, value: Any = None) -> None:
        self._put("State.tool_set", self._scoped("tool", "State.tool_set", tool, key), value)

    # -- backups -----------------------------------------------------------------------

    def create_backup(self, incremental: Any = None, description: Any = None
                      ) -> dict[str, Any]:
        desc = convert.decode(description) if isinstance(description, bytes) else None
        return backup_manager(self._rt).create(bool(incremental), desc)

    def list_backups(self) -> list[dict[str, Any]]:
        return backup_manager(self._rt).list()

    def restore_backup(self, backup_id: Any = None, dry_run: Any = None) -> dict[str, Any]:
        bid = _text(backup_id, "State.restore_backup", 1, "backup id")
        from ..state.backup import BackupError

        try:
            result = backup_manager(self._rt).restore(bid, bool(dry_run))
        except BackupError as exc:
            return {"success": False, "backup_id": bid, "error": str(exc)}
        if self._emit and not dry_run:
            self._changed("*", "restore")
        return result

    def validate_backup(self, backup_id: Any = None) -> dict[str, Any]:
        return backup_manager(self._rt).validate(
            _text(backup_id, "State.validate_backup", 1, "backup id"))

    def get_storage_usage(self) -> dict[str, Any]:
        return backup_manager(self._rt).usage()

    def cleanup_backups(self, dry_run: Any = None) -> dict[str, Any]:
        return backup_manager(self._rt).cleanup(bool(dry_run))

    # -- format migrations -------------------------------------------------------------

    def migrate(self, target: Any = None) -> dict[str, Any]:
        from ..state import migrations

        if isinstance(target, bytes):
            target = convert.decode(target)
        elif target is None or not isinstance(target, int | float):
            raise ApiError("State.migrate: target version (argument #1) must be a string or "
                           f"number, got {convert.describe(target)}")
        settings = self._rt.settings
        backup = None
        if settings.get("runtime.state_persistence.backup_on_migration"):
            def backup(description: str) -> dict[str, Any]:
                return backup_manager(self._rt).create(False, description)
        try:
            return migrations.migrate(
                self._service(), target,
                enabled=bool(settings.get("runtime.state_persistence.migration_enabled")),
                backup=backup)
        except migrations.VersionError as exc:
            raise ApiError(f"State.migrate: {exc}") from None

    def get_migration_status(self) -> dict[str, Any]:
        from ..state import migrations

        return migrations.migration_status(
            self._service(),
            bool(self._rt.settings.get("runtime.state_persistence.migration_enabled")))

    def get_schema_versions(self) -> list[str]:
        from ..state import migrations

        return migrations.schema_versions()


    # -- the converter's fast paths (see install) ----------------------------------------

    def _put_json(self, full: str, raw: bytes, copy: Any) -> None:
        """Store a value Lua wrote as JSON (``Converter.json_setter``): the same text
        ``json.dumps`` gives for what ``_put`` would have converted."""
        text = raw.decode("utf-8", "surrogateescape")
        self._service().set_text(full, text)
        if self._memo:
            self._converter.remember(text, copy)
        if self._emit:
            self._changed(full, "save")

    def _save_json(self, scope: bytes, key: bytes, text: bytes, copy: Any = None) -> None:
        self._put_json(f"{convert.decode(scope)}:{convert.decode(key)}", text, copy)

    def _set_json(self, key: bytes, text: bytes, copy: Any = None) -> None:
        self._put_json("global:" + convert.decode(key), text, copy)

    def _owned_json(self, kind: str) -> Any:
        def put(owner: bytes, key: bytes, text: bytes, copy: Any = None) -> None:
            self._put_json(f"{kind}:{convert.decode(owner)}:{convert.decode(key)}", text,
                           copy)

        return put


class MemoState(StateGlobal):
    """The State loads behind ``Converter.copying_getter``: they answer
    ``Converter.from_json``'s value, so only that getter may call them."""

    def _fetch(self, full: str) -> Any:
        return self._converter.from_json(self._service().get_text(full))


# Whether saves and loads take the converter's fast paths (benchmarks/bench_state.py
# measures the State global with and without each, against the same floor).
FAST_SAVES = True
FAST_LOADS = True


def install(rt: Runtime, table: Any) -> None:
    state = StateGlobal(rt)
    state._service()  # open the store now: a store that cannot be opened fails here
    lua_objects(rt).install(table, state)
    converter = rt.converter
    # the memo pays on the memory backend only: SQLite hands out a fresh text per read,
    # hashed again for every lookup (bench_state.py: about 3% slower there with it)
    if FAST_LOADS and state._service().backend == "memory":
        state._memo = True
        loads = MemoState(rt)
        for name in ("load", "get", "workflow_get", "agent_get", "tool_get"):
            table[name.encode()] = converter.copying_getter(
                rt._protocol(getattr(loads, name), f"State.{name}"))
    if FAST_SAVES:
        for name, fast, strings in (("save", state._save_json, 2),
                                    ("set", state._set_json, 1),
                                    ("agent_set", state._owned_json("agent"), 2),
                                    ("tool_set", state._owned_json("tool"), 2)):
            table[name.encode()] = converter.json_setter(
                rt._protocol(fast, f"State.{name}"), table[name.encode()], strings)
