"""`llmspell logs [-n N] [--json] [--run ID] [--model M]` and `logs list|path|on|off|status`:
the model-call log (``llmspell/calllog.py``), as simonw's ``llm logs``.
No ``from __future__ import annotations`` (typer reads the annotations).
"""


from typing import Any

import typer

from ..errors import LLMSpellError
from .common import echo_json, fail, options

logs_app = typer.Typer(help="Show the log of model calls (on by default; --no-log skips "
                            "one run).", rich_markup_mode=None)

CountOpt = typer.Option(10, "-n", "--count", help="How many of the newest calls (0: all).")
JsonOpt = typer.Option(False, "--json", help="Output the rows as JSON.")
RunOpt = typer.Option(None, "--run", help="Only the calls of this run id.")
ModelOpt = typer.Option(None, "--model", "-m", help="Only this model (name or provider/name).")


def _show(ctx: typer.Context, count: int, as_json: bool, run: str | None,
          model: str | None) -> None:
    import sqlite3

    from .. import calllog

    opts = options(ctx)
    path = calllog.log_path()
    try:
        rows = calllog.read(path, limit=count, run_id=run, model=model)
    except sqlite3.Error as exc:
        raise fail(LLMSpellError(f"{path}: cannot read the model-call log: {exc}"),
                   opts) from None
    if as_json or opts.output == "json":
        echo_json(rows)
        return
    if not rows:
        typer.echo("No model calls logged" + ("" if path.exists() else " yet") +
                   f" ({path})", err=True)
        return
    for row in rows:
        typer.echo(_entry(row))


def _entry(row: dict[str, Any]) -> str:
    tokens = ""
    if row["prompt_tokens"] is not None or row["completion_tokens"] is not None:
        tokens = f", {row['prompt_tokens'] or 0} -> {row['completion_tokens'] or 0} tokens"
    lines = [f"# {row['datetime_utc']}  {row['provider']}/{row['model'] or '(default)'}  "
             f"{row['kind']}{tokens}, {row['duration_ms']:.0f} ms",
             f"run {row['run_id']}  script {row['script'] or '-'}", ""]
    if row["system"]:
        lines += ["## System", "", row["system"], ""]
    lines += ["## Prompt", "", row["prompt"] or "", ""]
    if row["error"]:
        lines += ["## Error", "", row["error"], ""]
    else:
        lines += ["## Response", "", row["response"] or "", ""]
    if row["tool_calls"]:
        lines += ["## Tool calls", "", row["tool_calls"], ""]
    return "\n".join(lines)


@logs_app.callback(invoke_without_command=True)
def logs(ctx: typer.Context, count: int = CountOpt, as_json: bool = JsonOpt,
         run: str | None = RunOpt, model: str | None = ModelOpt) -> None:
    """The newest model calls, oldest first (as `logs list`)."""
    if ctx.invoked_subcommand is None:
        _show(ctx, count, as_json, run, model)


@logs_app.command("list")
def list_logs(ctx: typer.Context, count: int = CountOpt, as_json: bool = JsonOpt,
              run: str | None = RunOpt, model: str | None = ModelOpt) -> None:
    """The newest model calls, oldest first."""
    _show(ctx, count, as_json, run, model)


@logs_app.command("path")
def logs_path() -> None:
    """Where the log database is."""
    from .. import calllog

    typer.echo(str(calllog.log_path()))


@logs_app.command("status")
def logs_status() -> None:
    """Whether calls are logged, where, and how many are."""
    import sqlite3

    from .. import calllog

    path = calllog.log_path()
    typer.echo("Logging is " + ("OFF (llmspell logs on)" if calllog.switched_off()
                                else "ON for all runs (--no-log skips one)"))
    typer.echo(f"Found log database at {path}" if path.exists()
               else f"No log database yet ({path})")
    if path.exists():
        try:
            count = calllog.count(path)
        except sqlite3.Error as exc:
            typer.echo(f"cannot read it: {exc}")
            return
        typer.echo(f"Number of calls logged: {count}")


@logs_app.command("off")
def logs_off(ctx: typer.Context) -> None:
    """Stop logging model calls (for every later run)."""
    from .. import calllog
    from ..paths import write_atomically

    marker = calllog.off_marker()
    try:
        write_atomically(marker, b"model-call logging is off: llmspell logs on\n")
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot write {marker}: {exc.strerror or exc}"),
                   options(ctx)) from None
    typer.echo("Model-call logging is off", err=True)


@logs_app.command("on")
def logs_on(ctx: typer.Context) -> None:
    """Log model calls again (the default)."""
    from .. import calllog

    try:
        calllog.off_marker().unlink(missing_ok=True)
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot remove {calllog.off_marker()}: "
                                 f"{exc.strerror or exc}"), options(ctx)) from None
    typer.echo("Model-call logging is on", err=True)
