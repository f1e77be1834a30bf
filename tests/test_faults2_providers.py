"""A misbehaving HTTP server (a real loopback server): a reply that is valid JSON of the
wrong shape, or a stream of wrong-shaped events, is a ``ProviderError`` naming the
provider ("malformed reply"), never a Python TypeError/AttributeError and never a number
handed back as the answer's text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from llmspell import config as config_mod
from llmspell.errors import ProviderError
from llmspell.providers import chat_client
from llmspell.providers.base import ChatRequest

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest",
          "ollama": "llama3.1:8b"}


class Canned:
    """What the loopback server answers next: (content type, body bytes)."""

    body: bytes = b"{}"
    content_type: str = "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", Canned.content_type)
        self.send_header("content-length", str(len(Canned.body)))
        self.end_headers()
        self.wfile.write(Canned.body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def answer(data: Any, content_type: str = "application/json") -> None:
    Canned.body = data if isinstance(data, bytes) else json.dumps(data).encode()
    Canned.content_type = content_type


def ask(url: str, name: str, stream: bool = False) -> Any:
    base = url + "/v1" if name == "openai" else url
    settings = config_mod.from_dict({"providers": {name: {
        "base_url": base, "api_key": "k", "timeout_seconds": 5, "max_retries": 0}}},
        environ={})
    chunks: list[str] = []
    return chat_client(settings, name).chat(
        ChatRequest(model=MODELS[name], messages=[{"role": "user", "content": "hi"}]),
        on_chunk=chunks.append if stream else None)


def every_shape(message: Any, *, text: Any = "hi", tool_calls: Any = None,
                usage: Any = None) -> dict[str, Any]:
    """One body that each of the three APIs reads as its own reply."""
    return {"choices": [{"message": message, "finish_reason": "stop"}],
            "content": [{"type": "text", "text": text}] if tool_calls is None else tool_calls,
            "message": message, "done": True,
            **({"usage": usage} if usage is not None else {})}


WRONG_SHAPES = {
    "content is a number": every_shape({"role": "assistant", "content": 5}, text=5),
    "tool_calls malformed": every_shape(
        {"role": "assistant", "content": "", "tool_calls": [{"id": 1, "function": "x"}, 7]},
        tool_calls=[{"type": "tool_use", "id": 1, "name": 5, "input": "x"}]),
    "usage is a string": {**every_shape({"role": "assistant", "content": "hi"}, usage="x"),
                          "prompt_eval_count": "x"},
}


def check_clear(message: str, name: str) -> None:
    """Malformed, or (a stream whose events the client skips) cut off before its end."""
    assert message.startswith(f"{name}: "), message
    assert "malformed reply from http://127.0.0.1:" in message or "cut off" in message, message
    assert "Traceback" not in message


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_reply_of_the_wrong_shape_is_a_clear_provider_error(server: str, name: str,
                                                              shape: str) -> None:
    answer(WRONG_SHAPES[shape])
    try:
        reply = ask(server, name)
    except ProviderError as exc:
        check_clear(str(exc), name)
        return
    # the only acceptable success: a string answer and well-formed tool calls
    assert isinstance(reply.text, str), reply
    assert all(isinstance(c["name"], str) and c["name"] and isinstance(c["arguments"], dict)
               for c in reply.tool_calls), reply
    assert reply.prompt_tokens is None or isinstance(reply.prompt_tokens, int)


def sse(*events: str) -> bytes:
    return "".join(f"{e}\n\n" for e in events).encode()


WRONG_STREAMS = {
    "choices a string": sse('data: {"choices": "x"}', 'data: [DONE]'),
    "event a list": sse('data: [1, 2]', 'data: [DONE]'),
    "delta a string": sse('data: {"choices": [{"delta": "x"}]}', 'data: [DONE]'),
    "anthropic text a number": sse(
        'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": 5}}',
        'data: {"type": "message_stop"}'),
    "anthropic delta a string": sse('data: {"type": "content_block_delta", "delta": "x"}',
                                    'data: {"type": "message_stop"}'),
}


@pytest.mark.parametrize("stream", sorted(WRONG_STREAMS))
@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_a_stream_of_wrong_shaped_events_is_a_clear_provider_error(server: str, name: str,
                                                                   stream: str) -> None:
    answer(WRONG_STREAMS[stream], "text/event-stream")
    try:
        reply = ask(server, name, stream=True)
    except ProviderError as exc:
        check_clear(str(exc), name)
        return
    assert isinstance(reply.text, str)


def test_an_ollama_stream_line_of_the_wrong_shape_is_a_clear_error(server: str) -> None:
    answer(b'{"message": 5}\n{"message": {"content": 7}}\n{"done": true}\n',
           "application/x-ndjson")
    try:
        reply = ask(server, "ollama", stream=True)
    except ProviderError as exc:
        check_clear(str(exc), "ollama")
        return
    assert isinstance(reply.text, str)


def test_the_script_sees_one_line_naming_the_provider(server: str, cli: Any,
                                                      tmp_path: Path) -> None:
    answer(WRONG_SHAPES["tool_calls malformed"])
    (tmp_path / "cfg.toml").write_text(
        f'[providers.openai]\nbase_url = "{server}/v1"\napi_key = "k"\nmax_retries = 0\n')
    (tmp_path / "a.lua").write_text(
        'local a = Agent.builder():name("x"):model("openai/gpt-4o-mini"):build()\n'
        'local ok, err = pcall(function() return a:invoke({text = "hi"}) end)\n'
        'print(ok, err)\n')
    done = cli("-c", "cfg.toml", "run", "a.lua")
    assert done.returncode == 0, done.stderr
    assert "false" in done.stdout and "openai: malformed reply from" in done.stdout
    assert "AttributeError" not in done.stdout and "object has no" not in done.stdout


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body of a JSON object padded with ``inflated_mib`` MiB of spaces."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * 2**20
    parts = [packer.compress(b"{")]
    parts += [packer.compress(block) for _ in range(inflated_mib)]
    parts += [packer.compress(b"}"), packer.flush()]
    return b"".join(parts)


class _BombHandler(_Handler):
    bomb = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(self.bomb)))
        self.end_headers()
        self.wfile.write(self.bomb)


def test_a_gzip_bomb_is_refused_before_it_fills_memory() -> None:
    _BombHandler.bomb = gzip_bomb(200)  # 200 KiB on the wire, 200 MiB inflated
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _BombHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ProviderError) as info:
            ask(f"http://127.0.0.1:{httpd.server_port}", "openai")
    finally:
        httpd.shutdown()
    message = str(info.value)
    assert message.startswith("openai: malformed reply from http://127.0.0.1:")
    assert "larger than 64 MiB" in message


class _RedirectHandler(_Handler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(302)
        self.send_header("location", self.path)  # a loop
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_redirect_is_named_not_called_an_empty_reply(name: str) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RedirectHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ProviderError) as info:
            ask(f"http://127.0.0.1:{httpd.server_port}", name)
    finally:
        httpd.shutdown()
    message = str(info.value)
    assert message.startswith(f"{name}: ") and "redirects (HTTP 302)" in message, message
    assert f"providers.{name}.base_url" in message
