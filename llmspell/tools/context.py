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
                 remaining: Callable[[], float | None] | None = None,
                 stopped: Callable[[], bool] | None = None) -> None:
        if settings is None:
            from ..config import from_dict

            settings = from_dict({}, environ={})
        self.settings = settings
        self._remaining = remaining
        # True once the run must stop (Ctrl-C, deadline): long waits poll it
        self.stopped: Callable[[], bool] = stopped or (lambda: False)

    def get(self, path: str) -> Any:
        """A setting (see ``Settings.get``: a path the schema declares; its default there)."""
        return self.settings.get(path)

    @cached_property
    def guard(self) -> PathGuard:
        source = self.settings.source
        trusted = getattr(self.settings, "grants_rights", True)
        own = [str(source)] if source is not None and trusted else []
        return PathGuard(self.get("tools.file_operations.allowed_paths"),
                         int(self.get("tools.file_operations.max_file_size")),
                         protected=own)

    @cached_property
    def net(self) -> NetPolicy:
        from .net import NetPolicy

        return NetPolicy(
            allow_private=bool(self.get("tools.network.allow_private_addresses")),
            timeout=float(self.get("tools.network.timeout_seconds")),
            max_bytes=int(self.get("tools.network.max_response_bytes")),
            verify=bool(self.get("tools.network.verify_ssl")),
            max_redirects=int(self.get("tools.network.max_redirects")),
            time_left=self.timeout)

    def timeout(self, seconds: float) -> float:
        """``seconds`` bounded by the time the script has left (at least 0.1 s)."""
        left = self._remaining() if self._remaining is not None else None
        if left is None:
            return seconds
        return max(0.1, min(seconds, left))
