"""The fake LLM server itself, through llmspell's real clients: the wire formats it speaks
(tool calls streamed and not, embeddings, auth like the real servers, scripted errors)."""

from __future__ import annotations

import httpx
import pytest
from fakellm import ANTHROPIC_KEY, OPENAI_KEY, FakeLLM

from llmspell import config as config_mod
from llmspell.errors import ProviderError
from llmspell.providers import chat_client, embedding_client
from llmspell.providers.base import ChatRequest

MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-latest"),
          ("ollama", "llama3.1:8b")]
CALL = {"name": "calculator", "arguments": {"input": "6*7", "note": "x"}}


def chat(name: str, model: str, stream: bool) -> object:
    client = chat_client(config_mod.from_dict({}, environ={}), name)
    request = ChatRequest(model=model, messages=[{"role": "user", "content": "add"}],
                          tools=[{"name": "calculator", "description": "math",
                                  "parameters": {"type": "object"}}])
    return client.chat(request, on_chunk=[].append if stream else None)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("name,model", MODELS)
def test_scripted_tool_calls_reach_the_client(fake_llm: FakeLLM, name: str, model: str,
                                              stream: bool) -> None:
    fake_llm.enqueue(tool_calls=[CALL])
    reply = chat(name, model, stream)
    assert [(c["name"], c["arguments"]) for c in reply.tool_calls] == [
        (CALL["name"], CALL["arguments"])]
    assert fake_llm.log()[-1]["body"]["tools"]


@pytest.mark.parametrize("name,model", MODELS)
def test_scripted_text_and_errors(fake_llm: FakeLLM, name: str, model: str) -> None:
    fake_llm.enqueue(text="exactly this")
    assert chat(name, model, False).text == "exactly this"
    fake_llm.enqueue(status=400, message="bad thing")
    with pytest.raises(ProviderError, match=rf"^{name}: request rejected \(HTTP 400\): bad thing"):
        chat(name, model, False)


def test_auth_is_demanded_like_the_real_servers(fake_llm: FakeLLM) -> None:
    url = fake_llm.url
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}
    assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 401
    assert httpx.post(url + "/v1/chat/completions", json=body,
                      headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {OPENAI_KEY}"}).status_code == 200
    assert httpx.post(url + "/v1/messages", json=body,
                      headers={"x-api-key": ANTHROPIC_KEY}).status_code == 400  # no version
    ok = httpx.post(url + "/v1/messages", json=body,
                    headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"})
    assert ok.status_code == 200 and ok.json()["content"][0]["type"] == "text"
    assert httpx.post(url + "/api/chat", json={**body, "stream": False}).status_code == 200
    assert [e["auth"] for e in fake_llm.log()] == ["missing", "invalid", "ok", "ok", "ok",
                                                   "none"]
    assert fake_llm.log()[1]["headers"]["authorization"] == "Bearer nope***"


def test_embeddings_are_deterministic_and_sized(fake_llm: FakeLLM) -> None:
    settings = config_mod.from_dict({}, environ={})
    openai = embedding_client(settings, "openai")
    a, b, c = openai.embed(["red apple pie", "red apple", "tax law"], None, 32)
    assert len(a) == 32 and openai.embed(["red apple pie"], None, 32)[0] == a
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    assert dot > sum(x * y for x, y in zip(a, c, strict=True))
    assert len(embedding_client(settings, "ollama").embed(["x"], "nomic-embed-text")[0]) == 768
    assert [e["dimensions"] for e in fake_llm.log()] == [32, 32, 768]


def test_models_and_tags(fake_llm: FakeLLM) -> None:
    settings = config_mod.from_dict({}, environ={})
    for name in ("openai", "anthropic", "ollama"):
        assert chat_client(settings, name).check() == "reachable"
    assert [(e["provider"], e["endpoint"]) for e in fake_llm.log()] == [
        ("openai", "models"), ("anthropic", "models"), ("ollama", "tags")]


def test_standing_faults_and_reset(fake_llm: FakeLLM) -> None:
    fake_llm.faults(fail_first=1, fail_status=503, retry_after=0.05)
    reply = chat("ollama", "llama3.1:8b", False)
    assert reply.text.startswith("[stub llama3.1:8b ")
    assert [e["status"] for e in fake_llm.log()] == [503, 200]
    fake_llm.reset()
    assert fake_llm.log() == []
