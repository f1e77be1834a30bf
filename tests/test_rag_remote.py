"""RAG over the providers' embedding clients, against the loopback LLM stub."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakellm import FakeLLM as Stub

def test_openai_embeddings_with_configured_dimensions(lua, stub: Stub) -> None:
    config = {"rag": {"enabled": True, "vector_storage": {"dimensions": 768}},
              "providers": {"openai": {"provider_type": "openai",
                                       "base_url": stub.url + "/v1",
                                       "api_key_env": "OPENAI_API_KEY"}}}
    run = lua("""
        RAG.ingest({{content = "kubernetes schedules containers"},
                    {content = "bananas grow in bunches"}})
        local r = RAG.search("kubernetes containers", {limit = 1})
        local st = RAG.get_stats("global")
        return {top = r.results[1].content, kind = st.embedder_kind, name = st.embedder}
    """, config=config)
    assert run.value == {"top": "kubernetes schedules containers", "kind": "remote",
                         "name": run.value["name"]}
    assert run.value["name"].startswith("openai")
    ours = ("kubernetes", "bananas")
    calls = [e for e in stub.log() if e.get("endpoint") == "embeddings"
             and any(w in str(e.get("body")) for w in ours)]
    assert calls and all(e["auth"] == "ok" and e["status"] == 200 for e in calls)
    assert {e.get("dimensions") for e in calls} == {768}


def test_ollama_embeddings(lua, stub: Stub) -> None:
    config = {"rag": {"enabled": True, "vector_storage": {"dimensions": 768},
                      "embedding": {"default_provider": "ollama",
                                    "model": "nomic-embed-text"}},
              "providers": {"ollama": {"provider_type": "ollama", "base_url": stub.url}}}
    run = lua("""
        RAG.ingest({content = "the lighthouse keeper logs storms"})
        return RAG.search("lighthouse storms").total
    """, config=config)
    assert run.value == 1
    assert any(e.get("provider") == "ollama" and e["status"] == 200 for e in stub.log())


def test_remote_embedding_request_ends_at_the_script_deadline(lua, stub: Stub) -> None:
    """A remote embedder that hangs does not hold the run past its deadline (the
    request is bounded by the time the script has left, not by its own 30 s)."""
    import time

    import pytest

    from llmspell.errors import ScriptError, ScriptTimeout

    stub.faults(delay=20)
    config = {"rag": {"enabled": True, "vector_storage": {"dimensions": 768}},
              "providers": {"openai": {"provider_type": "openai",
                                       "base_url": stub.url + "/v1",
                                       "api_key_env": "OPENAI_API_KEY"}}}
    started = time.monotonic()
    with pytest.raises((ScriptTimeout, ScriptError)) as stopped:
        lua('RAG.ingest({content = "the tide tables"})', config=config, timeout=1.5)
    assert time.monotonic() - started < 10
    assert isinstance(stopped.value, ScriptTimeout) or "time the script" in str(stopped.value)
