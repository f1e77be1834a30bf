"""A provider key goes only to the base URL the user configured for it (issue 10).

A real loopback server records the headers it receives. A script that points an agent at
a URL of its own choosing must not receive the user's key; the URL the user configured
(config file or environment) still gets it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OPENAI_KEY = "sk-user-openai-key-0123456789"
ANTHROPIC_KEY = "sk-ant-user-key-0123456789"


@dataclass
class Recorder:
    port: int
    require_auth: bool = False
    seen: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def auth_headers(self) -> list[str]:
        return [v for h in self.seen for k, v in h.items()
                if k in ("authorization", "x-api-key")]


def _reply(path: str) -> dict[str, Any]:
    if path.endswith("/messages"):
        return {"id": "m1", "type": "message", "role": "assistant", "model": "claude",
                "content": [{"type": "text", "text": "pong"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1}}
    return {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "pong"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            rec.seen.append(headers)
            authed = "authorization" in headers or "x-api-key" in headers
            if rec.require_auth and not authed:
                status, body = 401, {"error": {"message": "missing API key"}}
            else:
                status, body = 200, _reply(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def user_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's keys, and their provider URLs pointing nowhere the test server is."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def lua(lua: Any) -> Any:
    """These tests are about keys, so the user lets scripts reach loopback servers
    (``[tools.network] allow_private_addresses``; without it a script-chosen loopback
    URL is refused outright: test_sec_redteam2_ssrf.py)."""
    runner = lua

    def run(code: str, config: dict[str, Any] | None = None, **kw: Any) -> Any:
        merged = dict(config or {})
        merged.setdefault("tools", {"network": {"allow_private_addresses": True}})
        return runner(code, config=merged, **kw)

    return run


def builder(model: str, url: str, extra: str = "") -> str:
    return (f'local a = Agent.builder():name("x"):model("{model}"):base_url("{url}"){extra}'
            ':build()\nreturn a:invoke({text = "ping"}).text')


def test_script_chosen_base_url_gets_no_openai_key(lua, recorder: Recorder) -> None:
    run = lua(builder("openai/gpt-4o-mini", recorder.url()))
    assert run.value == "pong"  # a keyless local server still works
    assert len(recorder.seen) == 1 and recorder.auth_headers() == []


def test_script_chosen_base_url_gets_no_anthropic_key(lua, recorder: Recorder) -> None:
    run = lua(builder("anthropic/claude-3-5-haiku-latest", recorder.url("")))
    assert run.value == "pong"
    assert len(recorder.seen) == 1 and recorder.auth_headers() == []


def test_register_with_a_base_url_gets_no_key(lua, recorder: Recorder) -> None:
    lua(f"""
      Agent.register({{name = "r", model = "openai/gpt-4o-mini", base_url = "{recorder.url()}"}})
      return Agent.get("r"):invoke({{text = "ping"}}).text
    """)
    assert len(recorder.seen) == 1 and recorder.auth_headers() == []


def test_key_is_not_sent_even_when_the_config_names_another_url(lua, recorder: Recorder
                                                                ) -> None:
    config = {"providers": {"openai": {"provider_type": "openai",
                                       "base_url": "http://127.0.0.1:9/v1"}}}
    lua(builder("openai/gpt-4o-mini", recorder.url()), config=config)
    assert recorder.auth_headers() == []


@pytest.mark.parametrize("path", ["/v1evil", "/", "/other/v1"])
def test_same_host_outside_the_configured_path_gets_no_key(lua, recorder: Recorder,
                                                          path: str) -> None:
    config = {"providers": {"openai": {"provider_type": "openai", "base_url": recorder.url()}}}
    lua(builder("openai/gpt-4o-mini", recorder.url(path)) + "", config=config)
    assert recorder.auth_headers() == []


def test_auth_requiring_server_fails_with_a_clear_error(lua, recorder: Recorder) -> None:
    recorder.require_auth = True
    run = lua(f"""
      local a = Agent.builder():name("x"):model("openai/gpt-4o-mini")
        :base_url("{recorder.url()}"):build()
      local ok, err = pcall(function() return a:invoke({{text = "ping"}}) end)
      return {{ok, tostring(err)}}
    """)
    ok, err = run.value
    assert ok is False and "HTTP 401" in err
    assert "not sent" in err and "base_url" in err
    assert OPENAI_KEY not in err and recorder.auth_headers() == []


# -- what the user configured keeps working ----------------------------------------------

def test_user_configured_base_url_gets_the_key(lua, recorder: Recorder) -> None:
    config = {"providers": {"openai": {"provider_type": "openai", "base_url": recorder.url()}}}
    run = lua('local a = Agent.builder():name("x"):model("openai/gpt-4o-mini"):build()\n'
              'return a:invoke({text = "ping"}).text', config=config)
    assert run.value == "pong"
    assert recorder.auth_headers() == [f"Bearer {OPENAI_KEY}"]


def test_script_naming_the_configured_url_gets_the_key(lua, recorder: Recorder) -> None:
    config = {"providers": {"openai": {"provider_type": "openai", "base_url": recorder.url()}}}
    lua(builder("openai/gpt-4o-mini", recorder.url() + "/"), config=config)
    assert recorder.auth_headers() == [f"Bearer {OPENAI_KEY}"]


def test_env_configured_base_url_gets_the_key(lua, recorder: Recorder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", recorder.url())
    monkeypatch.setenv("ANTHROPIC_BASE_URL", recorder.url(""))
    lua(builder("openai/gpt-4o-mini", recorder.url()))
    lua('return Agent.builder():name("y"):model("anthropic/claude-3-5-haiku-latest"):build()'
        ':invoke({text = "ping"}).text')
    assert recorder.auth_headers() == [f"Bearer {OPENAI_KEY}", ANTHROPIC_KEY]


def test_the_scripts_own_key_goes_to_its_own_url(lua, recorder: Recorder) -> None:
    lua(builder("openai/gpt-4o-mini", recorder.url(), ':api_key("script-own-key-123")'))
    assert recorder.auth_headers() == ["Bearer script-own-key-123"]


def test_a_url_from_a_config_in_the_cwd_gets_no_key(cli, tmp_path, recorder: Recorder) -> None:
    # run 1 could have written this file: its provider URL is not the user's word
    (tmp_path / "llmspell.toml").write_text(
        f'[providers.openai]\nprovider_type = "openai"\nbase_url = "{recorder.url()}"\n')
    (tmp_path / "s.lua").write_text(
        'print(Agent.builder():name("x"):model("openai/gpt-4o-mini"):build()'
        ':invoke({text = "ping"}).text)\n')
    proc = cli("run", "s.lua")
    assert proc.returncode == 0, proc.stderr
    assert "pong" in proc.stdout
    assert len(recorder.seen) == 1 and recorder.auth_headers() == []
    # the same file named by the user with -c is trusted
    assert cli("-c", "llmspell.toml", "run", "s.lua").returncode == 0
    assert recorder.auth_headers() == [f"Bearer {OPENAI_KEY}"]
