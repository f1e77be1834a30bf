"""`llmspell keys set|get|list|path|remove`: the user's stored API keys (``llmspell/keys.py``).

As simonw's ``llm keys``: ``set`` reads the key from a hidden prompt (or from stdin when it
is not a terminal), so it never lands in the shell's history unless ``--value`` is given;
``list`` shows names only; ``get`` prints one key (its purpose: ``$(llmspell keys get
openai)``). No ``from __future__ import annotations`` (typer reads the annotations).
"""


import sys

import typer

from ..errors import LLMSpellError
from .common import fail, options

keys_app = typer.Typer(help="Store API keys for the providers (used after the environment "
                            "variables).", no_args_is_help=True, rich_markup_mode=None)


def _read_value() -> str:
    """The key from a hidden prompt on a terminal, else the whole of stdin (one line)."""
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass("Enter key: ").strip()
    data = sys.stdin.read() if sys.stdin is not None else ""
    return data.strip()


@keys_app.command("set")
def set_key(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Provider name (openai, anthropic, groq, ...)."),
    value: str | None = typer.Option(
        None, "--value", help="The key itself (it stays in the shell history: prefer the "
                              "prompt or stdin)."),
) -> None:
    """Save a key: prompts for it (hidden) or reads it from stdin."""
    from .. import keys

    opts = options(ctx)
    try:
        keys.check_name(name)
        path = keys.store(name, value if value is not None else _read_value())
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot write the keys file: {exc.strerror or exc}"),
                   opts) from None
    typer.echo(f"Saved key '{name}' in {path}", err=True)


@keys_app.command("get")
def get_key(ctx: typer.Context,
            name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Print one stored key (for `export X=$(llmspell keys get NAME)`)."""
    from .. import keys

    opts = options(ctx)
    try:
        stored = keys.load()
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    if name not in stored:
        raise fail(LLMSpellError(f"no stored key named '{name}' (see `llmspell keys list`)"),
                   opts)
    typer.echo(stored[name])


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """The names of the stored keys (never their values)."""
    from .. import keys

    opts = options(ctx)
    try:
        names = sorted(keys.load())
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    if opts.output == "json":
        from .common import echo_json

        echo_json(names)
        return
    if not names:
        typer.echo("No keys stored (llmspell keys set NAME)", err=True)
    for name in names:
        typer.echo(name)


@keys_app.command("path")
def keys_path() -> None:
    """Where the keys file is (it may not exist yet)."""
    from .. import keys

    typer.echo(str(keys.keys_path()))


@keys_app.command("remove")
def remove_key(ctx: typer.Context,
               name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Forget a stored key."""
    from .. import keys

    opts = options(ctx)
    try:
        found = keys.remove(name)
    except LLMSpellError as exc:
        raise fail(exc, opts) from None
    except OSError as exc:
        raise fail(LLMSpellError(f"cannot write the keys file: {exc.strerror or exc}"),
                   opts) from None
    if not found:
        raise fail(LLMSpellError(f"no stored key named '{name}'"), opts)
    typer.echo(f"Removed key '{name}'", err=True)
