"""The output contract a pipe can trust (issue 11 § 3), through real `llmspell` processes
connected by real pipes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

LLMSPELL = [sys.executable, "-m", "llmspell"]


def _read_line(stream: object, timeout: float = 20.0) -> bytes:
    """One line from a pipe, or fail after ``timeout`` (never hang the suite)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no line within {timeout} s (got {data!r})"
        chunk = os.read(fd, 1)
        assert chunk, f"pipe closed after {data!r}"
        data += chunk
    return data


def test_json_mode_stdout_is_one_document_and_prints_go_to_stderr_live(
        tmp_path: Path) -> None:
    script = tmp_path / "x.lua"
    script.write_text('print("starting")\nio.write("partial ")\nprint("line")\n'
                      'local got = io.read("*l")\n'
                      'return {got = got, n = 3, list = {1, 2}, name = "x"}\n')
    producer = subprocess.Popen([*LLMSPELL, "--output", "json", "run", str(script)],
                                cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    checker = subprocess.Popen([sys.executable, "-m", "json.tool"], stdin=producer.stdout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert producer.stdout is not None and producer.stdin is not None
    producer.stdout.close()  # the checker owns the read end now
    try:
        # the print lines arrive on stderr while the script still runs (waits on stdin)
        assert _read_line(producer.stderr) == b"starting\n"
        assert _read_line(producer.stderr) == b"partial line\n"
        producer.stdin.write(b"hello\n")
        producer.stdin.close()
        out, err = checker.communicate(timeout=60)
        assert producer.wait(timeout=60) == 0
    finally:
        for proc in (producer, checker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert checker.returncode == 0, err.decode()
    assert json.loads(out) == {"got": "hello", "n": 3, "list": [1, 2], "name": "x"}
    assert producer.stderr is not None
    assert producer.stderr.read() == b""


def test_pretty_mode_prints_each_console_line_once(tmp_path: Path) -> None:
    ok = subprocess.run([*LLMSPELL, "--output", "pretty", "exec",
                         'print("alpha") print("beta", 2) return {a = 1}'],
                        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("alpha") == 1 and ok.stdout.count("beta\t2") == 1
    assert ok.stdout.startswith("Console Output:\n  alpha\n  beta\t2\n\nOutput: {\n")
    assert "Engine: lua\n" in ok.stdout
    failed = subprocess.run([*LLMSPELL, "--output", "pretty", "exec",
                             'print("before the error") error("boom")'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert failed.stdout == "before the error\n"
    assert "boom" in failed.stderr


@pytest.mark.parametrize(("code", "mode", "printed"), [
    ('return nil, "msg"', "text", "null"),
    ("return 1, 2", "text", "1"),
    ('return "first", {x = 1}', "text", "first"),
    ('return {a = 1}, "second"', "json", '{\n  "a": 1\n}'),
])
def test_several_return_values_print_the_first(tmp_path: Path, code: str, mode: str,
                                                printed: str) -> None:
    proc = subprocess.run([*LLMSPELL, "--output", mode, "exec", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, printed + "\n", "")


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    proc = subprocess.Popen(
        [*LLMSPELL, "exec", "for i = 1, 1000000 do print(i) end return 'unreached'"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = [_read_line(proc.stdout), _read_line(proc.stdout)]
    proc.stdout.close()  # what `| head -2` does
    err = proc.stderr.read()
    status = proc.wait(timeout=60)
    assert first == [b"1\n", b"2\n"]
    assert err == b"" and status == 141
    # a real shell pipeline: head gets its lines, llmspell says nothing on stderr
    shell = subprocess.run(
        ["bash", "-c", f"{' '.join(LLMSPELL)} exec 'for i = 1, 1000000 do print(i) end' "
         f"2>{errors} | head -2; echo status=${{PIPESTATUS[0]}}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shell.stdout == "1\n2\nstatus=141\n"
    assert errors.read_text() == ""
