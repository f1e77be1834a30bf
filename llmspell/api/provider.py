"""The Provider global (spec §14): list, get, getCapabilities, isAvailable.

Lists the providers the config declares (``[providers.<name>]`` or
``[providers.providers.<name>]``); no network call is made here (``llmspell providers``
checks reachability).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime


def install(rt: Runtime, table: Any) -> None:
    from .agent import provider_manager

    manager = provider_manager(rt)

    def list_providers() -> Any:
        return [manager.describe(name) for name in manager.configured()]

    def get(name: Any = None) -> Any:
        return manager.describe(convert.text_arg(name, "Provider.get", 1), models=False)

    def capabilities(name: Any = None) -> Any:
        info = manager.describe(convert.text_arg(name, "Provider.getCapabilities", 1))
        return info.get("capabilities") if info else None

    def available(name: Any = None) -> bool:
        if not isinstance(name, bytes):
            return False
        info = manager.describe(convert.decode(name), models=False)
        return bool(info and info.get("enabled"))

    table[b"list"] = rt.function(list_providers, "Provider.list")
    table[b"get"] = rt.function(get, "Provider.get")
    table[b"getCapabilities"] = rt.function(capabilities, "Provider.getCapabilities")
    table[b"isAvailable"] = rt.function(available, "Provider.isAvailable")
