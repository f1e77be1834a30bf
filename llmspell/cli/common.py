"""What every command and sub-app shares: the global options, settings, the error exit.

The root app (`main.py`) declares the global options once, in its callback, and keeps the
parsed values on the root context as an `Options`; a command anywhere in the tree reads
them with `options(ctx)`. Sub-apps (`backup.py`, `tools.py`) import this module and never
`main.py`: the root imports them and calls `add_typer`, so there is no import circle.

Only typer is imported at start-up; config, output and the services load on first use.
No `from __future__ import annotations`: typer evaluates these annotations itself.
"""


from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import LLMSpellError, ScriptError

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


@dataclass
class Options:
    """The global options of one invocation (the defaults are the flags' defaults)."""

    config: Path | None = None
    debug: bool = False
    verbose: bool = False
    output: str = OutputMode.text.value
    engine: str = Engine.lua.value
    no_log: bool = False  # --no-log: no model-call log for this invocation


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
    from .output import print_error

    if opts.debug and not isinstance(exc, LLMSpellError):
        raise exc
    detail = exc.traceback if isinstance(exc, ScriptError) else ""
    if opts.debug and isinstance(exc, LLMSpellError) and exc.__cause__ is not None:
        import traceback

        detail = (detail + "\n" + "".join(traceback.format_exception(exc.__cause__))).strip()
    print_error(str(exc), detail)
    return typer.Exit(getattr(exc, "exit_code", 1))


def load_settings(opts: Options,
                  adjust: Callable[["Settings"], None] | None = None) -> "Settings":
    """The settings for this invocation: `--config` (or the discovered file), `-v`/`--debug`
    raise the log level, `adjust` applies a command's own flags; then the config's
    warnings are printed. Raises `LLMSpellError` (see `load_settings_or_exit`)."""
    from .. import config as config_mod
    from .. import keys
    from .output import print_warning

    if opts.engine != "lua":
        raise LLMSpellError(f"Engine '{opts.engine}' is not available: only 'lua' is built in")
    settings = config_mod.load(opts.config)
    keys.register_stored()  # stored API keys are hidden from every text a script sees
    if opts.verbose or opts.debug:
        settings.set("runtime.log_level", "debug")
    if adjust is not None:
        adjust(settings)
    for warning in settings.warnings:
        print_warning(warning)
    return settings


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
