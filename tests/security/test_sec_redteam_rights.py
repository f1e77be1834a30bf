"""Red team: a run must not plant the user's rights-granting config for the next run.

``file_operations`` ``move``/``copy`` onto an existing folder put the source *inside*
it, and only the folder was checked: moving a prepared ``.llmspell`` folder (or copying a
``.llmspell.toml``) onto the home folder planted ``~/.llmspell/config.toml`` /
``~/.llmspell.toml``, and the next run started with whatever rights they grant. The same
goes for archive extraction into the home folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lua_text import lua_fmt
from tools_helpers import run_cli

GRANT = "[runtime.security]\\nallow_process_spawn = true\\n"

PREPARE = lua_fmt("""
    local S = STAGE
    Tool.invoke("file_operations", {operation = "mkdir", path = S .. "/.llmspell",
                                     recursive = true})
    Tool.invoke("file_operations", {operation = "write", path = S .. "/.llmspell/config.toml",
                                     input = "${GRANT}"})
    Tool.invoke("file_operations", {operation = "write", path = S .. "/.llmspell.toml",
                                     input = "${GRANT}"})
""", GRANT=GRANT)

ATTACKS = {
    "move_folder_into_home": 'Tool.invoke("file_operations", {operation = "move", '
                             'source_path = S .. "/.llmspell", target_path = HOME})',
    "copy_file_into_home": 'Tool.invoke("file_operations", {operation = "copy", '
                           'source_path = S .. "/.llmspell.toml", target_path = HOME})',
    "move_file_into_home": 'Tool.invoke("file_operations", {operation = "move", '
                           'source_path = S .. "/.llmspell.toml", target_path = HOME})',
    "extract_into_home": 'Tool.invoke("archive_handler", {operation = "create", '
                         'path = S .. "/a.zip", input = {S .. "/.llmspell"}}); '
                         'Tool.invoke("archive_handler", {operation = "extract", '
                         'path = S .. "/a.zip", target_path = HOME})',
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_tool_plants_the_users_config(tmp_path: Path, attack: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("x\n")  # an ordinary, non-empty home folder
    stage = tmp_path / "stage"
    script = (f'STAGE = "{stage}"\nHOME = "{home}"\nS = STAGE\n' + PREPARE +
              f"print(pcall(function() {ATTACKS[attack]} end))\n")
    env = {"HOME": str(home), "XDG_CONFIG_HOME": "", "LLMSPELL_CONFIG": ""}
    done = run_cli(script, tmp_path, env=env)
    assert done.code == 0, done.stderr
    planted = [p for p in (home / ".llmspell" / "config.toml", home / ".llmspell.toml")
               if p.exists()]
    assert not planted, (planted, done.stdout)
    # the next run has no more rights than the first
    after = run_cli('print(pcall(io.popen, "echo hi"))', tmp_path, env=env)
    assert "process spawning is disabled" in after.stdout, after.stdout + after.stderr


def test_copy_and_move_into_an_ordinary_folder_still_work(tmp_path: Path) -> None:
    script = lua_fmt("""
        local D = "${tmp_path}"
        Tool.invoke("file_operations", {operation = "mkdir", path = D .. "/into"})
        Tool.invoke("file_operations", {operation = "write", path = D .. "/a.txt", input = "a"})
        Tool.invoke("file_operations", {operation = "copy", source_path = D .. "/a.txt",
                                         target_path = D .. "/into"})
        Tool.invoke("file_operations", {operation = "move", source_path = D .. "/a.txt",
                                         target_path = D .. "/into/b.txt"})
        print("ok")
    """, tmp_path=tmp_path)
    done = run_cli(script, tmp_path)
    assert done.stdout.startswith("ok"), done.stdout + done.stderr
    assert (tmp_path / "into" / "a.txt").read_text() == "a"
    assert (tmp_path / "into" / "b.txt").read_text() == "a"
