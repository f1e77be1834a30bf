"""`llmspell repl` through a real pseudo-terminal and through a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest


def _controlling_tty() -> None:
    """In the child: make the pty its controlling terminal, so Ctrl-C sends SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _controlling_tty_sigint_ignored() -> None:
    """As above, started the way a background job or nohup starts it: SIGINT ignored."""
    import signal

    _controlling_tty()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Terminal:
    """The REPL running on a pty: send keystrokes, read until a prompt shows."""

    def __init__(self, history: Path, cwd: Path, ignore_sigint: bool = False) -> None:
        self.master, slave = pty.openpty()
        env = dict(os.environ, TERM="dumb", NO_COLOR="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmspell", "repl", "--history", str(history)],
            stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True,
            start_new_session=True,
            preexec_fn=_controlling_tty_sigint_ignored if ignore_sigint else _controlling_tty)
        os.close(slave)
        self.seen = ""

    def read_until(self, marker: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        while marker not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} in output: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        head, _, self.seen = self.seen.partition(marker)
        return head

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def entry(self, line: str, prompt: str = "> ") -> str:
        """Type a line; return what was printed before the next prompt (minus the echo)."""
        self.send(line + "\n")
        out = self.read_until("\n" + prompt if not prompt.startswith(">>") else prompt)
        return out.split("\n", 1)[1] if "\n" in out else ""

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=20)
        finally:
            os.close(self.master)


@pytest.fixture(params=[False, True], ids=["sigint", "sigint-ignored-by-parent"])
def terminal(tmp_path, request):
    history = tmp_path / "hist"
    term = Terminal(history, tmp_path, ignore_sigint=request.param)
    yield term
    if term.proc.poll() is None:
        term.proc.kill()
        term.proc.wait()


def test_repl_on_a_pty(terminal, tmp_path):
    banner = terminal.read_until("> ")
    assert "REPL" in banner
    assert terminal.entry("1 + 1").strip() == "2"
    assert terminal.entry("greeting = 'hi'").strip() == ""
    assert terminal.entry("greeting .. ' there', {1, 2}").strip() == '"hi there"\t[1,2]'
    # multi-line input continues with the >> prompt
    terminal.send("function triple(x)\n")
    terminal.read_until(">> ")
    terminal.send("  return x * 3\n")
    terminal.read_until(">> ")
    assert terminal.entry("end").strip() == ""
    assert terminal.entry("triple(14)").strip() == "42"
    # errors are reported and the session goes on
    assert "repl:1: oops" in terminal.entry("error('oops')")
    assert terminal.entry("print('still here')").strip() == "still here"
    # line editing: Ctrl-A jumps to the start of the line
    terminal.send("+ 1\x01" + "41 \n")
    assert terminal.read_until("\n> ").strip().endswith("42")
    terminal.send("\x04")  # Ctrl-D
    assert terminal.close() == 0
    history = (tmp_path / "hist").read_text()
    assert "triple(14)" in history and "greeting = 'hi'" in history


def test_repl_history_is_reloaded_and_up_arrow_recalls(tmp_path):
    history = tmp_path / "hist"
    history.write_text("answer = 6 * 7\n")
    term = Terminal(history, tmp_path)
    try:
        term.read_until("> ")
        term.send("\x1b[A\n")  # up arrow recalls the stored line
        term.read_until("\n> ")
        assert term.entry("answer").strip() == "42"
        term.send("\x04")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_repl_through_a_pipe_uses_the_data_dir_history(cli, isolated_home):
    proc = cli("repl", input="x = 20\nx + 1\nerror('bad')\nos.exit(3)\nprint('not reached')\n")
    assert proc.returncode == 3
    assert "21" in proc.stdout and "not reached" not in proc.stdout
    assert "repl:1: bad" in proc.stderr
    history = isolated_home / "xdg_data_home" / "llmspell" / "repl_history"
    assert "x + 1" in history.read_text()


def test_ctrl_c_stops_a_running_entry_and_clears_a_half_typed_one(terminal):
    terminal.read_until("> ")
    terminal.send("while true do end\n")
    terminal.read_until("while true do end\n")
    time.sleep(0.3)  # let the loop start
    terminal.send("\x03")
    assert "interrupted" in terminal.read_until("\n> ")
    terminal.send("function unfinished()\n")
    terminal.read_until(">> ")
    time.sleep(0.3)  # let readline reach its wait (a signal just before it waits for a key)
    terminal.send("\x03")  # abandons the multi-line entry
    terminal.read_until("> ")
    assert terminal.entry("6 * 7").strip() == "42"
    terminal.send("\x04")
    assert terminal.close() == 0


def test_tab_completes_globals_fields_and_methods(terminal):
    terminal.read_until("> ")
    terminal.send("string.up\t('abc')\n")
    assert terminal.read_until("\n> ").strip().endswith('"ABC"')
    terminal.send("#Workflow.ty\t()\n")  # a lazy global is installed to complete it
    assert terminal.read_until("\n> ").strip().endswith("4")
    terminal.entry("s = Streaming.create(function() Streaming.yield(5) end)")
    terminal.send("s:ne\t()\n")
    assert terminal.read_until("\n> ").strip().endswith("5")
    terminal.send("\x04")
    assert terminal.close() == 0
