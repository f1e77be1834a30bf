"""What a tool may use while it runs: settings, the path guard, network policy, time."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .paths import PathGuard

if TYPE_CHECKING:
    from ..config import Settings
    from .net import NetPolicy


class ToolContext:
    def __init__(self, settings: Settings | None = None,
                 remaining: Callable[[], float | None] | None = None) -> None:
        if settings is None:
            from ..config import from_dict

            settings = from_dict({}, environ={})
        self.settings = settings
        self._remaining = remaining

    def get(self, path: str, default: Any = None) -> Any:
        value = self.settings.get(path)
        return default if value is None else value

    @cached_property
    def guard(self) -> PathGuard:
        source = self.settings.source
        trusted = getattr(self.settings, "grants_rights", True)
        own = [str(source)] if source is not None and trusted else []
        return PathGuard(self.get("tools.file_operations.allowed_paths", ["/tmp"]),
                         int(self.get("tools.file_operations.max_file_size", 50 * 2**20)),
                         protected=own)

    @cached_property
    def net(self) -> NetPolicy:
        from .net import NetPolicy

        return NetPolicy.from_settings(self)

    def timeout(self, seconds: float) -> float:
        """``seconds`` bounded by the time the script has left (at least 0.1 s)."""
        left = self._remaining() if self._remaining is not None else None
        if left is None:
            return seconds
        return max(0.1, min(seconds, left))
