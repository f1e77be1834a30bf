"""A script's long error message must not hang the process in the secret filter.

``redact_urls`` used patterns that were quadratic on a long run of letters (a URL scheme
looked for at every position) or of ';' (a query parameter name): a script raising a
1 MB error containing '=' kept the process busy for many minutes after the script ended,
outside its own time limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmspell.secret_filter import redact_urls


@pytest.mark.parametrize("code", [
    "error(string.rep('x', 1000000) .. '=1')",
    "error('=' .. string.rep(';', 1000000))",
    "error('?' .. string.rep('a', 1000000) .. '://')",
])
def test_a_long_error_is_printed_promptly(tmp_path: Path, code: str) -> None:
    (tmp_path / "s.lua").write_text(code + "\n")
    done = subprocess.run([sys.executable, "-m", "llmspell", "run", "s.lua"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: s.lua:1: ")


def test_credentials_are_still_hidden() -> None:
    text = ("x" * 100 + "://u:p@h and https://me:pw@db/x?api_key=abc&page=2 "
            "redis://:hunter2@cache")
    out = redact_urls(text)
    assert "://u:***@h" in out and "me:***@db" in out and "api_key=***&page=2" in out
    assert "hunter2" not in out and "pw@" not in out
