"""Remote embeddings for RAG and tool calling against real llama.cpp servers."""

from __future__ import annotations

import re

from realmodel_support import MODEL, LlamaServer, RunScript, provider_toml

DIMENSIONS = 576  # SmolLM2-135M's hidden size


def rag_config(embed: LlamaServer) -> str:
    return provider_toml("embedder", embed.base_url) + f"""
[rag]
enabled = true
[rag.vector_storage]
dimensions = {DIMENSIONS}
[rag.embedding]
default_provider = "embedder"
model = "{MODEL}"
"""


def test_rag_with_remote_embeddings(embed_server: LlamaServer, run_script: RunScript) -> None:
    docs = ["The lighthouse keeper logs every storm.", "Bananas grow in hanging bunches.",
            "Kubernetes schedules containers onto nodes."]
    value = run_script(f"""
        local docs = {{"{docs[0]}", "{docs[1]}", "{docs[2]}"}}
        for _, d in ipairs(docs) do RAG.ingest({{content = d}}) end
        local found = RAG.search(docs[3], {{limit = 3}})
        local st = RAG.get_stats("global")
        return {{top = found.results[1].content, total = found.total,
                 kind = st.embedder_kind, embedder = st.embedder,
                 tokens = st.embedding_tokens}}
    """, rag_config(embed_server), "--usage").value
    assert value["kind"] == "remote" and value["embedder"].startswith("embedder")
    assert value["total"] == 3
    # the query is a stored text verbatim: same vector, so it must come first
    assert value["top"] == docs[2]


def test_embeddings_on_a_chat_only_server_fail_once_with_the_servers_reason(
        chat_server: LlamaServer, run_script: RunScript) -> None:
    """A 500 that cannot succeed on retry ("created with embedding=True") is not retried."""
    run = run_script("""
        RAG.ingest({content = "one text"})
        return RAG.search("one").total
    """, rag_config(chat_server))
    assert run.returncode == 1
    assert "HTTP 500" in run.stderr and "embedding=True" in run.stderr
    assert "attempts" not in run.stderr, run.stderr  # "(after 4 attempts)": retried
    assert "Traceback" not in run.stderr


def test_tool_calling_with_a_function_calling_chat_format(chat_server: LlamaServer,
                                                          run_script: RunScript) -> None:
    """The server calls tools only when asked with ``tool_choice``; after the tool result
    the assistant turn must be one the server accepts (``content: null`` is a 500)."""
    run = run_script(f"""
        local a = Agent.builder():name("ops"):model("local/{MODEL}")
          :system_prompt("You check the machine with the system_monitor tool.")
          :temperature(0):max_tokens(32):allow_tool("system_monitor")
          :resource_limits({{max_tool_calls = 1}}):build()
        local ok, r = pcall(function()
          return a:invoke({{text = "How much memory is in use? Call system_monitor."}})
        end)
        return {{ok = ok, err = (not ok) and tostring(r) or nil,
                 calls = ok and r.metadata.tool_calls or nil,
                 invocations = a:get_metrics().tool_invocations}}
    """, provider_toml("local", chat_server.base_url), "--debug")
    value = run.value
    statuses = re.findall(r"llmspell\[debug\] local POST \S+/chat/completions -> (\S+)",
                          run.stderr)
    # the model called the tool, the tool ran, and the request carrying its result was
    # accepted; what the model does next is up to it: an answer, or another call that
    # the limit of one stops with a clear error
    assert value["invocations"] == 1, (value, statuses)
    assert statuses == ["200", "200"], statuses
    if value["ok"]:
        assert value["calls"][0]["name"] == "system_monitor"
        assert isinstance(value["calls"][0]["arguments"], dict)
    else:
        assert "max_tool_calls" in value["err"], value["err"]
