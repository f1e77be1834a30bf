"""How `llmspell` is invoked (docs/cli.md "Where options go"), through real subprocesses:
scripts from stdin, `#!/usr/bin/env llmspell` scripts, `-h`/`-V`, global options after
the command, script arguments after `--`, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the venv's bin: holds the `llmspell` console script


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- scripts from stdin ---------------------------------------------------------------------

def test_run_dash_reads_the_script_from_stdin(cli):
    proc = cli("run", "-", "--", "a", "--name", "v",
               input='print("hi", ARGS[0], ARGS[1], ARGS.name)\nreturn 7\n')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\t-\ta\tv\n7\n"


def test_run_dash_errors_name_stdin_and_the_right_line(cli):
    proc = cli("run", "-", input='#!/usr/bin/env llmspell\nlocal x = 1\nerror("boom")\n')
    assert proc.returncode == 1
    assert "stdin:3: boom" in proc.stderr


def test_a_lone_dash_runs_stdin_as_lua_does(cli):
    proc = cli("-", "x", "--k", "v", input="return {ARGS[0], ARGS[1], ARGS.k}\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '["-","x","v"]\n'


def test_exec_dash_reads_the_code_from_stdin(cli):
    proc = cli("exec", "-", input="print(1 + 1)\nreturn {a = 1}\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '2\n{"a":1}\n'


# -- #!/usr/bin/env llmspell ----------------------------------------------------------------

SHEBANG = '#!/usr/bin/env llmspell\nprint(ARGS[0], ARGS[1], ARGS.name, ARGS.flag)\n' \
          'if ARGS.fail then error("failed here") end\nreturn "done"\n'


def test_a_shebang_script_runs_as_a_program(tmp_path, isolated_home):
    script = write(tmp_path, "tool.lua", SHEBANG)
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["./tool.lua", "pos", "--name", "v", "--flag", "--output", "json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # every word after the file is the script's, even one llmspell knows (--output)
    assert proc.stdout == "tool.lua\tpos\tv\ttrue\ndone\n"
    failed = subprocess.run(["./tool.lua", "--fail"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert "tool.lua:3: failed here" in failed.stderr  # the #! line still counts as line 1


def test_file_shorthand_keeps_global_options_before_the_file(cli, tmp_path):
    write(tmp_path, "s.lua", "return {n = #arg, first = arg[1], debug = ARGS.debug}\n")
    proc = cli("--output", "json", "s.lua", "x", "--debug")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"n": 1, "first": "x", "debug": "true"}


def test_file_shorthand_missing_lua_file(cli):
    proc = cli("nope.lua")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: Script file not found: nope.lua")


def test_a_command_name_wins_over_a_file_of_that_name(cli, tmp_path):
    write(tmp_path, "info", "print('the file')\n")
    proc = cli("info")
    assert proc.returncode == 0
    assert proc.stdout.startswith("llmspell:")


# -- -h, -V ---------------------------------------------------------------------------------

def test_short_help_and_version(cli):
    from llmspell import __version__

    for args in (("-h",), ("run", "-h"), ("tools", "list", "-h")):
        proc = cli(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.startswith("Usage: "), args
    version = cli("-V")
    assert version.returncode == 0
    assert version.stdout == f"llmspell {__version__}\n"


# -- global options after the command -------------------------------------------------------

def test_output_after_the_script_is_honoured(cli, tmp_path):
    write(tmp_path, "s.lua", 'print("p") return {a = 1}\n')
    proc = cli("run", "s.lua", "--output", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"a": 1}  # stdout is the one document
    assert proc.stderr == "p\n"


def test_global_options_after_commands_and_subcommands(cli, tmp_path):
    assert cli("exec", "return Debug.getLevel()").stdout == "INFO\n"
    assert cli("exec", "return Debug.getLevel()", "--debug").stdout == "DEBUG\n"
    assert cli("exec", "return Debug.getLevel()", "-v").stdout == "DEBUG\n"
    listed = cli("tools", "list", "--output", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["name"]
    write(tmp_path, "c.toml", "[runtime]\n")
    shown = cli("info", "--all", "-c", "c.toml")
    assert "config_file: c.toml" in shown.stdout
    # after the command, the option wins over the same option before it
    assert cli("--output", "pretty", "exec", "return 1", "--output", "text").stdout == "1\n"


def test_a_commands_own_option_of_the_same_name_stays_its_own(cli, tmp_path):
    proc = cli("init", "--output", "mine.toml")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine.toml").is_file()


def test_script_options_go_after_double_dash(cli, tmp_path):
    write(tmp_path, "s.lua", "return {name = ARGS.name, one = ARGS[1], n = #arg}\n")
    ok = cli("run", "s.lua", "--timeout", "5", "--", "--name", "v", "--output", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"name": "v", "n": 0}  # text mode: --output was ARGS'
    bare = cli("run", "s.lua", "w")  # a bare word before -- is positional, as before
    assert json.loads(bare.stdout) == {"one": "w", "n": 1}
    refused = cli("run", "s.lua", "--name", "v")
    assert refused.returncode == 2
    assert "No such option: --name" in refused.stderr
    assert "Options for the script go after --" in refused.stderr


# -- shell completion -----------------------------------------------------------------------

# The options detect the user's shell (shellingham); typer's own switch makes them take
# the shell's name instead, so the tests do not depend on the shell that started pytest.
NAMED_SHELL = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def _console(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "llmspell"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **env})


def test_completion_script_and_completions(tmp_path, isolated_home):
    shown = _console(["--show-completion", "bash"], NAMED_SHELL, tmp_path)
    assert shown.returncode == 0
    assert "_LLMSPELL_COMPLETE=complete_bash" in shown.stdout
    words = _console([], {"_LLMSPELL_COMPLETE": "complete_bash", "COMP_WORDS": "llmspell to",
                          "COMP_CWORD": "1"}, tmp_path)
    assert words.stdout.split() == ["tools"]
    options = _console([], {"_LLMSPELL_COMPLETE": "complete_bash",
                            "COMP_WORDS": "llmspell run s.lua --out", "COMP_CWORD": "3"},
                       tmp_path)
    assert options.stdout.split() == ["--output"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_install_completion_writes_the_users_shell_file(tmp_path, isolated_home, shell):
    proc = _console(["--install-completion", shell], NAMED_SHELL, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rc = isolated_home / (".bashrc" if shell == "bash" else ".zshrc")
    assert rc.is_file()
    installed = "".join(p.read_text() for p in isolated_home.rglob("*") if p.is_file())
    assert "_LLMSPELL_COMPLETE" in installed
