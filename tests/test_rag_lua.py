"""The RAG global as scripts see it (spec § 8), over the real store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from lua_text import lua_fmt

from llmspell.errors import ScriptError

RAG_ON = {"rag": {"enabled": True, "embedding": {"default_provider": "hashing"}}}


@pytest.fixture(params=["hnsw", "postgres"])
def rag_on(request: pytest.FixtureRequest) -> dict:
    """RAG enabled on each vector backend: the local hnswlib store, or a PostgreSQL
    server with pgvector (a fresh database per test)."""
    if request.param == "hnsw":
        return RAG_ON
    url = request.getfixturevalue("postgres_url")
    return {"rag": {**RAG_ON["rag"], "vector_storage": {"backend": "postgres"}},
            "storage": {"postgres": {"url": url}}}


def test_rag_is_nil_unless_enabled(lua) -> None:
    assert lua("return RAG == nil").value is True
    assert lua("return type(RAG.search)", config=RAG_ON).value == "function"


def test_ingest_and_search_shapes(lua, rag_on: dict) -> None:
    run = lua("""
        local one = RAG.ingest({content = "Kubernetes orchestrates containers.",
                                metadata = {title = "K8s", n = 3}})
        local many = RAG.ingest({{text = "Docker builds images."},
                                 {content = "Bananas are yellow.", id = "banana"}})
        local s = RAG.search("kubernetes containers", {limit = 2})
        return {one = one, many = many, s = s}
    """, config=rag_on)
    one, many, s = run.value["one"], run.value["many"], run.value["s"]
    assert one["success"] is True and one["documents_processed"] == 1
    assert one["vectors_created"] == 1 and one["total_tokens"] > 0
    assert many["documents_processed"] == 2 and "banana" in many["ids"]
    assert s["success"] is True and s["total"] == 2 and len(s["results"]) == 2
    top = s["results"][0]
    assert top["content"] == top["text"] == "Kubernetes orchestrates containers."
    assert top["metadata"]["title"] == "K8s" and top["metadata"]["n"] == 3
    assert top["metadata"]["text"] == top["content"] and top["metadata"]["doc_id"] == top["id"]
    assert s["results"][0]["score"] >= s["results"][1]["score"]


def test_k_default_and_errors(lua, rag_on: dict) -> None:
    run = lua("""
        for i = 1, 12 do RAG.ingest({content = "note number " .. i}) end
        local all = RAG.search("note number")
        local errs = {}
        for _, f in ipairs({
            function() return RAG.search("x", {k = 0}) end,
            function() return RAG.search(42) end,
            function() return RAG.ingest({metadata = {}}) end,
            function()
                return RAG.ingest({content = "x"}, {scope = "session", scope_id = "bad"})
            end,
            function() return RAG.cleanup_scope({scope = "tenant_x", confirm = true}) end,
            function() return RAG.configure("nope") end,
        }) do
            local ok, e = pcall(f)
            table.insert(errs, tostring(e))
        end
        return {n = #all.results, errs = errs}
    """, config=rag_on)
    assert run.value["n"] == 10
    errs = run.value["errs"]
    assert "k must be a positive integer" in errs[0]
    assert "RAG.search: query must be a string" in errs[1]
    assert "Document requires 'content' or 'text' field" in errs[2]
    assert "Invalid session ID: bad" in errs[3]
    assert "RAG cleanup failed" in errs[4]
    assert "RAG.configure: expected a table" in errs[5]


def test_session_collection_alias_stats_and_cleanup(lua, rag_on: dict) -> None:
    sid = str(uuid.uuid4())
    run = lua(lua_fmt("""
        local c = RAG.create_session_collection("${sid}", 3600)
        for i = 1, 4 do
            RAG.ingest({content = "turn " .. i .. " about neural networks"},
                       {scope = "session", scope_id = "${sid}"})
        end
        RAG.ingest({content = "global neural networks"})
        local s = RAG.search("neural networks", {limit = 3, collection = c.namespace})
        local st = RAG.get_stats("session", "${sid}")
        local removed = RAG.cleanup_scope("session", "${sid}")
        local after = RAG.search("neural networks", {collection = c.namespace})
        local bad = RAG.create_session_collection("not-a-uuid")
        return {c = c, n = #s.results, first = s.results[1].content, vectors = st.total_vectors,
                 bytes = st.total_storage_bytes, removed = removed, after = #after.results,
                 bad = bad}
    """, sid=sid), config=rag_on)
    v = run.value
    assert v["c"] == {"session_id": sid, "namespace": f"session_{sid}", "created": True,
                      "ttl": 3600}
    assert v["n"] == 3 and v["first"].startswith("turn")
    assert v["vectors"] == 4 and v["bytes"] > 4 * 384 * 4
    assert v["removed"] == 4 and v["after"] == 0
    # any string id, as upstream
    assert v["bad"] == {"session_id": "not-a-uuid", "namespace": "session_not-a-uuid",
                        "created": True}


def test_tenant_scope_via_tenant_id_and_stats(lua, rag_on: dict) -> None:
    run = lua("""
        RAG.ingest({content = "acme secret roadmap"}, {scope = "tenant", scope_id = "acme"})
        RAG.ingest({content = "beta public notes"}, {scope = "tenant", scope_id = "beta"})
        local a = RAG.search("roadmap", {tenant_id = "beta"})
        local st = RAG.get_stats("tenant", "beta")
        return {contents = a.results, st = st, providers = RAG.list_providers()}
    """, config=rag_on)
    v = run.value
    assert [r["content"] for r in v["contents"]] == ["beta public notes"]
    st = v["st"]
    assert st["searches_performed"] == 1 and st["embeddings_generated"] == 1
    assert st["total_vectors"] == 1 and st["embedder"].startswith("hashing")
    assert "openai" in v["providers"] and "local" in v["providers"]


def test_configure_chunk_size_takes_effect(lua, rag_on: dict) -> None:
    run = lua("""
        local long = string.rep("alpha beta gamma delta. ", 200)
        local a = RAG.ingest({content = long})
        RAG.configure({chunk_size = 32, overlap = 0, min_chunk_size = 0})
        local b = RAG.ingest({content = long})
        return {a = a.vectors_created, b = b.vectors_created}
    """, config=rag_on)
    assert run.value["b"] > run.value["a"] >= 1


def test_persistence_across_two_runs(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "rag.toml"
    cfg.write_text(f"""
[rag]
enabled = true
[rag.vector_storage]
dimensions = 128
persistence_path = "{tmp_path / 'store'}"
[rag.embedding]
default_provider = "hashing"
""")
    first = cli("-c", str(cfg), "exec",
                'return RAG.ingest({content = "the lighthouse keeper logs storms", '
                'id = "log"}, {scope = "tenant", scope_id = "t1"}).success')
    assert first.returncode == 0, first.stderr
    second = cli("-c", str(cfg), "exec",
                 'local r = RAG.search("lighthouse storms", {scope = "tenant", scope_id = "t1"})'
                 ' return r.results[1].id .. " " .. r.total')
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "log 1"
    mismatch = cli("-c", str(cfg), "exec", "--rag-dims", "64", "return RAG.search('x')")
    assert mismatch.returncode == 1
    assert "holds 128-dim vectors" in mismatch.stderr


def test_no_key_local_embedder_chosen_silently(cli, tmp_path: Path) -> None:
    """`--rag` with no key and no embedder named: the local one, and nothing said."""
    out = cli("exec", "--rag", 'RAG.ingest({content="a"}) RAG.ingest({content="b"}) '
              'return RAG.get_stats("global").embedder_kind',
              env={"OPENAI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "local"
    assert "unavailable" not in out.stderr


def test_named_provider_without_key_notice_once_on_stderr(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "named.toml"
    cfg.write_text('[rag]\nenabled = true\n[rag.embedding]\ndefault_provider = "openai"\n')
    out = cli("-c", str(cfg), "exec", 'RAG.ingest({content="a"}) RAG.ingest({content="b"}) '
              'return RAG.get_stats("global").embedder_kind', env={"OPENAI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "local"
    assert out.stderr.count("embedding provider 'openai' unavailable") == 1


def test_script_error_names_rag(lua, rag_on: dict) -> None:
    with pytest.raises(ScriptError, match="k must be a positive integer"):
        lua('RAG.search("x", {top_k = -1})', config=rag_on)


def test_cookbook_rag_basics_offline(cli) -> None:
    root = Path(__file__).resolve().parent.parent
    out = cli("-c", str(root / "configs" / "rag-local.toml"), "run",
              str(root / "cookbook" / "rag_basics.lua"), env={"OPENAI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    chunks = result["manual_chunks"]
    assert result == {"success": True, "documents": 4, "manual_chunks": chunks,
                      "tenant_leak": False, "session_removed": 1, "total_vectors": 6 + chunks}
    assert result["manual_chunks"] > 3
    assert "best chunk contains 'Section 37': true" in out.stdout
    assert "threshold 0.99: 0 result(s)" in out.stdout
