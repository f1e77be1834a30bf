"""The stored API keys (`llmspell keys set`) are the user's: no script reads the keys file,
by any route, even with every file right granted; and a stored key that reaches text a
script sees (a copy of it in a file the script may read) is shown as ***."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakellm import OPENAI_KEY, FakeLLM

KEY = "sk-stored-key-0123456789abcdef"

# Every route to the file a script has; each prints "<route> <ok>" (ok = it read the key).
PROBE = """
local path = ARGS[1]
local function has_key(text) return type(text) == "string" and text:find("sk%-stored") ~= nil end
local ok0, r = pcall(Tool.invoke, "file_operations", {operation = "read", path = path})
print("tool", ok0 and has_key(JSON.stringify(r)))
local ok, fh = pcall(io.open, path, "r")
print("io.open", ok and fh ~= nil and has_key(fh:read("*a")))
local ok2, lines = pcall(io.lines, path)
print("io.lines", ok2 and has_key(lines and lines()))
local ok3, data = pcall(function()
  return Tool.invoke("file_operations", {operation = "read", path = path .. "/../keys.json"})
end)
print("dotdot", ok3 and has_key(data and JSON.stringify(data)))
"""

GRANT_ALL = """
[runtime.security]
allow_file_access = true
allowed_paths = ["*"]
[tools.file_operations]
allowed_paths = ["*"]
"""


def _store(cli, value: str = KEY) -> Path:
    done = cli("keys", "set", "openai", input=value + "\n")
    assert done.returncode == 0, done.stderr
    return Path(cli("keys", "path").stdout.strip())


def test_a_script_cannot_read_the_keys_file_even_with_every_file_right(
        cli, tmp_path: Path) -> None:
    keys = _store(cli)
    (tmp_path / "probe.lua").write_text(PROBE)
    (tmp_path / "grant.toml").write_text(GRANT_ALL)
    done = cli("--no-log", "-c", "grant.toml", "run", "probe.lua", "--", str(keys))
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    for route in ("tool", "io.open", "io.lines", "dotdot"):
        assert f"{route}\tfalse" in done.stdout, done.stdout


def test_a_stored_key_copied_where_a_script_may_read_is_redacted(cli, tmp_path: Path) -> None:
    _store(cli)
    copy = tmp_path / "notes.txt"
    copy.write_text(f"my key is {KEY}\n")
    (tmp_path / "read.lua").write_text(
        'local r = Tool.invoke("file_operations", {operation = "read", path = ARGS[1]})\n'
        'print(JSON.stringify(r))\n')
    done = cli("--no-log", "run", "read.lua", "--", str(copy))
    assert done.returncode == 0, done.stderr
    assert "my key is" in done.stdout
    assert KEY not in done.stdout and "***" in done.stdout


def test_keys_never_appear_in_keys_list_or_set_output(cli) -> None:
    keys = _store(cli)
    listed = cli("keys", "list")
    assert KEY not in listed.stdout + listed.stderr
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert oct(keys.parent.stat().st_mode & 0o077) != "0o077"  # not world-writable folder



def test_a_stored_key_goes_only_where_the_user_pointed_it(
        cli, fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config in the current folder (a script may have written it) points openai at
    another server: the stored key is not sent there, as for a key in the environment;
    and a script's own :base_url() gets no stored key either."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var)
    _store(cli, OPENAI_KEY)
    (tmp_path / "llmspell.toml").write_text(
        f'[providers.openai]\nbase_url = "{fake_llm.url}/v1"\n')
    (tmp_path / "ask.lua").write_text(
        'local a = Agent.builder():model("openai/gpt-4o-mini"):build()\n'
        'print(pcall(a.invoke, a, {text = "hi"}))\n')
    done = cli("--no-log", "run", "ask.lua")
    assert done.returncode == 0, done.stderr
    assert [e["auth"] for e in fake_llm.log()] == ["missing"]
    (tmp_path / "llmspell.toml").unlink()
    (tmp_path / "own.lua").write_text(
        f'local a = Agent.builder():model("openai/gpt-4o-mini"):base_url("{fake_llm.url}/v1")'
        ':build()\nprint(pcall(a.invoke, a, {text = "hi"}))\n')
    (tmp_path / "user.toml").write_text("[tools.network]\nallow_private_addresses = true\n")
    done = cli("--no-log", "-c", "user.toml", "run", "own.lua")
    assert OPENAI_KEY not in done.stdout + done.stderr
    assert [e["auth"] for e in fake_llm.log()] == ["missing", "missing"]
