"""Which globals a script sees, and their lazy installation.

Each entry names a global, the adapter module whose ``install(rt, table)`` fills it,
and the condition under which it exists (upstream injects Session/Artifact/RAG only
when enabled). Nothing is imported until a script first touches the global.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from ..config import Settings


class Runtime(Protocol):
    """What installing globals needs of ``lua.runtime.Runtime`` (named here, not
    imported: the runtime imports this module, so importing it back would be a circle)."""

    settings: Settings
    lua: Any

    def lazy_global(self, name: str, install: Callable[[Any], None]) -> None: ...


def _always(settings: Settings) -> bool:
    return True


def _rag_enabled(settings: Settings) -> bool:
    return bool(settings.get("rag.enabled"))


def _sessions_enabled(settings: Settings) -> bool:
    return bool(settings.get("runtime.sessions.enabled") or settings.get("rag.enabled"))


GLOBALS: list[tuple[str, str, Callable[[Settings], bool]]] = [
    ("JSON", "llmspell.api.json_api", _always),
    ("Debug", "llmspell.api.debug", _always),
    ("Config", "llmspell.api.config_api", _always),
    ("Logger", "llmspell.api.logger", _always),
    ("Utils", "llmspell.api.utils", _always),
    ("RAG", "llmspell.api.rag", _rag_enabled),
    ("State", "llmspell.api.state", _always),
    ("Session", "llmspell.api.session", _sessions_enabled),
    ("Artifact", "llmspell.api.artifact", _sessions_enabled),
    ("Tool", "llmspell.api.tool", _always),
    ("Agent", "llmspell.api.agent", _always),
    ("Provider", "llmspell.api.provider", _always),
    ("Event", "llmspell.api.event", _always),
    ("Hook", "llmspell.api.hook", _always),
    ("Workflow", "llmspell.api.workflow", _always),
    ("Streaming", "llmspell.api.streaming", _always),
    ("Replay", "llmspell.api.replay", _always),
]


def _installer(rt: Runtime, module: str) -> Callable[[Any], None]:
    def install(table: Any) -> None:
        importlib.import_module(module).install(rt, table)

    return install


def install_globals(rt: Runtime, script_args: dict[str, str] | None) -> None:
    for name, module, present in GLOBALS:
        if present(rt.settings):
            rt.lazy_global(name, _installer(rt, module))
    if script_args is not None:
        install_args(rt, script_args)


def install_args(rt: Runtime, script_args: dict[str, str]) -> None:
    """ARGS: integer-like keys under integer indices, the rest by name; arg: integers only."""
    args_table = rt.lua.table()
    arg_table = rt.lua.table()
    for key, value in script_args.items():
        raw = value.encode("utf-8", "surrogateescape")
        if key.lstrip("-").isdigit():
            args_table[int(key)] = raw
            arg_table[int(key)] = raw
        else:
            args_table[key.encode("utf-8", "surrogateescape")] = raw
    rt.lua.globals()[b"ARGS"] = args_table
    rt.lua.globals()[b"arg"] = arg_table


def parse_script_args(script: str, tokens: list[str]) -> dict[str, str]:
    """Upstream's rules: `--name value`, `--flag` (-> "true"), bare words positional."""
    out: dict[str, str] = {"0": script}
    position = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            name = token[2:]
            if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                out[name] = tokens[i + 1]
                i += 2
                continue
            out[name] = "true"
        else:
            position += 1
            out[str(position)] = token
        i += 1
    return out
