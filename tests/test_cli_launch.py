"""The entry point's plain path (`llmspell/cli/launch.py`): `llmspell run FILE` without
options runs without importing typer, and behaves exactly as the typer app does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmspell.cli.launch import OPTION_ENVS, plain_run

SCRIPT = """
print("args", ARGS[0], ARGS[1], ARGS.name, #ARGS)
print("log", Config.get("runtime.log_level"))
if ARGS[1] == "fail" then error("boom") end
if ARGS[1] == "exit" then os.exit(3) end
return {ok = true}
"""


def test_every_option_variable_is_known_to_the_plain_path() -> None:
    """A new envvar on a root or `run` option would change what a plain run means: the
    plain path must then defer to typer (add it to OPTION_ENVS)."""
    import typer.main

    from llmspell.cli.main import app

    root = typer.main.get_command(app)
    run = root.commands["run"]  # type: ignore[attr-defined]
    found = set()
    for param in [*root.params, *run.params]:
        envvar = getattr(param, "envvar", None)
        found.update([envvar] if isinstance(envvar, str) else envvar or [])
    assert found <= set(OPTION_ENVS), found


@pytest.mark.parametrize(("argv", "plain"), [
    (["run", "x.lua"], (Path("x.lua"), [], None)),
    (["run", "x.lua", "--", "a", "--name", "v"], (Path("x.lua"), ["a", "--name", "v"], None)),
    (["run", "x.lua", "a"], None),  # words without --: typer decides
    (["run", "x.lua", "--", "a", "--", "b"], None),
    (["run", "-", "--"], None), (["run", "--timeout", "1", "x.lua"], None),
    (["--debug", "run", "x.lua"], None), (["exec", "print(1)"], None), (["run"], None),
    (["run", "--help"], None), ([], None),
])
def test_which_invocations_are_plain(argv: list[str], plain: object) -> None:
    assert plain_run(argv, {}) == plain


def test_option_variables_send_the_run_to_typer() -> None:
    assert plain_run(["run", "x.lua"], {"LLMSPELL_CONFIG": "c.toml"}) == \
        (Path("x.lua"), [], Path("c.toml"))
    assert plain_run(["run", "x.lua"], {"LLMSPELL_CONFIG": ""})[2] is None  # type: ignore[index]
    assert plain_run(["run", "x.lua"], {"LLMSPELL_PLAYBACK": "c.json"}) is None
    assert plain_run(["run", "x.lua"], {"LLMSPELL_ENGINE": "lua"}) is None
    assert plain_run(["run", "x.lua"], {"_LLMSPELL_COMPLETE": "bash_complete"}) is None


def _llmspell(tmp_path: Path, *argv: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """Run the entry point; stderr's last line says whether typer was imported."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('typer=%s\\n' % ('typer' in "
            "sys.modules)))\n"
            f"sys.argv = ['llmspell', *{list(argv)!r}]\n"
            "from llmspell.cli.launch import main\nmain()\n")
    full = {**os.environ, "LLMSPELL_CONFIG": "", "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / ".config"), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=full, timeout=60)


@pytest.mark.parametrize("args", [["--", "one", "--name", "v"], ["--", "fail"],
                                  ["--", "exit"], []])
def test_the_plain_path_and_typer_agree(tmp_path: Path, args: list[str]) -> None:
    script = tmp_path / "s.lua"
    script.write_text(SCRIPT)
    plain = _llmspell(tmp_path, "run", str(script), *args)
    typed = _llmspell(tmp_path, "--output", "text", "run", str(script), *args)
    assert plain.stderr.endswith("typer=False\n"), plain.stderr
    assert typed.stderr.endswith("typer=True\n"), typed.stderr
    assert (plain.returncode, plain.stdout) == (typed.returncode, typed.stdout)
    assert plain.stderr.replace("typer=False", "") == typed.stderr.replace("typer=True", "")


def test_config_from_the_environment_and_a_missing_script(tmp_path: Path) -> None:
    config = tmp_path / "user.toml"
    config.write_text('[runtime]\nlog_level = "warn"\n')
    script = tmp_path / "s.lua"
    script.write_text(SCRIPT)
    env = {"LLMSPELL_CONFIG": str(config)}
    plain = _llmspell(tmp_path, "run", str(script), env=env)
    typed = _llmspell(tmp_path, "-c", str(config), "run", str(script), env=env)
    assert "log\twarn" in plain.stdout and plain.stdout == typed.stdout
    missing = _llmspell(tmp_path, "run", "nope.lua")
    missing_typed = _llmspell(tmp_path, "--debug", "run", "nope.lua")
    assert missing.returncode == missing_typed.returncode == 1
    assert "Script file not found: nope.lua" in missing.stderr
    assert missing.stderr.endswith("typer=False\n")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_the_version_is_printed_without_typer_as_typer_prints_it(tmp_path: Path,
                                                                  flag: str) -> None:
    fast = _llmspell(tmp_path, flag)
    typed = _llmspell(tmp_path, "--output", "text", flag)
    assert fast.stderr.endswith("typer=False\n") and typed.stderr.endswith("typer=True\n")
    assert fast.returncode == typed.returncode == 0
    assert fast.stdout == typed.stdout and fast.stdout.startswith("llmspell ")
