"""`llmspell backup ...`: state backups from the command line (spec § 21.2).

    llmspell backup create [-i/--incremental] [-d/--description TEXT]
    llmspell backup list [-l/--limit N] [-v/--verbose]
    llmspell backup restore ID [--dry-run]
    llmspell backup validate ID
    llmspell backup info ID
    llmspell backup cleanup [--dry-run]

They work on the durable state file the config names (``[runtime.state_persistence]
backend_type = "sqlite"`` or ``"postgres"``); backups go to ``[runtime.state_persistence.backup]
backup_dir``. ``--output json`` prints the result as JSON.
"""


from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from .common import echo_json, fail, load_settings, options

if TYPE_CHECKING:
    from ..state.backup import BackupManager

backup_app = typer.Typer(help="Create, list, validate and restore state backups.",
                         no_args_is_help=True, rich_markup_mode=None)


def _run(ctx: typer.Context, action: Callable[["BackupManager"], Any],
         show: Callable[[Any], None]) -> Any:
    from ..errors import LLMSpellError, StateError
    from ..state.backup import backup_manager
    from ..state.service import open_state

    opts = options(ctx)
    try:
        settings = load_settings(opts)
        service = open_state(settings)
        try:
            if service.backend == "memory":
                raise StateError(
                    "backups need a durable state store, but state is kept in memory for each "
                    "run: set [runtime.state_persistence] backend_type = \"sqlite\" "
                    "(and optionally path) in the config")
            result = action(backup_manager(service, settings))
        finally:
            service.close()
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    except OSError as exc:  # a folder that cannot be listed or read
        where = f" ({exc.filename})" if exc.filename else ""
        raise fail(StateError(f"backup failed{where}: {exc.strerror or exc}"), opts) from None
    if opts.output == "json":
        echo_json(result)
    else:
        show(result)
    return result


def _kv(data: dict[str, Any], keys: list[str]) -> None:
    for key in keys:
        if data.get(key) is not None:
            typer.echo(f"{key}: {data[key]}")


@backup_app.command()
def create(ctx: typer.Context,
           incremental: bool = typer.Option(False, "-i", "--incremental",
                                            help="Only what changed since the newest backup."),
           description: str | None = typer.Option(None, "-d", "--description",
                                                  help="A note kept with the backup.")) -> None:
    """Back up the state now."""
    def show(r: dict[str, Any]) -> None:
        kind = "incremental" if r["incremental"] else "full"
        typer.echo(f"Created {kind} backup {r['backup_id']} ({r['key_count']} keys, "
                   f"{r['entry_count']} stored, {r['size']} bytes)")
        if r.get("note"):
            typer.echo(r["note"])
    _run(ctx, lambda m: m.create(incremental, description), show)


@backup_app.command("list")
def list_(ctx: typer.Context,
          limit: int = typer.Option(20, "-l", "--limit", help="Show at most N backups."),
          verbose: bool = typer.Option(False, "-v", "--verbose", help="Show every field.")
          ) -> None:
    """List backups, newest first."""
    def show(rows: list[dict[str, Any]]) -> None:
        if not rows:
            typer.echo("No backups.")
            return
        for b in rows:
            if "error" in b:
                typer.echo(f"{b['id']}  INVALID: {b['error']}")
                continue
            line = (f"{b['id']}  {b['created_at']}  {b['backup_type']:<11}  "
                    f"{b['key_count']} keys  {b['size']} bytes")
            if b.get("description"):
                line += f"  {b['description']}"
            typer.echo(line)
            if verbose:
                typer.echo(f"    path: {b['path']}")
                if b.get("parent_id"):
                    typer.echo(f"    parent: {b['parent_id']}")
                typer.echo(f"    stored entries: {b['entry_count']}, deleted: "
                           f"{b['deleted_count']}, format version {b['format_version']}")
    _run(ctx, lambda m: m.list()[: max(limit, 0)], show)


@backup_app.command()
def restore(ctx: typer.Context, backup_id: str = typer.Argument(..., help="Backup id."),
            dry_run: bool = typer.Option(False, "--dry-run",
                                         help="Say what would change; change nothing.")
            ) -> None:
    """Replace the whole state with a backup's (validated first)."""
    def show(r: dict[str, Any]) -> None:
        verb = "Would restore" if r["dry_run"] else "Restored"
        typer.echo(f"{verb} {r['keys_restored']} keys from {r['backup_id']} "
                   f"(added {r['keys_added']}, changed {r['keys_changed']}, "
                   f"removed {r['keys_removed']})")
    _run(ctx, lambda m: m.restore(backup_id, dry_run), show)


@backup_app.command()
def validate(ctx: typer.Context, backup_id: str = typer.Argument(..., help="Backup id.")
             ) -> None:
    """Check a backup (format, checksum, chain) without restoring it."""
    def show(r: dict[str, Any]) -> None:
        if r["is_valid"]:
            typer.echo(f"Backup {r['backup_id']} is valid ({r['key_count']} keys, chain: "
                       + " <- ".join(r["chain"]) + ")")
        else:
            typer.echo(f"Backup {r['backup_id']} is NOT valid: {r['error']}")
    result = _run(ctx, lambda m: m.validate(backup_id), show)
    if not result["is_valid"]:
        raise typer.Exit(1)


@backup_app.command()
def info(ctx: typer.Context, backup_id: str = typer.Argument(..., help="Backup id.")) -> None:
    """Show one backup's details."""
    _run(ctx, lambda m: m.info(backup_id),
         lambda r: _kv(r, ["id", "created_at", "backup_type", "parent_id", "description",
                           "key_count", "entry_count", "deleted_count", "size", "path",
                           "source", "format_version", "checksum"]))


@backup_app.command()
def cleanup(ctx: typer.Context,
            dry_run: bool = typer.Option(False, "--dry-run",
                                         help="Say what would be deleted; delete nothing.")
            ) -> None:
    """Delete backups beyond the retention settings (max_backups, max_backup_age_days)."""
    def show(r: dict[str, Any]) -> None:
        verb = "Would delete" if r["dry_run"] else "Deleted"
        typer.echo(f"{verb} {r['deleted_count']} backups ({r['space_freed']} bytes); "
                   f"kept {r['retained_count']}")
        for bid in r["deleted"]:
            typer.echo(f"  {bid}")
    _run(ctx, lambda m: m.cleanup(dry_run), show)
