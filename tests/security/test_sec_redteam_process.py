"""Red team: process_executor arguments that name files outside the allowed paths.

A user who grants ``allow_process_execution`` and a command such as ``date`` grants that
program inside the allowed paths, not a way to read any file: ``date -f FILE`` prints each
line it cannot parse, so an option value glued to its letter (``-f/etc/x``) or given after
``=`` in a plain argument (``if=/etc/x``) must be checked like a separate argument.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lua_text import lua_fmt
from tools_helpers import run_cli

SECRET = "redteam-outside-7c1f"


def _outside_file(tmp_path: Path) -> Path:
    """A file outside the allowed paths (the config below allows only ``inside``)."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


def _config(tmp_path: Path, commands: str) -> str:
    inside = tmp_path / "inside"
    inside.mkdir()
    return (f'[tools.file_operations]\nallowed_paths = ["{inside}"]\n'
            f'[tools.system]\nallow_process_execution = true\nallowed_commands = "{commands}"\n')


def _invoke(executable: str, args: list[str]) -> str:
    lua_args = ", ".join(f'"{a}"' for a in args)
    return lua_fmt("""
        local ok, r = pcall(Tool.invoke, "process_executor",
                            {executable = "${executable}", arguments = {${lua_args}},
                              working_directory = "{inside}"})
        print(ok and JSON.stringify(r.result) or tostring(r))
    """, executable=executable, lua_args=lua_args)


@pytest.mark.skipif(shutil.which("date") is None, reason="needs date")
@pytest.mark.parametrize("args", [["-f{secret}"], ["-uf{secret}"], ["--file={secret}"],
                                  ["-f../outside/secret.txt"]])
def test_option_values_glued_to_their_letter_are_checked(tmp_path: Path, args: list[str]
                                                          ) -> None:
    secret = _outside_file(tmp_path)
    config = _config(tmp_path, "date")
    script = _invoke("date", [a.format(secret=secret) for a in args]).replace(
        "{inside}", str(tmp_path / "inside"))
    done = run_cli(script, tmp_path, config=config)
    assert SECRET not in done.stdout + done.stderr, done.stdout
    assert "outside the allowed paths" in done.stdout, done.stdout


@pytest.mark.skipif(shutil.which("date") is None, reason="needs date")
def test_glued_option_values_inside_the_allowed_paths_still_work(tmp_path: Path) -> None:
    config = _config(tmp_path, "date")
    (tmp_path / "inside" / "dates.txt").write_text("2020-01-02\n")
    script = _invoke("date", ["-u", "-fdates.txt", "+%Y"]).replace(
        "{inside}", str(tmp_path / "inside"))
    done = run_cli(script, tmp_path, config=config)
    assert '"stdout":"2020\\n"' in done.stdout, done.stdout + done.stderr
