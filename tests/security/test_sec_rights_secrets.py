"""Secrets never reach a script: os.getenv, Config getters, error messages (issue 10)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

KEY = "sk-user-secret-0123456789abcdef"
SENDGRID = "SG.sendgrid-secret-value-123456"
SES_SECRET = "ses-secret-access-key-987654321"
DB_PASSWORD = "db-hunter2-password"

CONFIG = {
    "tools": {
        "email": {"sendgrid_api_key": SENDGRID, "ses_access_key_id": "AKIAEXAMPLEID",
                  "ses_secret_access_key": SES_SECRET, "smtp_host": "mail.example.org"},
        "database": {"connections": {"main": f"postgres://app:{DB_PASSWORD}@db.local/app"},
                     "nested": {"deeper": {"backup_url": f"mysql://root:{DB_PASSWORD}@h/x"}}},
    },
    "providers": {"openai": {"provider_type": "openai", "api_key": KEY,
                             "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini",
                             "my_service_token": "tok-abcdefgh12345"}},
}


# -- os.getenv ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN",
                                  "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MY_CREDENTIALS",
                                  "PGPASSWORD", "DJANGO_SECRETKEY", "GHTOKEN"])
def test_getenv_of_a_secret_name_is_nil(lua, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, KEY)
    assert lua(f"return os.getenv('{name}') == nil").value is True


def test_getenv_of_ordinary_names_still_works(lua, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMSPELL_TEST_GREETING", "hello there")
    run = lua("return {os.getenv('HOME'), os.getenv('LLMSPELL_TEST_GREETING'),"
              " os.getenv('NO_SUCH_VAR_XYZ') == nil}")
    assert run.value[0] and run.value[1] == "hello there" and run.value[2] is True


def test_getenv_hides_credentials_inside_an_ordinary_variable(
        lua, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgres://app:{DB_PASSWORD}@db/app")
    value = lua("return os.getenv('DATABASE_URL')").value
    assert DB_PASSWORD not in value and value.startswith("postgres://app:")


def test_getenv_rejects_a_non_string(lua) -> None:
    run = lua("local ok, e = pcall(os.getenv, {}) return {ok, tostring(e)}")
    assert run.value[0] is False and "getenv" in run.value[1]


# -- Config -----------------------------------------------------------------------------

def _dump(value: object) -> str:
    return json.dumps(value, default=str)


@pytest.mark.parametrize("call", ["Config.get()", "Config.get('tools')",
                                  "Config.get('tools.email')", "Config.getSection('tools')",
                                  "Config.getTools()", "Config.get('tools.database')",
                                  "Config.getProvider('openai')", "Config.get('providers')"])
def test_config_getters_hide_every_secret(lua, call: str) -> None:
    text = _dump(lua(f"return {call}", config=CONFIG).value)
    for secret in (KEY, SENDGRID, SES_SECRET, DB_PASSWORD, "tok-abcdefgh12345"):
        assert secret not in text, (call, secret)


def test_config_keeps_ordinary_values_and_url_users(lua) -> None:
    run = lua("return {Config.get('tools.email.smtp_host'),"
              " Config.get('tools.database.connections.main'),"
              " Config.get('tools.email.sendgrid_api_key'),"
              " Config.getProvider('openai').model}", config=CONFIG)
    host, url, masked, model = run.value
    assert host == "mail.example.org" and model == "gpt-4o-mini"
    assert url.startswith("postgres://app:") and url.endswith("@db.local/app")
    assert masked == "***"


def test_config_leaf_lookup_of_a_nested_secret_is_masked(lua) -> None:
    v = lua("return Config.get('tools.email.ses_secret_access_key')", config=CONFIG).value
    assert v == "***"


# -- error messages -------------------------------------------------------------------------

class _EchoKeyHandler(BaseHTTPRequestHandler):
    """A server that, like a real provider, quotes the key it rejects."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization") or ""
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth[7:]}"}})
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoKeyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_quoting_the_key_reaches_the_script_redacted(lua, echo_server: str) -> None:
    config = {"providers": {"openai": {"provider_type": "openai", "api_key": KEY,
                                       "base_url": echo_server, "max_retries": 0}}}
    run = lua("""
      local a = Agent.builder():name("e"):model("openai/gpt-4o-mini"):build()
      local ok, err = pcall(function() return a:invoke({text = "hi"}) end)
      return {ok, tostring(err)}
    """, config=config)
    ok, err = run.value
    assert ok is False and "Incorrect API key provided" in err
    assert KEY not in err


def test_an_error_with_a_secret_reaches_the_terminal_redacted(cli, tmp_path: Path,
                                                             echo_server: str) -> None:
    (tmp_path / "c.toml").write_text(
        f'[providers.openai]\nprovider_type = "openai"\nbase_url = "{echo_server}"\n'
        'max_retries = 0\n')
    (tmp_path / "s.lua").write_text(
        'local a = Agent.builder():name("e"):model("openai/gpt-4o-mini"):build()\n'
        'a:invoke({text = "hi"})\n')
    proc = cli("-c", "c.toml", "run", "s.lua", env={"OPENAI_API_KEY": KEY,
                                                   "NO_PROXY": "127.0.0.1"})
    assert proc.returncode == 1
    assert "Incorrect API key provided" in proc.stderr
    assert KEY not in proc.stderr and KEY not in proc.stdout


def test_provider_errors_never_carry_a_known_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # workflow results and events carry provider error texts as data, not as Lua errors
    from llmspell.errors import NeedsKeyError, ProviderError

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for cls in (ProviderError, NeedsKeyError):
        exc = cls(f"openai: authentication failed (HTTP 401): Incorrect API key: {KEY}")
        assert KEY not in str(exc) and "Incorrect API key: ***" in str(exc)


def test_config_credentials_are_redacted_from_error_texts_but_not_prefixes() -> None:
    from llmspell import config, secret_filter

    config.from_dict({"tools": {"email": {"sendgrid_api_key": "SG.literal-config-key-1"},
                                "web_search": {"key_prefix": "ordinary-prefix:"}}}, environ={})
    text = secret_filter.redact_text("failed with SG.literal-config-key-1 at ordinary-prefix:x")
    assert "SG.literal" not in text and "ordinary-prefix:x" in text
