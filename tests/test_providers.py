"""Provider clients against the real loopback stub: chat, streaming, embeddings, faults."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from llmspell import config as config_mod
from llmspell.errors import NeedsKeyError, ProviderError
from llmspell.providers import chat_client, embedding_client, resolve
from llmspell.providers.base import ChatRequest
from llmspell.providers.usage import METER

if TYPE_CHECKING:
    from fakellm import FakeLLM as Stub

def settings(providers: dict | None = None, **extra):
    raw = dict(extra)
    if providers is not None:
        raw["providers"] = providers
    return config_mod.from_dict(raw, environ={})


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


@pytest.mark.parametrize("name,model", [("openai", "gpt-4o-mini"),
                                        ("anthropic", "claude-3-5-haiku-latest"),
                                        ("ollama", "llama3.1:8b")])
def test_chat_each_provider(stub: Stub, name: str, model: str) -> None:
    METER.reset()
    client = chat_client(settings(), name)
    reply = client.chat(ChatRequest(model=model, messages=user("hello there"), max_tokens=300,
                                    temperature=0.2))
    assert reply.text.startswith(f"[stub {model} ")
    assert reply.prompt_tokens and reply.completion_tokens
    assert METER.requests == 1 and METER.total_tokens == reply.total_tokens
    entry = stub.log()[-1]
    assert entry["provider"] == name and entry["status"] == 200
    assert entry["auth"] in ("ok", "none")
    body = entry["body"]
    if name == "ollama":
        assert body["options"] == {"temperature": 0.2, "num_predict": 300}
        assert body["stream"] is False
    else:
        assert body["max_tokens"] == 300 and body["temperature"] == 0.2
    if name == "anthropic":
        assert body["system"] == "be brief"
        assert entry["headers"]["anthropic-version"]


@pytest.mark.parametrize("name,model", [("openai", "gpt-4o-mini"),
                                        ("anthropic", "claude-3-5-haiku-latest"),
                                        ("ollama", "llama3.1:8b")])
def test_streaming_delivers_several_chunks(stub: Stub, name: str, model: str) -> None:
    chunks: list[str] = []
    reply = chat_client(settings(), name).chat(
        ChatRequest(model=model, messages=user("stream please")), on_chunk=chunks.append)
    assert len(chunks) >= 2
    assert "".join(chunks) == reply.text
    assert reply.text.startswith(f"[stub {model} ")
    assert stub.log()[-1]["stream"] is True


def test_max_tokens_is_forwarded_and_honoured(stub: Stub) -> None:
    reply = chat_client(settings(), "openai").chat(
        ChatRequest(model="gpt-4o-mini", messages=user("x"), max_tokens=3))
    assert len(reply.text.split(" ")) == 3 and reply.finish_reason == "length"


def test_config_table_base_url_and_api_key_env(stub: Stub, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("MY_KEY", stub.env()["OPENAI_API_KEY"])
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    s = settings({"providers": {"work": {"provider_type": "openai", "api_key_env": "MY_KEY",
                                         "base_url": stub.url + "/v1"}}})
    reply = chat_client(s, "work").chat(ChatRequest(model="gpt-4o", messages=user("hi")))
    assert reply.text.startswith("[stub gpt-4o ")


def test_base_url_order(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://from-std-env/v1")
    monkeypatch.setenv("LLMSPELL_OPENAI_ENDPOINT", "http://from-llmspell-env/v1")
    s = settings({"openai": {"base_url": "http://from-config/v1"}})
    assert resolve(s, "openai", base_url="http://agent/v1").base_url == "http://agent/v1"
    assert resolve(s, "openai").base_url == "http://from-config/v1"
    assert resolve(settings(), "openai").base_url == "http://from-llmspell-env/v1"
    monkeypatch.delenv("LLMSPELL_OPENAI_ENDPOINT")
    assert resolve(settings(), "openai").base_url == "http://from-std-env/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert resolve(settings(), "openai").base_url == "https://api.openai.com/v1"
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert resolve(settings(), "ollama").base_url == "http://127.0.0.1:11434"


def test_missing_key_names_env_var_and_config_key(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LLMSPELL_PLAYBACK", raising=False)
    client = chat_client(settings(), "openai")  # building is fine: no key needed yet
    with pytest.raises(NeedsKeyError) as info:
        client.chat(ChatRequest(model="gpt-4o-mini", messages=user("x")))
    assert "OPENAI_API_KEY" in str(info.value) and "providers.openai.api_key" in str(info.value)
    s = settings({"anthropic": {"api_key_env": "MY_ANTHROPIC"}})
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(NeedsKeyError, match="MY_ANTHROPIC or providers.anthropic.api_key"):
        chat_client(s, "anthropic").chat(ChatRequest(model="claude", messages=user("x")))
    with pytest.raises(NeedsKeyError, match="OPENAI_API_KEY"):
        embedding_client(settings(), "openai")


def test_wrong_key_is_an_authentication_error(stub: Stub, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-the-right-one")
    with pytest.raises(ProviderError, match=r"openai: authentication failed \(HTTP 401\).*"
                                            r"OPENAI_API_KEY"):
        chat_client(settings(), "openai").chat(ChatRequest(model="gpt-4o", messages=user("x")))


def test_unknown_provider() -> None:
    with pytest.raises(ProviderError, match="Unknown provider: nosuch"):
        chat_client(settings(), "nosuch")


def test_connection_refused_names_the_url(monkeypatch) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as info:
        chat_client(settings(), "ollama").chat(ChatRequest(model="m", messages=user("x")))
    assert f"http://127.0.0.1:{port}/api/chat" in str(info.value)
    assert "connection refused" in str(info.value)


def test_429_then_success_honours_retry_after(stub: Stub) -> None:
    stub.faults(fail_first=2, fail_status=429, retry_after=0.2)
    s = settings({"openai": {"retry": {"initial_delay_ms": 1, "max_delay_ms": 5}}})
    import time

    started = time.monotonic()
    reply = chat_client(s, "openai").chat(ChatRequest(model="gpt-4o-mini", messages=user("x")))
    assert reply.text.startswith("[stub gpt-4o-mini")
    assert time.monotonic() - started >= 0.4  # two waits of Retry-After, not 1 ms backoff
    statuses = [e["status"] for e in stub.log()[-3:]]
    assert statuses == [429, 429, 200]


@pytest.mark.parametrize("status,provider", [(502, "openai"), (529, "anthropic"),
                                             (503, "ollama")])
def test_server_errors_retried_then_reported(stub: Stub, status: int, provider: str) -> None:
    stub.faults(fail_first=10, fail_status=status, retry_after=0.01)
    s = settings({provider: {"max_retries": 2,
                             "retry": {"initial_delay_ms": 1, "max_delay_ms": 2}}})
    with pytest.raises(ProviderError) as info:
        chat_client(s, provider).chat(ChatRequest(model="gpt-4o", messages=user("x")))
    text = str(info.value)
    assert text.startswith(f"{provider}: server error (HTTP {status})")
    assert "after 3 attempts" in text
    assert [e["status"] for e in stub.log()[-3:]] == [status] * 3


def test_timeout_is_the_whole_call_so_not_retried(stub: Stub) -> None:
    stub.faults(delay=1.5, delay_first=1)  # a retry would succeed, but no time is left
    s = settings({"openai": {"timeout_seconds": 1, "retry": {"initial_delay_ms": 1}}})
    with pytest.raises(ProviderError, match=r"openai: request to .* timed out after 1s"):
        chat_client(s, "openai").chat(ChatRequest(model="gpt-4o-mini", messages=user("t")))
    assert len(stub.log()) <= 1


def test_timeout_reported(stub: Stub) -> None:
    before = len(stub.log())
    stub.faults(delay=1.5)
    s = settings({"ollama": {"timeout_seconds": 1, "max_retries": 0}})
    with pytest.raises(ProviderError, match=r"ollama: request to .*/api/chat timed out after 1s"):
        chat_client(s, "ollama").chat(ChatRequest(model="m", messages=user("t")))
    stub.wait_for_log(before + 1)


def test_embeddings_openai_and_ollama(stub: Stub) -> None:
    vecs = embedding_client(settings(), "openai").embed(["alpha beta", "gamma"], None, 64)
    assert len(vecs) == 2 and len(vecs[0]) == 64
    again = embedding_client(settings(), "openai").embed(["alpha beta"], None, 64)
    assert again[0] == pytest.approx(vecs[0])
    ollama = embedding_client(settings(), "ollama").embed(["alpha beta"], "all-minilm", None)
    assert len(ollama[0]) == 384
    with pytest.raises(ProviderError, match="no embeddings API"):
        embedding_client(settings(), "anthropic")
