"""`llmspell db ...`: the shared PostgreSQL server's llmspell schema.

    llmspell db status     the server, the schema version applied and what is pending
    llmspell db migrate    apply the pending migrations (runs also happen on first use)

The server is ``LLMSPELL_POSTGRES_URL`` or ``[storage.postgres] url``. ``--output json``
prints the result as JSON.
"""

from collections.abc import Callable
from typing import Any

import typer

from .common import echo_json, fail, load_settings, options

db_app = typer.Typer(help="Show and upgrade the PostgreSQL schema (storage.postgres).",
                     no_args_is_help=True, rich_markup_mode=None)


def _with_database(ctx: typer.Context, action: Callable[[Any], dict[str, Any]],
                   show: Callable[[dict[str, Any]], None]) -> None:
    from ..errors import LLMSpellError
    from ..postgres.database import Database, postgres_config

    opts = options(ctx)
    try:
        db = Database(postgres_config(load_settings(opts)))
        try:
            result = action(db)
        finally:
            db.close()
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    if opts.output == "json":
        echo_json(result)
    else:
        show(result)


def _status(db: Any) -> dict[str, Any]:
    from ..postgres.migrate import status

    now = status(db)
    return {"server": now.server, "current": now.current, "latest": now.latest,
            "newer": now.newer,
            "pending": [f"{m.version:04d}_{m.name}" for m in now.pending]}


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the server, the schema version applied and the pending migrations."""

    def show(result: dict[str, Any]) -> None:
        typer.echo(f"server:  {result['server']}")
        typer.echo(f"schema:  {result['current']} (this llmspell ships {result['latest']})")
        if result["newer"]:
            typer.echo("written by a newer llmspell: upgrade llmspell to use it")
        pending = result["pending"]
        typer.echo(f"pending: {', '.join(pending) if pending else 'none'}")

    _with_database(ctx, _status, show)


@db_app.command("migrate")
def db_migrate(ctx: typer.Context) -> None:
    """Apply the pending migrations (under a lock; safe while others run)."""
    from ..postgres.migrate import migrate

    def run(db: Any) -> dict[str, Any]:
        done = migrate(db)
        return {**_status(db), "applied": [f"{m.version:04d}_{m.name}" for m in done]}

    def show(result: dict[str, Any]) -> None:
        applied = result["applied"]
        typer.echo(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
        typer.echo(f"schema:  {result['current']} on {result['server']}")

    _with_database(ctx, run, show)
