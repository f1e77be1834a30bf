"""Hook, RAG and documented differences upstream scripts notice (issue 11 § 2).

Upstream facts (rs-llmspell 219d9cae): `Hook.unregister` takes `mlua::AnyUserData` and
answers `false` for a userdata that is not a handle (`lua/globals/hook.rs`); `RAG.ingest`
treats a table without `content`/`text` as an array of documents, so `{}` is zero
documents; `RAG.create_session_collection` / `RAG.configure_session` build their tables
from any string id (`lua/globals/rag.rs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llm_stub_support import Stub

pytest_plugins = ["llm_stub_support"]

RAG_ON = {"rag": {"enabled": True, "embedding": {"default_provider": "hashing"}}}
DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_hook_unregister_raises_for_a_string_and_answers_false_for_other_tables(lua) -> None:
    run = lua("""
      local h = Hook.register("BeforeToolExecution", function() end)
      local ok, err = pcall(Hook.unregister, h:id())
      local nil_ok = pcall(Hook.unregister)
      local still = #Hook.list("BeforeToolExecution")
      local plain = Hook.unregister({id = h:id()})
      local removed = Hook.unregister(h)
      return {ok = ok, err = tostring(err), nil_ok = nil_ok, still = still, plain = plain,
              removed = removed, left = #Hook.list("BeforeToolExecution")}
    """)
    v = run.value
    assert v["ok"] is False and v["err"].startswith("Hook.unregister: ")
    assert "hook handle" in v["err"] and "string" in v["err"]
    assert v["nil_ok"] is False
    assert v["still"] == 1 and v["plain"] is False
    assert v["removed"] is True and v["left"] == 0


def test_rag_empty_ingest_and_any_string_session_id(lua) -> None:
    run = lua("""
      local empty = RAG.ingest({})
      local c = RAG.create_session_collection("my-chat", 600)
      local plain = RAG.create_session_collection("chat 42")
      local conf = RAG.configure_session({session_id = "my-chat", vector_ttl = 60})
      local conf_default = RAG.configure_session({session_id = "other"})
      return {empty = empty, c = c, plain = plain, conf = conf, conf_default = conf_default,
              total = RAG.get_stats().total_vectors}
    """, config=RAG_ON)
    v = run.value
    assert v["empty"]["success"] is True and v["empty"]["documents_processed"] == 0
    assert v["empty"]["vectors_created"] == 0 and v["total"] == 0
    assert v["c"] == {"session_id": "my-chat", "namespace": "session_my-chat", "ttl": 600,
                      "created": True}
    assert v["plain"] == {"session_id": "chat 42", "namespace": "session_chat 42",
                          "created": True}
    assert v["conf"] == {"session_id": "my-chat", "vector_ttl": 60, "configured": True}
    assert v["conf_default"] == {"session_id": "other", "vector_ttl": 3600,
                                 "configured": True}


def _differences(page: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "## Differences from upstream" in text, page
    return text.split("## Differences from upstream", 1)[1]


def test_deliberate_differences_hold_and_are_documented(lua, stub: Stub,
                                                        tmp_path: Path) -> None:
    # Lua's own io/os file access is gated by allow_file_access (upstream: open)
    target = tmp_path / "x.txt"
    target.write_text("data")
    shut = lua(f"""
      local a, ea = pcall(io.open, {str(target)!r})
      local b, eb = pcall(os.remove, {str(target)!r})
      return {{a = a, ea = tostring(ea), b = b}}
    """).value
    assert shut["a"] is False and "allow_file_access" in shut["ea"] and shut["b"] is False
    assert target.exists()
    opened = lua(f"local f = io.open({str(target)!r}) local t = f:read('*a') f:close() "
                 "return t", config={"runtime": {"security": {
                     "allow_file_access": True, "allowed_paths": [str(tmp_path)]}}})
    assert opened.value == "data"
    # groq/... is an OpenAI-compatible provider (upstream refuses to build it)
    reply = lua(f"""
      local a = Agent.builder():name("g"):model("groq/llama-3.1-8b-instant")
        :base_url("{stub.url}/v1"):api_key("test-key-openai"):build()
      return a:invoke({{text = "hi"}}).text
    """, config={"tools": {"network": {"allow_private_addresses": True}}}).value
    assert reply.startswith("[stub llama-3.1-8b-instant ")
    globals_diff = _differences("globals.md")
    assert "allow_file_access" in globals_diff and "`io`" in globals_diff
    providers_diff = _differences("providers.md")
    assert all(name in providers_diff for name in ("groq/", "perplexity/", "together/"))


@pytest.mark.parametrize("page", ["rag.md", "workflows.md"])
def test_pages_of_changed_globals_keep_a_differences_section(page: str) -> None:
    assert _differences(page).strip()
