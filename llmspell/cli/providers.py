"""`llmspell providers`: the configured providers and every built-in provider type, where
the key each would send comes from (never the key), and whether its endpoint answers.

A provider counts as *set up* when the config has a table for it or a key is found for it
(environment, keys file). The command exits 1 when a provider the config names does not
answer, so ``llmspell providers && llmspell run ...`` stops early; a built-in type that is
only set up by a key in the environment is reported but does not fail the command (an
offline machine with OPENAI_API_KEY set is not an error). No ``from __future__ import
annotations`` (typer).
"""


from typing import TYPE_CHECKING, Any

import typer

from .common import Options, echo_json

if TYPE_CHECKING:
    from ..config import Settings

REACHABLE = "reachable"


def provider_names(settings: "Settings") -> list[str]:
    """The configured names first (in config order), then the built-in types not named."""
    from ..providers.registry import TYPES

    names = list(settings.providers)
    return names + [t for t in TYPES if t not in settings.providers]


def key_source(settings: "Settings", name: str) -> tuple[str, bool]:
    """Where the key a provider would send comes from (``env OPENAI_API_KEY``,
    ``keys file (openai)``, ``config``, ...; ``none``), never the key itself; and whether
    one was found."""
    from ..providers import ProviderError, resolve

    entry = settings.providers.get(name) or {}
    try:
        info = resolve(settings, name)
    except ProviderError:
        info = None
    if info is not None and info.key_source:
        withheld = " (withheld: base_url is not one you configured)" if info.key_withheld \
            else ""
        return info.key_source + withheld, True
    if entry.get("api_key_env"):
        return f"env {entry['api_key_env']} (unset)", False
    if info is not None and not info.needs_key:
        return "none (not needed)", False
    return "none", False


def _row(settings: "Settings", name: str, detailed: bool) -> dict[str, Any]:
    from ..providers.registry import provider_type

    entry = settings.providers.get(name)
    key, found = key_source(settings, name)
    row: dict[str, Any] = {
        "name": name, "type": provider_type(settings, name),
        "model": (entry or {}).get("default_model"), "enabled": (entry or {}).get("enabled", True),
        "base_url": (entry or {}).get("base_url"), "key": key,
        "configured": entry is not None or found, "in_config": entry is not None,
    }
    if detailed:
        row["options"] = (entry or {}).get("options", {})
    return row


def _checkable(settings: "Settings", row: dict[str, Any]) -> bool:
    """Not an unconfigured ``openai_compatible`` (it has no URL to ask)."""
    return row["configured"] or row["type"] != "openai_compatible"


def _failed(row: dict[str, Any]) -> bool:
    return bool(row["in_config"] and row["enabled"] and "status" in row
                and row["status"] not in (REACHABLE, "disabled"))


def show_providers(opts: Options, settings: "Settings", *, detailed: bool, check: bool,
                   timeout: float) -> int:
    """Print the table (text or JSON); the exit status (1: a set-up provider is down)."""
    rows = [_row(settings, name, detailed) for name in provider_names(settings)]
    if check:
        from ..providers import check_reachable

        names = [r["name"] for r in rows if _checkable(settings, r)]
        checks = check_reachable(settings, names, timeout=timeout)
        for row in rows:
            if row["name"] in checks:
                row["endpoint"] = checks[row["name"]]["endpoint"]
                row["status"] = checks[row["name"]]["status"]
    if opts.output == "json":
        echo_json(rows)
    else:
        for row in rows:
            typer.echo(_line(row))
    down = [r["name"] for r in rows if _failed(r)]
    if down:
        from .output import print_error

        print_error(f"{len(down)} provider{'' if len(down) == 1 else 's'} set up but not "
                    f"answering: {', '.join(down)}")
        return 1
    return 0


def _line(row: dict[str, Any]) -> str:
    text = (f"{row['name']}: type={row['type']} model={row['model'] or '-'} key={row['key']}"
            + (f" base_url={row['base_url']}" if row["base_url"] else "")
            + ("" if row["configured"] else " (not set up)"))
    if "status" in row:
        text += f" endpoint={row['endpoint']} status={row['status']}"
    return text
