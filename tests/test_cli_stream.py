"""`llmspell run --stream`: agent replies reach the terminal as they arrive (a real CLI
subprocess against the project's fake LLM server, which holds its stream half-way until
the test has seen the first piece)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
local agent = Agent.builder():name("streamer"):model("openai/gpt-4o-mini"):build()
local reply = agent:invoke({text = "hi"})
print("script got " .. #reply.text .. " characters")
"""
REPLY = "alpha beta gamma delta epsilon zeta"
FIRST = "alpha beta gamma "  # the fake server's first stream piece (three words)


def _spawn(args: list[str], env: dict[str, str], cwd: Path, tty: bool
           ) -> tuple[subprocess.Popen, int]:
    """The CLI with stdout on a pseudo-terminal or a pipe; returns it and the fd to read."""
    if tty:
        reader, writer = os.openpty()
    else:
        reader, writer = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", *args], cwd=cwd,
                            env={**os.environ, **env}, stdout=writer,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(writer)
    return proc, reader


def _read_until(fd: int, seen: bytearray, wanted: bytes, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # a pty reports EIO once the child has gone
                return wanted in seen
            if not data:
                break
            seen.extend(data)
    return wanted in seen


@pytest.mark.parametrize("tty", [True, False], ids=["terminal", "pipe"])
def test_stream_shows_the_first_piece_before_the_reply_ends(fake_llm, tmp_path,
                                                             isolated_home, tty):
    (tmp_path / "s.lua").write_text(SCRIPT)
    fake_llm.enqueue(text=REPLY, hold_after=2)  # the role event and the first piece
    proc, fd = _spawn(["run", "s.lua", "--stream"], fake_llm.env(), tmp_path, tty)
    seen = bytearray()
    try:
        first = _read_until(fd, seen, FIRST.strip().encode(), timeout=30)
        still_running = proc.poll() is None
        fake_llm.release()
        _read_until(fd, seen, b"null", timeout=30)
        proc.wait(timeout=30)
    finally:
        fake_llm.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(fd)
    text = bytes(seen).decode().replace("\r\n", "\n")
    assert first, f"the first piece never arrived while the reply was held: {text!r}"
    assert still_running
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert text == f"{REPLY}\nscript got {len(REPLY)} characters\nnull\n"
    assert fake_llm.log()[0]["stream"] is True


def test_without_stream_the_request_is_not_streamed(cli, fake_llm, tmp_path):
    (tmp_path / "s.lua").write_text(SCRIPT)
    fake_llm.enqueue(text=REPLY)
    proc = cli("run", "s.lua", env=fake_llm.env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"script got {len(REPLY)} characters\nnull\n"
    assert fake_llm.log()[0]["stream"] is False


def test_stream_with_json_output_keeps_stdout_one_document(cli, fake_llm, tmp_path):
    (tmp_path / "s.lua").write_text(SCRIPT + "return {done = true}\n")
    fake_llm.enqueue(text=REPLY)
    proc = cli("--output", "json", "exec", (tmp_path / "s.lua").read_text(), "--stream",
               env=fake_llm.env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"done": True}
    assert proc.stderr == f"{REPLY}\nscript got {len(REPLY)} characters\n"


def test_invoke_stream_callbacks_keep_their_pieces(cli, fake_llm, tmp_path):
    """A reply the script streams itself (agent:invokeStream) is not shown a second time."""
    (tmp_path / "s.lua").write_text("""
local agent = Agent.builder():name("cb"):model("openai/gpt-4o-mini"):build()
local n = 0
agent:invokeStream({text = "hi"}, function(chunk) n = n + 1 end)
return n
""")
    fake_llm.enqueue(text=REPLY)
    proc = cli("run", "s.lua", "--stream", env=fake_llm.env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2\n"


def test_record_and_play_back_with_stream(cli, fake_llm, tmp_path):
    from test_agent_cli import offline_env

    (tmp_path / "s.lua").write_text(SCRIPT)
    tape = tmp_path / "tape.json"
    fake_llm.enqueue(text=REPLY)
    recorded = cli("run", "s.lua", "--stream", "--record", str(tape), env=fake_llm.env())
    assert recorded.returncode == 0, recorded.stderr
    played = cli("run", "s.lua", "--stream", "--playback", str(tape), env=offline_env())
    assert played.returncode == 0, played.stderr
    assert played.stdout == recorded.stdout == \
        f"{REPLY}\nscript got {len(REPLY)} characters\nnull\n"
