"""What every command and sub-app shares: the global options, settings, the error exit.

The root app (`main.py`) declares the global options once, in its callback, and keeps the
parsed values on the root context as an `Options`; a command anywhere in the tree reads
them with `options(ctx)`. Sub-apps (`backup.py`, `tools.py`) import this module and never
`main.py`: the root imports them and calls `add_typer`, so there is no import circle.

Only typer is imported at start-up; config, output and the services load on first use.
No `from __future__ import annotations`: typer evaluates these annotations itself.
"""


from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import LLMSpellError
from .execute import Options, load_settings, report_failure

__all__ = ["Options", "load_settings", "report_failure"]  # re-exported for the commands

if TYPE_CHECKING:
    from ..config import Settings


class OutputMode(StrEnum):
    text = "text"
    json = "json"
    pretty = "pretty"


class Engine(StrEnum):
    lua = "lua"
    javascript = "javascript"
    python = "python"


# The global options, declared once; the root callback in main.py takes them.
ConfigOpt = Annotated[Path | None, typer.Option(
    "-c", "--config", envvar="LLMSPELL_CONFIG", help="Config file (TOML).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Python tracebacks and debug logging.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="More logging on stderr.")]
OutputOpt = Annotated[OutputMode, typer.Option("--output", help="Result format.")]
NoLogOpt = Annotated[bool, typer.Option("--no-log", help="Do not log model calls "
                                                          "(see `llmspell logs`).")]
EngineOpt = Annotated[Engine, typer.Option("--engine", envvar="LLMSPELL_ENGINE",
                                           help="Script engine (only lua is available).")]


def options(ctx: typer.Context) -> Options:
    """The global options, as the root callback parsed them (defaults if it did not run,
    as when a sub-app is invoked on its own)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Options) else Options()


def fail(exc: BaseException, opts: Options) -> typer.Exit:
    """Report an error the way the CLI always does: one line (+ Lua traceback), exit 1.

    Returns the `typer.Exit` for the caller to raise (`raise fail(exc, opts) from None`);
    with `--debug`, an error that is not ours is re-raised for the full traceback.
    """
    return typer.Exit(report_failure(exc, opts))


def load_settings_or_exit(opts: Options) -> "Settings":
    """`load_settings`, with a config error reported and the command ended (exit 1)."""
    try:
        return load_settings(opts)
    except LLMSpellError as exc:
        raise fail(exc, opts) from None


def echo_json(data: Any) -> None:
    """A command's result for `--output json`: one indented document, keys sorted."""
    from ..jsonutil import dumps_pretty

    typer.echo(dumps_pretty(data))
