"""The console entry point (`llmspell`, `python -m llmspell`).

The plain `llmspell run FILE` and `llmspell run FILE -- ARGS...`, with no option and no
option set by an environment variable, run at once through `execute.py`; anything else
(options, other commands, help, a word that might be an option) goes to the typer app in
`main.py`. Both reach the same `execute`, with the options typer would have parsed:
importing typer and click costs ~20-30 ms, a third of a plain run's start.
`tests/test_cli_launch.py` checks that the two ways agree and that every environment
variable of the root options and `run` is one this module knows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# Environment variables that set an option of the root callback or `run`: the plain path
# reads LLMSPELL_CONFIG as typer would; the others change a default, so typer parses.
CONFIG_ENV = "LLMSPELL_CONFIG"
OPTION_ENVS = ("LLMSPELL_CONFIG", "LLMSPELL_ENGINE", "LLMSPELL_PLAYBACK")
COMPLETION_ENV = "_LLMSPELL_COMPLETE"  # click's shell completion asks through it


def plain_run(argv: Sequence[str], environ: Mapping[str, str]
              ) -> tuple[Path, list[str], Path | None] | None:
    """``(script, script_args, config)`` for a plain ``run FILE [-- ARGS...]``, else None."""
    if len(argv) < 2 or argv[0] != "run" or not argv[1] or argv[1].startswith("-"):
        return None
    rest = list(argv[2:])
    if rest and (rest[0] != "--" or "--" in rest[1:]):
        return None
    if environ.get(COMPLETION_ENV) or any(
            environ.get(name) for name in OPTION_ENVS if name != CONFIG_ENV):
        return None
    config = environ.get(CONFIG_ENV)
    return Path(argv[1]), rest[1:], Path(config) if config else None


def main() -> None:
    """Console entry point."""
    if sys.stderr.isatty():  # progress bars on stderr when it is a terminal (rich lazily)
        from .progress import install_terminal_progress

        install_terminal_progress()
    if sys.argv[1:] in (["--version"], ["-V"]):  # what the typer app prints, without it
        from .. import __version__

        sys.stdout.write(f"llmspell {__version__}\n")
        return
    try:
        plain = plain_run(sys.argv[1:], os.environ)
        if plain is None:
            from .main import main as typer_main

            typer_main()
            return
        from .execute import LLMFlags, Options, RagFlags, Script, execute

        script, args, config = plain
        execute(Options(config=config), RagFlags(False, False, None, None, None),
                Script.named(str(script), args), timeout=None, llm=LLMFlags())
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
