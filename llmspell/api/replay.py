"""The Replay global (spec § 17): modes, configs, modifications, schedules, comparator.

    local cfg = Replay.create_config(Replay.modes.modified)
    cfg:add_modification("input.temperature", 0.2)          -- or a create_modification(...)
    cfg:apply({input = {temperature = 0.9}})  --> {input = {temperature = 0.2}}
    Replay.schedules.cron("*/5 * * * *"):next_run()          -- unix seconds
    Replay.create_comparator():compare_json(a, b)            -- {identical, similarity_score,
                                                             --  summary, differences}
Objects are ``lua/objects.py`` classes (colon methods); the logic lives in
``llmspell/replay.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import args
from ..lua.objects import LuaObject, lua_objects
from ..replay import MODES, Modification, ReplayConfig, ReplayError, Schedule, compare_json

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


class ReplayMode(LuaObject):
    """One of ``Replay.modes``: ``Replay.modes.exact:name() == "exact"``."""

    lua_name = "ReplayMode"

    def __init__(self, mode: str) -> None:
        self._mode = mode

    def name(self) -> str:
        return self._mode


class ParameterModification(LuaObject):
    """What ``Replay.create_modification`` returns (and ``cfg:get_modifications()`` lists)."""

    lua_name = "ParameterModification"

    def __init__(self, mod: Modification) -> None:
        self.mod = mod

    def get_path(self) -> str:
        return self.mod.path

    def get_value(self) -> Any:
        return self.mod.value

    def is_enabled(self) -> bool:
        return self.mod.enabled

    def set_enabled(self, flag: Any = None) -> None:
        self.mod.enabled = bool(flag)


class ConfigObject(LuaObject):
    """What ``Replay.create_config(mode)`` returns: a ``llmspell.replay.ReplayConfig``."""

    lua_name = "ReplayConfig"

    def __init__(self, replay: ReplayGlobal, cfg: ReplayConfig) -> None:
        self._replay = replay
        self._cfg = cfg

    def get_mode(self) -> ReplayMode:
        return self._replay.modes[self._cfg.mode]

    def should_compare_results(self) -> bool:
        return self._cfg.compare_results

    def get_timeout_seconds(self) -> int | float:
        t = self._cfg.timeout_seconds
        return int(t) if float(t).is_integer() else t

    def should_stop_on_error(self) -> bool:
        return self._cfg.stop_on_error

    def get_modifications(self) -> list[ParameterModification]:
        return [self._replay._modification(m) for m in self._cfg.modifications]

    def add_modification(self, path: Any = None, value: Any = None,
                         enabled: Any = None) -> None:
        """``(path, value, enabled?)``, or a ParameterModification object."""
        existing = lua_objects(self._replay.rt).find(path, ParameterModification)
        if existing is not None:
            self._cfg.modifications.append(existing.mod)
            return
        fn = "ReplayConfig:add_modification"
        self._cfg.modifications.append(Modification(args.text(path, fn, 1, name="path"),
                                                    args.data(value, fn), enabled is not False))

    def set_mode(self, value: Any = None) -> None:
        self._cfg.mode = self._replay._mode_of(value, "ReplayConfig:set_mode")

    def set_compare_results(self, flag: Any = None) -> None:
        self._cfg.compare_results = bool(flag)

    def set_timeout_seconds(self, value: Any = None) -> None:
        self._cfg.timeout_seconds = float(
            args.number(value, "ReplayConfig:set_timeout_seconds", 1, name="timeout"))

    def set_stop_on_error(self, flag: Any = None) -> None:
        self._cfg.stop_on_error = bool(flag)

    def apply(self, value: Any = None) -> Any:
        try:
            return self._cfg.apply(args.data(value, "ReplayConfig:apply"))
        except ReplayError as exc:
            raise ApiError(f"ReplayConfig:apply: {exc}") from None


class ScheduleObject(LuaObject):
    """What ``Replay.schedules.once/interval/cron`` return."""

    lua_name = "ReplaySchedule"

    def __init__(self, schedule: Schedule) -> None:
        self._schedule = schedule

    def type_name(self) -> str:
        return self._schedule.kind

    def expression(self) -> str | None:
        return self._schedule.expression

    def next_run(self, after: Any = None, executed: Any = None) -> Any:
        base = args.optional_number(after, "ReplaySchedule:next_run", 1, name="after")
        count = int(executed) if isinstance(executed, int | float) else 0
        return self._schedule.next_run(None if base is None else float(base), count)


class Comparator(LuaObject):
    """What ``Replay.create_comparator()`` returns."""

    lua_name = "HookResultComparator"

    def compare_json(self, a: Any = None, b: Any = None) -> dict[str, Any]:
        fn = "ReplayComparator:compare_json"
        return compare_json(args.data(a, fn), args.data(b, fn))


class Schedules(LuaObject):
    """The ``Replay.schedules`` table."""

    lua_name = "Replay.schedules"

    def _make(self, **kw: Any) -> ScheduleObject:
        try:
            return ScheduleObject(Schedule(**kw))
        except ReplayError as exc:
            raise ApiError(f"Replay.schedules.{kw['kind']}: {exc}") from None

    def once(self, delay: Any = None) -> ScheduleObject:
        seconds = args.number(delay, "Replay.schedules.once", 1, name="delay_seconds")
        return self._make(kind="once", delay=float(seconds))

    def interval(self, initial: Any = None, every: Any = None,
                 max_executions: Any = None) -> ScheduleObject:
        fn = "Replay.schedules.interval"
        first = float(args.number(initial, fn, 1, name="initial_delay"))
        period = float(args.number(every, fn, 2, name="interval"))
        cap = int(max_executions) if isinstance(max_executions, int | float) else None
        return self._make(kind="interval", delay=first, interval=period, max_executions=cap)

    def cron(self, expr: Any = None) -> ScheduleObject:
        return self._make(kind="cron", expression=args.text(expr, "Replay.schedules.cron", 1))


class ReplayGlobal(LuaObject):
    """The ``Replay`` table: its methods are the dot-call functions; ``modes`` and
    ``schedules`` are sub-tables."""

    lua_name = "Replay"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.modes = {name: ReplayMode(name) for name in MODES}
        self._modifications: dict[int, ParameterModification] = {}

    def _mode_of(self, value: Any, fn: str) -> str:
        """A mode argument: nil (exact), a mode name, or one of ``Replay.modes``."""
        if value is None:
            return "exact"
        if isinstance(value, bytes) and args.text(value, fn) in self.modes:
            return args.text(value, fn)
        found = lua_objects(self.rt).find(value, ReplayMode)
        if found is not None:
            return found.name()
        raise ApiError(f"{fn}: expected a Replay.modes value (exact, modified, simulate, "
                       f"debug), got {args.describe(value)}")

    def _modification(self, mod: Modification) -> ParameterModification:
        """The one Lua object for ``mod``."""
        found = self._modifications.get(id(mod))
        if found is None:
            found = self._modifications[id(mod)] = ParameterModification(mod)
        return found

    def create_config(self, mode: Any = None) -> ConfigObject:
        return ConfigObject(self, ReplayConfig(mode=self._mode_of(mode, "Replay.create_config")))

    def create_modification(self, path: Any = None, value: Any = None,
                            enabled: Any = None) -> ParameterModification:
        fn = "Replay.create_modification"
        mod = Modification(args.text(path, fn, 1, name="path"), args.data(value, fn),
                           enabled is not False)
        return self._modification(mod)

    def create_comparator(self) -> Comparator:
        return Comparator()


def install(rt: Runtime, table: Any) -> None:
    objects = lua_objects(rt)
    replay = ReplayGlobal(rt)
    objects.install(table, replay)
    table[b"modes"] = rt.table({name: objects.new(mode) for name, mode in replay.modes.items()})
    schedules = rt.table({})
    objects.install(schedules, Schedules())
    table[b"schedules"] = schedules
