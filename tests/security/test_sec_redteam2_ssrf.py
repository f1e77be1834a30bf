"""Red team 2: an agent pointed by the script at a URL of its own choosing must not reach
loopback/private services (an SSRF read: error messages quote the start of the reply).

The web tools' policy applies (``[tools.network] allow_private_addresses``); URLs the user
configured (env, a rights-granting config, built-in defaults) keep working.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tools_helpers import run_cli

INTERNAL = "internal-admin-page-5e1f0c"
PONG = ('{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,'
        '"finish_reason":"stop","message":{"role":"assistant","content":"pong"}}],'
        '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')


@pytest.fixture
def internal() -> Iterator[tuple[int, list[str]]]:
    """A loopback service: /v1/chat/completions answers as an LLM, anything else leaks."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            paths.append(self.path)
            ok = self.path == "/v1/chat/completions"
            data = (PONG if ok else INTERNAL).encode()
            self.send_response(200 if ok else 400)
            self.send_header("content-type", "application/json" if ok else "text/plain")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "NO_PROXY": "127.0.0.1,localhost", "LLMSPELL_CONFIG": "", "OPENAI_API_KEY": "sk-user"}
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "ANTHROPIC_API_KEY"):
        env[var] = ""
    env.update(extra)
    return env


BUILDER = """
    local ok, r = pcall(function()
        local a = Agent.builder():name("x"):model("openai/m"):base_url("URL"):build()
        return a:invoke({text = "ping"}).text
    end)
    print(ok, r)
"""
REGISTER = """
    local ok, r = pcall(function()
        local name = Agent.register({name = "y", model = "openai_compatible/m",
                                     base_url = "URL"})
        return Agent.get(name):invoke({text = "ping"}).text
    end)
    print(ok, r)
"""


@pytest.mark.parametrize("script", [BUILDER, REGISTER])
def test_script_chosen_loopback_url_is_refused(tmp_path: Path, internal, script: str) -> None:
    port, paths = internal
    url = f"http://127.0.0.1:{port}/admin"
    done = run_cli(script.replace("URL", url), tmp_path, env=_env(tmp_path))
    out = done.stdout + done.stderr
    assert paths == [], out  # never connected
    assert INTERNAL not in out
    assert done.stdout.startswith("false"), out
    assert "127.0.0.1" in out and "allow_private_addresses" in out, out


def test_script_chosen_localhost_name_is_refused(tmp_path: Path, internal) -> None:
    port, paths = internal
    done = run_cli(BUILDER.replace("URL", f"http://localhost:{port}/v1"), tmp_path,
                   env=_env(tmp_path))
    assert paths == [], done.stdout + done.stderr
    assert "allow_private_addresses" in done.stdout + done.stderr


def test_user_configured_loopback_url_still_works(tmp_path: Path, internal) -> None:
    """The env var names the URL: the script may use it (also by naming it itself)."""
    port, paths = internal
    url = f"http://127.0.0.1:{port}/v1"
    done = run_cli(BUILDER.replace("URL", url), tmp_path,
                   env=_env(tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-x"))
    assert done.stdout.startswith("true\tpong"), done.stdout + done.stderr
    script = """
        local a = Agent.builder():name("x"):model("openai/m"):build()
        print(a:invoke({text = "ping"}).text)
    """
    done = run_cli(script, tmp_path, env=_env(tmp_path, OPENAI_BASE_URL=url,
                                               OPENAI_API_KEY="sk-x"))
    assert done.stdout.startswith("pong"), done.stdout + done.stderr


def test_user_config_allowing_private_addresses_lets_the_script_choose(tmp_path: Path,
                                                                       internal) -> None:
    port, paths = internal
    url = f"http://127.0.0.1:{port}/v1"
    done = run_cli(BUILDER.replace("URL", url), tmp_path, env=_env(tmp_path),
                   config="[tools.network]\nallow_private_addresses = true\n")
    assert done.stdout.startswith("true\tpong"), done.stdout + done.stderr


def test_current_folder_config_cannot_allow_private_addresses(tmp_path: Path,
                                                              internal) -> None:
    port, paths = internal
    (tmp_path / "llmspell.toml").write_text(
        f'[tools.network]\nallow_private_addresses = true\n'
        f'[providers.openai]\nbase_url = "http://127.0.0.1:{port}/v1"\n')
    done = run_cli(BUILDER.replace("URL", f"http://127.0.0.1:{port}/admin"), tmp_path,
                   env=_env(tmp_path))
    assert paths == [], done.stdout + done.stderr


def test_connect_time_check_holds_when_the_name_changes_after_resolve(internal) -> None:
    """DNS rebinding: the address is checked again when the connection opens."""
    import httpx

    from llmspell.providers.http import _network_transport

    port, paths = internal
    client = httpx.Client(transport=_network_transport("http://rebind.example", True))
    with pytest.raises(httpx.ConnectError, match="private or local address"):
        client.post(f"http://127.0.0.1:{port}/admin", content=b"x")
    assert paths == []
    open_client = httpx.Client(transport=_network_transport("http://127.0.0.1", False))
    assert open_client.post(f"http://127.0.0.1:{port}/v1/chat/completions").status_code == 200
