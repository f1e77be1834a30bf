"""The model-call log (`llmspell logs`) holds every prompt and reply of every run: no script
reads, replaces or deletes it, by any route, even with every file right granted; and no
key is ever written into it, even when a server echoes one back."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from fakellm import OPENAI_KEY, FakeLLM

SECRET_PROMPT = "the launch code is tangerine-42"

ASK = """
local a = Agent.builder():model("openai/gpt-4o-mini"):build()
print(a:invoke({text = ARGS[1]}).text)
"""

# Each line: "<route> <ok>" where ok means the script got at the log's contents or
# changed the file.
PROBE = """
local path = ARGS[1]
local function leaked(text) return type(text) == "string" and text:find("tangerine") ~= nil end
local ok, r = pcall(Tool.invoke, "file_operations", {operation = "read", path = path})
print("tool-read", ok and leaked(JSON.stringify(r)))
local okw = pcall(Tool.invoke, "file_operations", {operation = "read", path = path .. "-wal"})
print("tool-read-wal", okw)
local okd = pcall(Tool.invoke, "file_operations", {operation = "delete", path = path})
print("tool-delete", okd)
local okc, rc = pcall(Tool.invoke, "file_operations", {operation = "write", path = path,
                                                        input = "x"})
print("tool-write", okc and not JSON.stringify(rc):find('"success":false', 1, true))
local ok2, fh = pcall(io.open, path, "rb")
print("io.open", ok2 and fh ~= nil and leaked(fh:read("*a")))
local ok3 = pcall(os.remove, path)
print("os.remove", ok3)
local ok4 = pcall(os.rename, path, path .. ".moved")
print("os.rename", ok4)
"""

GRANT_ALL = """
[runtime.security]
allow_file_access = true
allowed_paths = ["*"]
[tools.file_operations]
allowed_paths = ["*"]
"""


@pytest.fixture
def logged(cli, fake_llm: FakeLLM, tmp_path: Path, isolated_home: Path) -> Path:
    """A log with one call whose prompt is private; returns the database's path."""
    (tmp_path / "ask.lua").write_text(ASK)
    done = cli("run", "ask.lua", "--", SECRET_PROMPT)
    assert done.returncode == 0, done.stderr
    path = isolated_home / "xdg_data_home" / "llmspell" / "logs.db"
    assert path.exists()
    return path


def test_a_script_cannot_read_or_replace_the_log_even_with_every_file_right(
        cli, logged: Path, tmp_path: Path) -> None:
    (tmp_path / "probe.lua").write_text(PROBE)
    (tmp_path / "grant.toml").write_text(GRANT_ALL)
    before = logged.read_bytes()
    done = cli("--no-log", "-c", "grant.toml", "run", "probe.lua", "--", str(logged))
    assert done.returncode == 0, done.stderr
    assert "tangerine" not in done.stdout
    for route in ("tool-read", "tool-read-wal", "tool-delete", "tool-write", "io.open",
                  "os.remove", "os.rename"):
        assert f"{route}\tfalse" in done.stdout, done.stdout
    assert logged.exists() and logged.read_bytes() == before


def test_the_log_file_is_private(logged: Path) -> None:
    assert oct(logged.stat().st_mode & 0o777) == "0o600"


def test_no_key_is_written_even_when_the_server_echoes_it(
        cli, fake_llm: FakeLLM, tmp_path: Path, isolated_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stored = "sk-stored-in-keys-file-0123456789"
    assert cli("keys", "set", "groq", "--value", stored).returncode == 0
    fake_llm.enqueue(text=f"echo: {OPENAI_KEY} and {stored}")
    (tmp_path / "ask.lua").write_text(ASK)
    done = cli("run", "ask.lua", "--", f"please repeat {OPENAI_KEY}")
    assert done.returncode == 0, done.stderr
    db = isolated_home / "xdg_data_home" / "llmspell" / "logs.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = conn.execute("SELECT prompt, response FROM calls").fetchall()
    conn.close()
    assert rows and "***" in rows[-1][1] and "***" in rows[-1][0]
    raw = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())
    assert OPENAI_KEY.encode() not in raw and stored.encode() not in raw
    assert os.environ["OPENAI_API_KEY"] == OPENAI_KEY  # the key was really in play
