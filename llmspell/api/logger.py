"""The Logger global: levelled messages to stderr for script authors.

    Logger.info("loaded", {count = 3})   -- [INFO ] [script] loaded {"count":3}
    Logger.setLevel("warn")              -- true; later info/debug messages are dropped

Functions: trace/debug/info/warn/error(message, data?), log(level, message, data?),
setLevel(level) -> bool, getLevel() -> string. Logger shares its level and capture with
Debug (Debug.getCapturedEntries() shows Logger messages too, module "script").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..lua import convert
from .debug import debug_service

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

MODULE = "script"


def install(rt: Runtime, table: Any) -> None:
    svc = debug_service(rt)

    def emit(fn: str, level: str, message: Any, data: Any) -> None:
        if isinstance(message, bytes):
            text = convert.decode(message)
        elif isinstance(message, int | float | bool) or message is None:
            text = str(message).lower() if isinstance(message, bool) else str(message)
        else:
            raise ApiError(f"{fn}: message must be a string, got {convert.describe(message)}")
        try:
            payload = convert.to_python(data) if data is not None else None
        except TypeError as exc:
            raise ApiError(f"{fn}: data is not JSON-convertible: {exc}") from None
        try:
            svc.log(level, text, MODULE, payload)
        except ValueError as exc:
            raise ApiError(f"{fn}: {exc}") from None

    def leveled(level: str) -> Any:
        return lambda message=None, data=None: emit(f"Logger.{level}", level, message, data)

    def log(level: Any = None, message: Any = None, data: Any = None) -> None:
        emit("Logger.log", convert.text_arg(level, "Logger.log", 1, "level string"), message,
             data)

    functions: dict[str, Any] = {
        "log": log,
        "setLevel": lambda level=None: svc.set_level(
            convert.text_arg(level, "Logger.setLevel", 1)),
        "getLevel": lambda: svc.level,
    }
    for level in ("trace", "debug", "info", "warn", "error"):
        functions[level] = leveled(level)
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Logger.{name}")
