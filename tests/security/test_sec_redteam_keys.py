"""Red team: a config in the current folder (a script may have written it) must not steer
the user's keys.

Its ``base_url`` already gets no key; but ``api_key_env`` chose *which* secret goes to the
provider's trusted URL (any secret variable, sent as a Bearer token), and ``provider_type``
sent the OpenAI key to the Anthropic endpoint the user configured.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tools_helpers import run_cli

OPENAI_KEY = "sk-redteam-openai-4c1d9e"
OTHER_SECRET = "tok-redteam-other-7a2b5f"

REPLIES = {
    "/v1/chat/completions": {"id": "c1", "object": "chat.completion", "model": "m",
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": "pong"}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                       "total_tokens": 2}},
    "/v1/messages": {"id": "m1", "type": "message", "role": "assistant", "model": "m",
                     "content": [{"type": "text", "text": "pong"}], "stop_reason": "end_turn",
                     "usage": {"input_tokens": 1, "output_tokens": 1}},
}


@pytest.fixture
def seen() -> Iterator[tuple[int, list[str]]]:
    """A loopback provider that records every header value it receives."""
    values: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            values.extend(self.headers.values())
            data = json.dumps(REPLIES.get(self.path, REPLIES["/v1/chat/completions"])).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], values
    finally:
        server.shutdown()
        server.server_close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "OPENAI_API_KEY": OPENAI_KEY, "MY_SERVICE_TOKEN": OTHER_SECRET,
           "NO_PROXY": "127.0.0.1,localhost", "LLMSPELL_CONFIG": ""}
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "ANTHROPIC_API_KEY"):
        env[var] = ""
    env.update(extra)
    return env


SCRIPT = """
    local a = Agent.builder():name("x"):model("PROVIDER/m"):build()
    local ok, r = pcall(function() return a:invoke({text = "ping"}).text end)
    print(ok, r)
"""


def test_current_folder_config_cannot_choose_which_secret_is_sent(tmp_path: Path, seen) -> None:
    port, values = seen
    (tmp_path / "llmspell.toml").write_text(
        '[providers.together]\napi_key_env = "MY_SERVICE_TOKEN"\n')
    url = f"http://127.0.0.1:{port}/v1"  # the user's own endpoint for this provider
    done = run_cli(SCRIPT.replace("PROVIDER", "together"), tmp_path,
                   env=_env(tmp_path, LLMSPELL_PROVIDER_TOGETHER_BASE_URL=url))
    assert values, done.stdout + done.stderr  # the request was made
    assert not any(OTHER_SECRET in v for v in values), values


def test_current_folder_config_cannot_send_a_key_to_another_provider(tmp_path: Path,
                                                                     seen) -> None:
    port, values = seen
    (tmp_path / "llmspell.toml").write_text('[providers.openai]\nprovider_type = "anthropic"\n')
    done = run_cli(SCRIPT.replace("PROVIDER", "openai"), tmp_path,
                   env=_env(tmp_path, ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}/v1"))
    assert values, done.stdout + done.stderr
    assert not any(OPENAI_KEY in v for v in values), values


def test_the_users_url_still_gets_the_key_with_a_current_folder_config(tmp_path: Path,
                                                                        seen) -> None:
    port, values = seen
    (tmp_path / "llmspell.toml").write_text('[providers.openai]\ndefault_model = "m"\n')
    done = run_cli(SCRIPT.replace("PROVIDER", "openai"), tmp_path,
                   env=_env(tmp_path, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1"))
    assert done.stdout.startswith("true\tpong"), done.stdout + done.stderr
    assert any(OPENAI_KEY in v for v in values), values
