"""The REPL's `.help`, banner and display of long values, on a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import struct
import termios

import pytest
from test_repl import Terminal

from llmspell.cli.repl import display

COLUMNS = 80


@pytest.fixture
def term(tmp_path):
    terminal = Terminal(tmp_path / "hist", tmp_path)
    fcntl.ioctl(terminal.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    yield terminal
    if terminal.proc.poll() is None:
        terminal.proc.kill()
        terminal.proc.wait()


def test_banner_help_and_long_values(term):
    banner = term.read_until("> ")
    assert ".help" in banner
    shown = term.entry(".help")
    assert shown.startswith("Type Lua and press Enter.")
    assert "``" not in shown and ".exit" in shown and "Tab completes" in shown
    listed = term.entry("Tool.list()")
    lines = listed.rstrip("\n").split("\n")
    assert 10 < len(lines) <= 31, listed  # indented, then cut
    assert lines[0] == "[" and lines[1].startswith("  {")
    assert lines[-1].startswith("... ") and "more lines" in lines[-1]
    assert max(len(line) for line in lines) <= COLUMNS
    assert term.entry("{1, 2}").strip() == "[1,2]"  # short values stay on one line
    term.send("\x04")
    assert term.close() == 0


def test_a_pipe_gets_the_whole_value_on_one_line(cli):
    proc = cli("repl", input="Tool.list()\n")
    assert proc.returncode == 0
    line = proc.stdout.removeprefix("> ").split("\n")[0]  # prompts go to stdout too
    assert line.startswith("[{") and line.endswith("}]") and len(line) > 2000


def test_display_rules():
    assert display('"a"\t[1,2]', 80) == '"a"\t[1,2]'
    wide = "[" + ",".join(f'{{"n":{i}}}' for i in range(40)) + "]"
    out = display(wide, 40, max_lines=5).split("\n")
    assert out[:3] == ["[", "  {", '    "n": 0']
    assert out[-1].startswith("... ") and len(out) == 6
    assert display("x" * 100, 20) == "x" * 17 + "..."
