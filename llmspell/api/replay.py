"""The Replay global (spec § 17): modes, configs, modifications, schedules, comparator.

    local cfg = Replay.create_config(Replay.modes.modified)
    cfg:add_modification("input.temperature", 0.2)          -- or a create_modification(...)
    cfg:apply({input = {temperature = 0.9}})  --> {input = {temperature = 0.2}}
    Replay.schedules.cron("*/5 * * * *"):next_run()          -- unix seconds
    Replay.create_comparator():compare_json(a, b)            -- {identical, similarity_score,
                                                             --  summary, differences}
Objects are Lua tables with colon methods; the logic lives in ``llmspell/replay.py``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert
from ..replay import MODES, Modification, ReplayConfig, ReplayError, Schedule, compare_json

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def _json(value: Any, fn: str) -> Any:
    try:
        return convert.to_python(value)
    except TypeError as exc:
        raise ApiError(f"{fn}: {exc}") from None


def _number(value: Any, fn: str, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiError(f"{fn}: {what} must be a number, got {convert.describe(value)}")
    return float(value)


def install(rt: Runtime, table: Any) -> None:
    modes: dict[str, Any] = {}
    mode_names: dict[bytes, str] = {}

    for name in MODES:
        obj = rt.object("ReplayMode", {"name": (lambda n: lambda _s=None: n)(name)},
                        fields={"__replay_mode": name})
        modes[name] = obj
    for name in MODES:
        mode_names[convert.encode(name)] = name

    def mode_of(value: Any, fn: str) -> str:
        if value is None:
            return "exact"
        if isinstance(value, bytes) and value in mode_names:
            return mode_names[value]
        if convert.lua_type(value) == "table" and isinstance(value[b"__replay_mode"], bytes):
            return convert.decode(value[b"__replay_mode"])
        raise ApiError(f"{fn}: expected a Replay.modes value (exact, modified, simulate, "
                       f"debug), got {convert.describe(value)}")

    def modification_object(mod: Modification) -> Any:
        def get_value(_s: Any = None) -> Any:
            return mod.value

        def set_enabled(_s: Any = None, flag: Any = None) -> None:
            mod.enabled = bool(flag)

        obj = rt.object("ParameterModification", {
            "get_path": lambda _s=None: mod.path, "get_value": get_value,
            "is_enabled": lambda _s=None: mod.enabled, "set_enabled": set_enabled})
        key = next(counter)
        registry[key] = mod
        obj[b"__mod"] = key
        return obj

    registry: dict[int, Modification] = {}
    counter = itertools.count(1)

    def modification_from(value: Any) -> Modification | None:
        if convert.lua_type(value) == "table" and isinstance(value[b"__mod"], int):
            return registry.get(value[b"__mod"])
        return None

    def create_modification(path: Any = None, value: Any = None, enabled: Any = None) -> Any:
        fn = "Replay.create_modification"
        mod = Modification(convert.text_arg(path, fn, 1), _json(value, fn),
                           enabled is not False)
        return modification_object(mod)

    def create_config(mode: Any = None) -> Any:
        fn = "Replay.create_config"
        cfg = ReplayConfig(mode=mode_of(mode, fn))

        def add_modification(_s: Any = None, path: Any = None, value: Any = None,
                             enabled: Any = None) -> None:
            existing = modification_from(path)
            if existing is not None:
                cfg.modifications.append(existing)
                return
            label = "ReplayConfig:add_modification"
            cfg.modifications.append(Modification(convert.text_arg(path, label, 1),
                                                  _json(value, label), enabled is not False))

        def set_mode(_s: Any = None, value: Any = None) -> None:
            cfg.mode = mode_of(value, "ReplayConfig:set_mode")

        def set_timeout(_s: Any = None, value: Any = None) -> None:
            cfg.timeout_seconds = _number(value, "ReplayConfig:set_timeout_seconds", "timeout")

        def apply(_s: Any = None, value: Any = None) -> Any:
            try:
                return cfg.apply(_json(value, "ReplayConfig:apply"))
            except ReplayError as exc:
                raise ApiError(f"ReplayConfig:apply: {exc}") from None

        def timeout_seconds(_s: Any = None) -> Any:
            t = cfg.timeout_seconds
            return int(t) if float(t).is_integer() else t

        return rt.object("ReplayConfig", {
            "get_mode": lambda _s=None: modes[cfg.mode],
            "should_compare_results": lambda _s=None: cfg.compare_results,
            "get_timeout_seconds": timeout_seconds,
            "should_stop_on_error": lambda _s=None: cfg.stop_on_error,
            "get_modifications": lambda _s=None: [modification_object(m)
                                                  for m in cfg.modifications],
            "add_modification": add_modification,
            "set_mode": set_mode,
            "set_compare_results": lambda _s=None, v=None: setattr(
                cfg, "compare_results", bool(v)),
            "set_timeout_seconds": set_timeout,
            "set_stop_on_error": lambda _s=None, v=None: setattr(cfg, "stop_on_error", bool(v)),
            "apply": apply,
        })

    def schedule_object(schedule: Schedule) -> Any:
        def next_run(_s: Any = None, after: Any = None, executed: Any = None) -> Any:
            base = None if after is None else _number(after, "ReplaySchedule:next_run", "after")
            count = int(executed) if isinstance(executed, int | float) else 0
            return schedule.next_run(base, count)

        return rt.object("ReplaySchedule", {
            "type_name": lambda _s=None: schedule.kind, "next_run": next_run,
            "expression": lambda _s=None: schedule.expression})

    def make_schedule(**kw: Any) -> Any:
        try:
            return schedule_object(Schedule(**kw))
        except ReplayError as exc:
            raise ApiError(f"Replay.schedules.{kw['kind']}: {exc}") from None

    def once(delay: Any = None) -> Any:
        return make_schedule(kind="once", delay=_number(delay, "Replay.schedules.once",
                                                         "delay_seconds"))

    def interval(initial: Any = None, every: Any = None, max_executions: Any = None) -> Any:
        fn = "Replay.schedules.interval"
        return make_schedule(kind="interval", delay=_number(initial, fn, "initial_delay"),
                             interval=_number(every, fn, "interval"),
                             max_executions=int(max_executions)
                             if isinstance(max_executions, int | float) else None)

    def cron(expr: Any = None) -> Any:
        return make_schedule(kind="cron",
                             expression=convert.text_arg(expr, "Replay.schedules.cron", 1))

    def create_comparator() -> Any:
        def compare(_s: Any = None, a: Any = None, b: Any = None) -> dict[str, Any]:
            label = "ReplayComparator:compare_json"
            return compare_json(_json(a, label), _json(b, label))

        return rt.object("HookResultComparator", {"compare_json": compare})

    table[b"modes"] = rt.table(modes)
    table[b"create_config"] = rt.function(create_config, "Replay.create_config")
    table[b"create_modification"] = rt.function(create_modification,
                                                "Replay.create_modification")
    table[b"schedules"] = rt.table({
        "once": rt.function(once, "Replay.schedules.once"),
        "interval": rt.function(interval, "Replay.schedules.interval"),
        "cron": rt.function(cron, "Replay.schedules.cron")})
    table[b"create_comparator"] = rt.function(create_comparator, "Replay.create_comparator")
