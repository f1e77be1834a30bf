"""The `llmspell` command line (spec § 21): the root typer app, its global options and the
top-level commands. Each command parses flags and calls one function. The shared pieces
(options, settings, the error exit) are in `common.py`; the sub-apps (`backup.py`,
`tools.py`) import only those, and this module adds them with `add_typer`.

Kept light: only typer is imported at start-up; the Lua runtime, rich and every service
load when a command needs them. No `from __future__ import annotations` in modules that
define typer commands: typer would eval every annotation string at each start.
"""


import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import __version__
from ..errors import LLMSpellError
from .backup import backup_app
from .common import (
    ConfigOpt,
    DebugOpt,
    Engine,
    EngineOpt,
    NoLogOpt,
    Options,
    OutputMode,
    OutputOpt,
    VerboseOpt,
    echo_json,
    fail,
    load_settings_or_exit,
    options,
)
from .db import db_app
from .execute import LLMFlags, RagFlags, Script, read_stdin
from .execute import execute as _execute
from .group import RootGroup, RunCommand
from .keys import keys_app
from .logs import logs_app
from .store import store_app
from .tools import tools_app

if TYPE_CHECKING:
    pass

app = typer.Typer(
    cls=RootGroup,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Run Lua scripts with AI building blocks: Agent, Tool, Workflow, State, RAG ...\n\n"
         "The global options may also follow the command (llmspell run x.lua --debug). "
         "`llmspell FILE.lua ARGS...` runs a script (what a `#!/usr/bin/env llmspell` "
         "line does): every word after the file is the script's.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmspell {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    ctx: typer.Context,
    config: ConfigOpt = None,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
    output: OutputOpt = OutputMode.text,
    engine: EngineOpt = Engine.lua,
    no_log: NoLogOpt = False,
    version: bool = typer.Option(False, "-V", "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    ctx.obj = Options(config=config, debug=debug, verbose=verbose, output=output.value,
                      engine=engine.value, no_log=no_log)


# Options shared by `run` and `exec`.
TimeoutOpt = Annotated[float | None, typer.Option(
    "--timeout", help="Stop the script after this many seconds.")]
StreamOpt = Annotated[bool, typer.Option(
    "--stream", help="Show agent replies as they arrive, where print output goes.")]
RagOpt = Annotated[bool, typer.Option("--rag", help="Enable RAG for this run.")]
NoRagOpt = Annotated[bool, typer.Option("--no-rag", help="Disable RAG for this run.")]
RagConfigOpt = Annotated[Path | None, typer.Option("--rag-config",
                                                   help="Take [rag] from FILE.")]
RagDimsOpt = Annotated[int | None, typer.Option("--rag-dims", help="Vector dimensions.")]
RagBackendOpt = Annotated[str | None, typer.Option("--rag-backend",
                                                   help="hnsw or postgres.")]
RecordOpt = Annotated[Path | None, typer.Option(
    "--record", help="Record every LLM provider exchange to FILE (no keys written).")]
PlaybackOpt = Annotated[Path | None, typer.Option(
    "--playback", envvar="LLMSPELL_PLAYBACK",
    help="Answer LLM calls from a cassette FILE recorded with --record (no network).")]
UsageOpt = Annotated[bool, typer.Option("--usage", help="Print token usage to stderr.")]


def _run_options(
    timeout: TimeoutOpt = None,
    stream: StreamOpt = False,
    rag: RagOpt = False,
    no_rag: NoRagOpt = False,
    rag_config: RagConfigOpt = None,
    rag_dims: RagDimsOpt = None,
    rag_backend: RagBackendOpt = None,
    record: RecordOpt = None,
    playback: PlaybackOpt = None,
    usage: UsageOpt = False,
) -> None:
    """The options `run` and `exec` share, declared once (``runs_a_script`` reads them)."""


_RUN_OPTIONS = list(inspect.signature(_run_options).parameters.values())


def runs_a_script(choose: Callable[..., Script]) -> Callable[..., None]:
    """A command that runs the script ``choose(...)`` picks from the command's own
    arguments, with the options of ``_run_options`` after them (typer reads the signature
    set here)."""
    shared = [p.name for p in _RUN_OPTIONS]

    def command(ctx: typer.Context, **params: Any) -> None:
        opts = options(ctx)
        o = {name: params.pop(name) for name in shared}
        try:
            chosen = choose(**params)
        except LLMSpellError as exc:
            raise fail(exc, opts) from None
        _execute(opts, RagFlags(o["rag"], o["no_rag"], o["rag_config"], o["rag_dims"],
                                o["rag_backend"]),
                 chosen, timeout=o["timeout"], llm=LLMFlags(o["record"], o["playback"],
                                                            o["usage"]),
                 stream_replies=o["stream"])

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  annotation=typer.Context)
    params = [ctx_param, *inspect.signature(choose).parameters.values(), *_RUN_OPTIONS]
    functools.update_wrapper(command, choose)
    command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


