"""The `llmspell` command line (spec § 21): the root typer app, its global options and the
top-level commands. Each command parses flags and calls one function. The shared pieces
(options, settings, the error exit) are in `common.py`; the sub-apps (`backup.py`,
`tools.py`) import only those, and this module adds them with `add_typer`.

Kept light: only typer is imported at start-up; the Lua runtime, rich and every service
load when a command needs them. No `from __future__ import annotations` in modules that
define typer commands: typer would eval every annotation string at each start.
"""


import sys
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
    Options,
    OutputMode,
    OutputOpt,
    VerboseOpt,
    echo_json,
    fail,
    load_settings_or_exit,
    options,
)
from .execute import LLMFlags, RagFlags, execute
from .tools import tools_app

if TYPE_CHECKING:
    from ..config import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Run Lua scripts with AI building blocks: Agent, Tool, Workflow, State, RAG ...",
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    ctx.obj = Options(config=config, debug=debug, verbose=verbose, output=output.value,
                      engine=engine.value)


# Options shared by `run` and `exec`.
TimeoutOpt = Annotated[float | None, typer.Option(
    "--timeout", help="Stop the script after this many seconds.")]
StreamOpt = Annotated[bool, typer.Option("--stream", help="Accepted for compatibility.")]
RagOpt = Annotated[bool, typer.Option("--rag", help="Enable RAG for this run.")]
NoRagOpt = Annotated[bool, typer.Option("--no-rag", help="Disable RAG for this run.")]
RagConfigOpt = Annotated[Path | None, typer.Option("--rag-config",
                                                   help="Take [rag] from FILE.")]
RagDimsOpt = Annotated[int | None, typer.Option("--rag-dims", help="Vector dimensions.")]
RagBackendOpt = Annotated[str | None, typer.Option("--rag-backend", help="Only 'hnsw'.")]
RecordOpt = Annotated[Path | None, typer.Option(
    "--record", help="Record every LLM provider exchange to FILE (no keys written).")]
PlaybackOpt = Annotated[Path | None, typer.Option(
    "--playback", envvar="LLMSPELL_PLAYBACK",
    help="Answer LLM calls from a cassette FILE recorded with --record (no network).")]
UsageOpt = Annotated[bool, typer.Option("--usage", help="Print token usage to stderr.")]


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    ctx: typer.Context,
    script: Path = typer.Argument(..., help="The Lua script to run."),
    args: list[str] | None = typer.Argument(None, help="Script arguments (after --)."),
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
    """Run a Lua script: llmspell run script.lua -- pos1 --name value."""
    if args and args[0] == "--":
        args = args[1:]
    execute(options(ctx), RagFlags(rag, no_rag, rag_config, rag_dims, rag_backend),
             script=script, code=None, script_args=args, timeout=timeout,
             llm=LLMFlags(record, playback, usage))


@app.command("exec")
def exec_(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="Lua code to run."),
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
    """Run inline Lua code: llmspell exec 'print(1 + 1)'."""
    execute(options(ctx), RagFlags(rag, no_rag, rag_config, rag_dims, rag_backend),
             script=None, code=code, script_args=None, timeout=timeout,
             llm=LLMFlags(record, playback, usage))


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
    """Write the default configuration as TOML."""
    from ..config import default_toml
    from ..paths import write_atomically

    opts = options(ctx)
    if output.exists() and not force:
        raise fail(LLMSpellError(f"{output} already exists (use --force to overwrite)"), opts)
    try:
        write_atomically(output, default_toml().encode("utf-8"))
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot write {output}: {exc.strerror or exc}"), opts) from None
    typer.echo(f"Wrote default configuration to {output}")


def _key_source(settings: "Settings", name: str, entry: dict[str, Any]) -> str:
    """Where the key a provider would send comes from (``env OPENAI_API_KEY``, ...)."""
    from ..providers import ProviderError, resolve

    key_env = entry.get("api_key_env")
    try:
        info = resolve(settings, name)
    except ProviderError:
        info = None
    if info is not None and info.key_source:
        withheld = " (withheld: base_url is not one you configured)" if info.key_withheld \
            else ""
        return info.key_source + withheld
    if key_env:
        return f"env {key_env} (unset)"
    return "none"


@app.command()
def providers(ctx: typer.Context,
              detailed: bool = typer.Option(False, "--detailed", help="Show every field."),
              no_check: bool = typer.Option(False, "--no-check",
                                            help="Do not contact the providers.")
              ) -> None:
    """List the providers the configuration declares and whether each is reachable."""
    opts = options(ctx)
    settings = load_settings_or_exit(opts)
    checks: dict[str, Any] = {}
    if not no_check:
        from ..providers import check_reachable

        checks = check_reachable(settings, list(settings.providers))
    rows = []
    for name, entry in settings.providers.items():
        key = _key_source(settings, name, entry)
        row = {"name": name, "type": entry.get("provider_type") or name,
               "model": entry.get("default_model"), "enabled": entry.get("enabled"),
               "base_url": entry.get("base_url"), "key": key}
        if name in checks:
            row["endpoint"] = checks[name]["endpoint"]
            row["status"] = checks[name]["status"]
        if detailed:
            row["options"] = entry.get("options", {})
        rows.append(row)
    if opts.output == "json":
        echo_json(rows)
        return
    if not rows:
        typer.echo("No providers configured.")
        return
    for row in rows:
        typer.echo(f"{row['name']}: type={row['type']} model={row['model'] or '-'} "
                   f"key={row['key']}" + (f" base_url={row['base_url']}" if row["base_url"]
                                          else "")
                   + (f" endpoint={row['endpoint']} status={row['status']}" if "status" in row
                      else ""))


@app.command()
def repl(
    ctx: typer.Context,
    history: Path | None = typer.Option(
        None, "--history", help="History file (default: <data dir>/repl_history)."),
) -> None:
    """Interactive Lua prompt with every global; expressions print their value."""
    from .repl import run_repl

    opts = options(ctx)
    settings = load_settings_or_exit(opts)
    raise typer.Exit(run_repl(settings, history, debug=opts.debug))


app.add_typer(backup_app, name="backup")
app.add_typer(tools_app, name="tools")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
