"""`llmspell store copy`: move state, sessions, artifacts and RAG collections between
the local stores and a PostgreSQL server (``postgres/copy.py``).

    llmspell store copy --from sqlite:FOLDER --to postgres:URL [--only state,rag]
    llmspell store copy --from postgres --to sqlite:FOLDER

A progress bar is drawn on stderr when it is a terminal; the counts and checksums are
printed at the end (``--output json``: as JSON).
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from .common import echo_json, fail, load_settings, options

store_app = typer.Typer(help="Copy stored data between SQLite files and PostgreSQL.",
                        no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int | None], None]]:
    """A rich progress bar on a terminal's stderr; nothing in a pipe."""
    if not sys.stderr.isatty():
        yield lambda *_: None
        return
    from rich.console import Console
    from rich.progress import Progress

    tasks: dict[str, Any] = {}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        def update(part: str, done: int, total: int | None) -> None:
            if part not in tasks:
                tasks[part] = bar.add_task(f"copying {part}", total=total)
            bar.update(tasks[part], completed=done, total=total)
        yield update


@store_app.command("copy")
def store_copy(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="sqlite:FOLDER or postgres:URL")],
    destination: Annotated[str, typer.Option("--to", help="sqlite:FOLDER or postgres:URL")],
    only: Annotated[str, typer.Option(help="Parts to copy, comma-separated.")] = (
        "state,sessions,rag"),
) -> None:
    """Copy state, sessions (with artifacts) and RAG vectors; check them by checksum."""
    from ..errors import LLMSpellError
    from ..postgres.copy import copy_stores

    opts = options(ctx)
    parts = tuple(p.strip() for p in only.split(",") if p.strip())
    try:
        with _progress_bar() as progress:
            report = copy_stores(source, destination, load_settings(opts), parts, progress)
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    result = {part: {"copied": r.copied, **r.extra, "checksum": r.destination_checksum,
                     "matches": r.matches} for part, r in report.items()}
    if opts.output == "json":
        echo_json(result)
        return
    for part, r in result.items():
        extra = "".join(f", {k} {v}" for k, v in r.items()
                        if k not in ("copied", "checksum", "matches"))
        typer.echo(f"{part}: {r['copied']} copied{extra}; sha256 {r['checksum'][:16]} "
                   "matches the source")