@app.command(cls=RunCommand)
@runs_a_script
def run(
    script: str = typer.Argument(..., help="The Lua script to run (- reads it from stdin)."),
    args: list[str] | None = typer.Argument(
        None, help="Script arguments; options for the script go after --."),
) -> Script:
    """Run a Lua script: llmspell run script.lua -- pos1 --name value.

    llmspell's own options may come anywhere before --; everything after -- goes to the
    script (ARGS/arg). `llmspell script.lua ARGS...` is short for
    `llmspell run script.lua -- ARGS...`.
    """
    return Script.named(script, args)


@app.command("exec")
@runs_a_script
def exec_(
    code: str = typer.Argument(..., help="Lua code to run (- reads it from stdin)."),
) -> Script:
    """Run inline Lua code: llmspell exec 'print(1 + 1)'."""
    source = read_stdin() if code == "-" else code.encode("utf-8", "surrogateescape")
    return Script("exec", source=source)


@app.command()
def validate(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "-c", "--config", help="Config file to check."),
) -> None:
    """Load and validate a config file (or the discovered one)."""
    opts = options(ctx)
    if config is not None:
        opts.config = config
    settings = load_settings_or_exit(opts)
    where = str(settings.source) if settings.source else "built-in defaults"
    if opts.output == "json":
        echo_json({"valid": True, "source": where, "warnings": settings.warnings})
    else:
        typer.echo(f"Configuration is valid: {where}")


@app.command()
def info(ctx: typer.Context,
         all_: bool = typer.Option(False, "--all", help="Show everything.")) -> None:
    """Engine and environment information."""
    import platform

    import lupa
    from lupa import luajit21

    from .. import paths
    from ..lua.globals import GLOBALS

    opts = options(ctx)
    lua = luajit21.LuaRuntime(register_eval=False, register_builtins=False)
    data: dict[str, Any] = {
        "llmspell": __version__,
        "engine": "lua",
        "lua_implementation": lua.lua_implementation,
        "lupa": lupa.__version__,
        "python": platform.python_version(),
    }
    if all_:
        from .. import config as config_mod

        data["config_file"] = str(opts.config or config_mod.discover() or "(defaults)")
        data["config_dir"] = str(paths.config_dir())
        data["data_dir"] = str(paths.data_dir())
        data["globals"] = [name for name, _, _ in GLOBALS] + ["ARGS", "arg"]
        data["sandbox"] = ["no python module", "no ffi/jit", "text-only load",
                           "io/os per [runtime.security]", "memory cap", "timeout"]
    if opts.output == "json":
        echo_json(data)
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key}: {shown}")


@app.command()
def init(
    ctx: typer.Context,
    output: Path = typer.Option(Path("llmspell.toml"), "-o", "--output", help="File to write."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter configuration and show the next steps."""
    from ..paths import write_atomically
    from .init_config import NEXT_STEPS, commented_config

    opts = options(ctx)
    if output.exists() and not force:
        raise fail(LLMSpellError(f"{output} already exists (use --force to overwrite)"), opts)
    try:
        write_atomically(output, commented_config().encode("utf-8"))
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot write {output}: {exc.strerror or exc}"), opts) from None
    typer.echo(f"Wrote a starter configuration to {output}")
    typer.echo(NEXT_STEPS.format(config=output))


@app.command()
def providers(ctx: typer.Context,
              detailed: bool = typer.Option(False, "--detailed", help="Show every field."),
              no_check: bool = typer.Option(False, "--no-check",
                                            help="Do not contact the providers."),
              timeout: float = typer.Option(3.0, "--timeout",
                                            help="Seconds to wait for each endpoint."),
              ) -> None:
    """List the configured providers and the built-in types: where each key comes from and
    whether each endpoint answers (exit 1 when one that is set up does not)."""
    from .providers import show_providers

    opts = options(ctx)
    settings = load_settings_or_exit(opts)
    raise typer.Exit(show_providers(opts, settings, detailed=detailed, check=not no_check,
                                    timeout=timeout))


@app.command()
def repl(
    ctx: typer.Context,
    history: Path | None = typer.Option(
        None, "--history", help="History file (default: <data dir>/repl_history)."),
) -> None:
    """Interactive Lua prompt with every global; expressions print their value."""
    from .. import calllog
    from .repl import run_repl

    opts = options(ctx)
    settings = load_settings_or_exit(opts)
    calllog.begin_run(settings, "repl", enabled=not opts.no_log)
    raise typer.Exit(run_repl(settings, history, debug=opts.debug))


app.add_typer(backup_app, name="backup")
app.add_typer(tools_app, name="tools")
app.add_typer(keys_app, name="keys")
app.add_typer(logs_app, name="logs")
app.add_typer(db_app, name="db")
app.add_typer(store_app, name="store")


def main() -> None:
    """The typer app (``launch.main`` is the console entry point: it installs the
    terminal's progress bars and sends plain runs past typer)."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
