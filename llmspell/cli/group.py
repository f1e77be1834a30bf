"""The root command group's two extra rules (docs/cli.md, "Where options go"):

- the global options (``-c``, ``-v``, ``--debug``, ``--output``, ``--engine``) are
  accepted after the subcommand too: ``llmspell run x.lua --debug`` is
  ``llmspell --debug run x.lua``. Each command (and sub-group) gets a copy of them, unless
  it has an option of the same name itself (``init -o/--output`` writes a file,
  ``validate -c`` checks one); given there, they update the root's ``Options``.
- ``llmspell FILE [ARGS...]`` is ``llmspell run FILE -- ARGS...`` when ``FILE`` is not a
  command and is an existing file (or ends in ``.lua``): what a ``#!/usr/bin/env
  llmspell`` script runs as. Everything after the file belongs to the script, as with
  ``python FILE`` or ``lua FILE``; ``llmspell -`` runs the script on stdin (``lua -``).

Only typer is imported here (start-up stays light).
"""


from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

try:
    from typer._click.exceptions import NoSuchOption
except ImportError:  # a typer that uses click itself
    from click.exceptions import NoSuchOption  # type: ignore[no-redef]

GLOBAL_OPTIONS = ("config", "debug", "verbose", "output", "engine", "no_log")


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _set_global(ctx: typer.Context, param: Any, value: Any) -> Any:
    """A global option given after the subcommand: it wins over the one before."""
    from .common import Options

    if value is None or ctx.resilient_parsing or not _from_command_line(ctx, param.name):
        return value
    root = ctx.find_root()
    if not isinstance(root.obj, Options):
        root.obj = Options()
    if param.name == "config":
        value = Path(value)
    elif param.name in ("output", "engine"):
        value = getattr(value, "value", value)
    setattr(root.obj, param.name, value)
    return value


def _copies(root_params: list[Any], taken: set[str]) -> list[Any]:
    """The global options a command does not already have, as options that only set the
    root's ``Options`` (no value passed to the command's function, no env var: the root
    reads ``LLMSPELL_CONFIG``/``LLMSPELL_ENGINE`` once)."""
    out = []
    for param in root_params:
        if param.name not in GLOBAL_OPTIONS or taken & set(param.opts + param.secondary_opts):
            continue
        twin = param.__class__.__new__(param.__class__)  # copy.copy, without its cost
        twin.__dict__.update(param.__dict__)
        twin.expose_value = False
        twin.callback = _set_global
        twin.envvar = None
        twin.is_eager = False
        out.append(twin)
    return out


def _add_globals(command: Any, root_params: list[Any]) -> None:
    taken = {name for p in command.params for name in (*p.opts, *p.secondary_opts)}
    command.params.extend(_copies(root_params, taken))
    for sub in (getattr(command, "commands", None) or {}).values():
        _add_globals(sub, root_params)


def _looks_like_script(word: str) -> bool:
    return word.endswith(".lua") or Path(word).is_file()


class RootGroup(TyperGroup):
    """The ``llmspell`` group (see the module docstring)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for command in self.commands.values():
            _add_globals(command, self.params)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:
        first = args[0] if args else ""
        if first == "-" or (first and first not in self.commands and not first.startswith("-")
                            and _looks_like_script(first)):
            return "run", self.commands["run"], [first, "--", *args[1:]]
        return super().resolve_command(ctx, args)


class RunCommand(TyperCommand):
    """``llmspell run``: an unknown option before ``--`` is an error (upstream's rule:
    script arguments follow ``--``), and the error says where the script's options go."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as exc:
            exc.message += (f". Options for the script go after --: llmspell run SCRIPT -- "
                            f"{exc.option_name} ...")
            raise
