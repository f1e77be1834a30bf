"""Onboarding commands through the real CLI: `init` (a commented config that validates),
`keys set/get/list/path/remove` (a 0600 file, used after the environment variables) and
`providers` (every built-in type, where the key comes from, whether it answers)."""

from __future__ import annotations

import json
import os
import socket
import stat
import tomllib
from pathlib import Path

import pytest
from fakellm import OPENAI_KEY, FakeLLM

from llmspell import config
from llmspell.cli.init_config import SECTIONS, commented_config, schema_default
from llmspell.providers.registry import TYPES


@pytest.fixture(autouse=True)
def no_keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own provider variables must not decide these tests."""
    for var in list(os.environ):
        if var.endswith(("_API_KEY", "_BASE_URL")) or var == "OLLAMA_HOST":
            monkeypatch.delenv(var)


def dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def keys_file(home: Path) -> Path:
    return home / "xdg_config_home" / "llmspell" / "keys.json"


# -- init -----------------------------------------------------------------------------------

def test_init_writes_a_commented_config_that_validates_without_warnings(cli, tmp_path):
    done = cli("init")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "llmspell.toml").read_text()
    assert 40 <= len(text.splitlines()) <= 70
    assert "[providers.openai]" in text and 'default_model = "gpt-4o-mini"' in text
    assert "llmspell keys set openai" in done.stdout  # next steps: a key,
    assert "llmspell run " in done.stdout and "llmspell validate" in done.stdout
    for line in text.splitlines():  # every setting line says what it is for
        if "=" in line and not line.startswith("#"):
            assert "#" in line or line.startswith(("provider_type", "default_model")), line
    checked = cli("validate")  # found in the current folder, as a new user would
    assert checked.returncode == 0, checked.stderr
    assert "llmspell.toml" in checked.stdout
    assert checked.stderr == ""  # no unknown key, nothing dropped
    providers = cli("providers", "--no-check")
    assert "openai: type=openai model=gpt-4o-mini" in providers.stdout


def test_the_init_template_is_the_schema_defaults() -> None:
    data = tomllib.loads(commented_config())
    settings = config.from_dict(data, environ={})
    assert settings.warnings == []
    for section, keys in SECTIONS:
        for key, _comment, _example in keys:
            path = f"{section}.{key}"
            default = schema_default(path)  # KeyError: the template names a removed key
            assert settings.get(path) == default, path
            written = config.Settings(data).get(path)
            assert written == default, f"{path} written as {written!r}"


def test_every_key_of_the_template_exists_in_the_schema() -> None:
    def leaves(node: dict, prefix: str = "") -> list[str]:
        out = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            out += leaves(value, path + ".") if isinstance(value, dict) else [path]
        return out

    data = tomllib.loads(commented_config())
    data.pop("providers")
    for path in leaves(data):
        schema_default(path)


# -- keys -----------------------------------------------------------------------------------

def test_keys_set_from_stdin_makes_a_private_file_and_list_shows_names_only(
        cli, isolated_home: Path) -> None:
    secret = "sk-from-stdin-0123456789"
    done = cli("keys", "set", "openai", input=secret + "\n")
    assert done.returncode == 0, done.stderr
    path = keys_file(isolated_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["openai"] == secret
    assert secret not in done.stdout + done.stderr
    listed = cli("keys", "list")
    assert listed.stdout.split() == ["openai"] and secret not in listed.stdout
    assert cli("keys", "get", "openai").stdout.strip() == secret
    assert cli("keys", "path").stdout.strip() == str(path)
    missing = cli("keys", "get", "nope")
    assert missing.returncode == 1 and "no stored key named 'nope'" in missing.stderr


def test_keys_set_with_value_replaces_and_remove_forgets(cli, isolated_home: Path) -> None:
    assert cli("keys", "set", "groq", "--value", "gsk-one-0123456789").returncode == 0
    assert cli("keys", "set", "groq", "--value", "gsk-two-0123456789").returncode == 0
    assert cli("keys", "set", "work", "--value", "sk-work-0123456789").returncode == 0
    assert cli("keys", "get", "groq").stdout.strip() == "gsk-two-0123456789"
    assert cli("--output", "json", "keys", "list").stdout.count('"') == 4
    assert cli("keys", "remove", "groq").returncode == 0
    assert cli("keys", "list").stdout.split() == ["work"]
    assert stat.S_IMODE(keys_file(isolated_home).stat().st_mode) == 0o600


def test_keys_set_refuses_an_empty_key_and_a_bad_name(cli) -> None:
    empty = cli("keys", "set", "openai", input="")
    assert empty.returncode == 1 and "empty" in empty.stderr
    bad = cli("keys", "set", "../x", "--value", "sk-0123456789")
    assert bad.returncode == 1 and "bad key name" in bad.stderr


def test_a_damaged_keys_file_is_named(cli, isolated_home: Path) -> None:
    path = keys_file(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    done = cli("keys", "list")
    assert done.returncode == 1 and str(path) in done.stderr and "Traceback" not in done.stderr


def test_a_stored_key_reaches_the_provider_after_the_environment(
        cli, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    (tmp_path / "a.lua").write_text(
        'local a = Agent.builder():model("openai/gpt-4o-mini"):build()\n'
        'print(a:invoke({text = "hi"}).text)\n')
    nokey = cli("--no-log", "run", "a.lua")
    assert nokey.returncode == 1 and "llmspell keys set openai" in nokey.stderr
    assert cli("keys", "set", "openai", "--value", OPENAI_KEY).returncode == 0
    done = cli("--no-log", "run", "a.lua")
    assert done.returncode == 0, done.stderr
    assert "[stub gpt-4o-mini" in done.stdout
    assert fake_llm.log()[-1]["auth"] == "ok"
    # the environment wins over the keys file
    wrong_env = cli("--no-log", "run", "a.lua", env={"OPENAI_API_KEY": "sk-wrong-0123456789"})
    assert wrong_env.returncode == 1 and fake_llm.log()[-1]["auth"] == "invalid"
    listed = cli("providers", "--no-check")
    assert "openai: type=openai model=- key=keys file (openai)" in listed.stdout


# -- providers ------------------------------------------------------------------------------

def test_providers_lists_every_builtin_type_with_its_key_source(
        cli, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    done = cli("--output", "json", "providers")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert set(TYPES) <= set(rows)
    assert rows["openai"]["key"] == "env OPENAI_API_KEY" and rows["openai"]["configured"]
    assert rows["openai"]["status"] == "reachable"
    assert rows["ollama"]["status"] == "reachable"  # OLLAMA_HOST points at the fake server
    assert rows["anthropic"]["key"] == "none" and not rows["anthropic"]["configured"]
    assert rows["anthropic"]["status"].startswith("no key:")
    assert OPENAI_KEY not in done.stdout + done.stderr
    assert "status" not in rows["openai_compatible"]  # no URL to ask


def test_providers_exits_1_when_a_configured_one_does_not_answer(
        cli, fake_llm: FakeLLM, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(f'[providers.down]\nprovider_type = "ollama"\n'
                                     f'base_url = "{dead_url()}"\n')
    done = cli("-c", "c.toml", "providers", "--timeout", "2")
    assert done.returncode == 1
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert "status=unreachable: cannot connect" in lines["down"]
    assert "status=reachable" in lines["openai"]
    assert "not answering: down" in done.stderr
    assert cli("-c", "c.toml", "providers", "--no-check").returncode == 0


def test_providers_without_a_check_does_not_call_out(cli, fake_llm: FakeLLM) -> None:
    done = cli("providers", "--no-check")
    assert done.returncode == 0, done.stderr
    assert "status=" not in done.stdout and fake_llm.log() == []


def test_keys_set_on_a_terminal_prompts_without_echo(isolated_home: Path) -> None:
    """On a terminal the key is typed at a hidden prompt: it never shows on the screen."""
    import pty
    import select
    import sys
    import time

    secret = "sk-typed-at-the-prompt-0123456789"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "llmspell", "keys", "set", "openai"],
                   dict(os.environ))
    screen = b""

    def read_until(marker: bytes, limit: float = 30) -> None:
        nonlocal screen
        deadline = time.monotonic() + limit
        while marker not in screen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    screen += os.read(fd, 1024)
                except OSError:  # the child closed the terminal
                    return

    read_until(b"Enter key:")
    assert b"Enter key:" in screen, screen
    os.write(fd, secret.encode() + b"\n")
    read_until(b"Saved key")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert secret.encode() not in screen
    assert json.loads(keys_file(isolated_home).read_text())["openai"] == secret
