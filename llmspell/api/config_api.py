"""The Config global: read-only views of the loaded configuration (spec § 13).

Secrets never reach scripts, whatever the getter and at any depth: a value whose key (or
any key above it) is a secret name (``secret_filter.is_secret_name``: ``*key*``,
``*token*``, ``*secret*``, ``*password*``...) reads as "***", credentials inside URLs
are hidden and known secret values are replaced. The mutators upstream gates behind
permissions exist and always refuse: scripts cannot change the config.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .. import secret_filter
from ..errors import ApiError
from ..lua import convert

if TYPE_CHECKING:
    from ..lua.runtime import Runtime

def redact(node: Any, hidden: bool = False, values: set[str] | None = None) -> Any:
    """A copy of ``node`` safe for a script; ``hidden``: it sits under a secret name."""
    if values is None:
        values = secret_filter.secret_values()
    if isinstance(node, dict):
        return {k: redact(v, hidden or secret_filter.is_secret_name(str(k)), values)
                for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [redact(v, hidden, values) for v in node]
    if hidden and node not in (None, "") and not isinstance(node, bool):
        return secret_filter.MASK
    if isinstance(node, str):
        return secret_filter.redact_text(node, values)
    return node


def _under_secret(path: str) -> bool:
    return any(secret_filter.is_secret_name(part) for part in path.split("."))


def install(rt: Runtime, table: Any) -> None:
    settings = rt.settings

    def view(path: str) -> Any:
        return redact(copy.deepcopy(settings.lookup(path)), _under_secret(path))

    def get_provider(name: Any = None) -> Any:
        key = convert.text_arg(name, "Config.getProvider", 1)
        entry = settings.providers.get(key)
        return redact(copy.deepcopy(entry)) if entry is not None else None

    def get_section(name: Any = None) -> Any:
        return view(convert.text_arg(name, "Config.getSection", 1))

    def get(path: Any = None) -> Any:
        if path is None:
            return redact(copy.deepcopy(settings.data))
        return view(convert.text_arg(path, "Config.get", 1))

    def permissions() -> dict[str, Any]:
        return {"read": True, "modify_providers": False, "modify_tools": False,
                "modify_runtime": False, "modify_security": False, "access_secrets": False}

    def refuse(name: str) -> Any:
        def fn(*_args: Any) -> None:
            raise ApiError(f"Config.{name}: not permitted (the configuration is read-only "
                           "for scripts; edit the TOML file instead)")
        return fn

    functions: dict[str, Any] = {
        "get": get,
        "getDefaultEngine": lambda: settings.get("default_engine"),
        "getProvider": get_provider,
        "listProviders": lambda: sorted(settings.providers),
        "getSecurity": lambda: view("runtime.security"),
        "getTools": lambda: view("tools"),
        "getSection": get_section,
        "isFileAccessAllowed": lambda: bool(settings.get("runtime.security.allow_file_access")),
        "isNetworkAccessAllowed": lambda: bool(
            settings.get("runtime.security.allow_network_access")),
        "getPermissions": permissions,
        "getSource": lambda: str(settings.source) if settings.source else None,
    }
    for name in ("addAllowedPath", "setProvider", "setSecurity", "snapshot", "restoreSnapshot"):
        functions[name] = refuse(name)
    for name, fn in functions.items():
        table[convert.encode(name)] = rt.function(fn, f"Config.{name}")
