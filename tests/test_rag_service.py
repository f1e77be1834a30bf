"""The RAG services without Lua: chunking, hashing embedder, hnswlib store, scopes, TTL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from llmspell import config as config_mod
from llmspell.rag import chunking
from llmspell.rag.chunking import ChunkConfig, RegexTokenizer, chunk_text
from llmspell.rag.embeddings import CachedEmbedder, select_embedder
from llmspell.rag.embeddings.hashing import HashingEmbedder
from llmspell.rag.service import RagError, RagService
from llmspell.rag.store import DimensionMismatch, Record, StoreFull, VectorStore


def settings(postgres_url: str | None = None, **rag: object) -> config_mod.Settings:
    """RAG settings with the hashing embedder; with ``postgres_url``, vectors on that
    server (pgvector) instead of hnswlib."""
    base: dict[str, object] = {"enabled": True, "embedding": {"default_provider": "hashing"}}
    top: dict[str, object] = {}
    if postgres_url:
        base["vector_storage"] = {"backend": "postgres"}
        top["storage"] = {"postgres": {"url": postgres_url}}
    for key, value in rag.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return config_mod.from_dict({"rag": base, **top}, environ={})


@pytest.fixture(params=["hnsw", "postgres"])
def pg(request: pytest.FixtureRequest) -> str | None:
    """Run a service test on each vector backend: None (hnswlib) or a postgres URL."""
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


def unit(rows: int, dims: int, seed: int = 0) -> np.ndarray:
    data = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


# -- chunking ---------------------------------------------------------------------

TOK = RegexTokenizer()


def test_chunks_are_substrings_with_overlap_and_sentence_cuts() -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(60))
    chunks = chunk_text(text, ChunkConfig(chunk_size=40, overlap=10, min_chunk_size=0), TOK)
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert c.tokens <= 40
    # every chunk but the last ends at a sentence end
    assert all(c.text.endswith(".") for c in chunks[:-1])
    # consecutive chunks overlap, and the overlap starts at a sentence start
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end
        assert b.text.startswith("Sentence")
    assert chunks[-1].end == len(text)


def test_sentence_strategy_has_no_overlap_and_none_is_whole() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    sent = chunk_text(text, ChunkConfig(strategy="sentence", chunk_size=8, overlap=4,
                                        min_chunk_size=0), TOK)
    assert [c.text for c in sent] == ["One two three. Four five six.",
                                      "Seven eight nine. Ten eleven twelve."]
    whole = chunk_text(text, ChunkConfig(strategy="none"), TOK)
    assert [c.text for c in whole] == [text]
    assert chunk_text("   \n ", ChunkConfig(), TOK) == []


def test_long_sentence_is_cut_into_windows_and_tiny_tail_merged() -> None:
    text = " ".join(["word"] * 105)
    chunks = chunk_text(text, ChunkConfig(chunk_size=50, overlap=0, min_chunk_size=10,
                                          max_chunk_size=100), TOK)
    assert [c.tokens for c in chunks] == [50, 55]  # the 5-token tail joined the second


def test_unicode_tokens_and_bad_strategy() -> None:
    assert chunking.count_tokens("東京は日本の首都です", TOK) == 10
    assert chunking.count_tokens("naïve café", TOK) == 2
    with pytest.raises(ValueError, match="unknown chunking strategy"):
        chunk_text("x", ChunkConfig(strategy="magic"), TOK)


# -- hashing embedder ---------------------------------------------------------------

def test_hashing_embedder_is_deterministic_unit_and_lexical() -> None:
    emb = HashingEmbedder(256)
    a, b, c, d = emb.embed(["Kubernetes orchestrates containers", "kubernetes ORCHESTRATES "
                            "containers!", "bananas are yellow", ""])
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-5
    assert np.allclose(a, b)  # case and punctuation do not matter
    assert float(a @ c) < 0.3
    assert not d.any()  # empty text: zero vector
    again = HashingEmbedder(256).embed(["Kubernetes orchestrates containers"])[0]
    assert np.array_equal(a, again)


def test_cache_serves_repeats() -> None:
    cached = CachedEmbedder(HashingEmbedder(32), size=10, ttl_seconds=100)
    cached.embed(["a", "b", "a"])
    cached.embed(["a"])
    assert (cached.hits, cached.misses) == (1, 2)


def test_default_provider_without_key_falls_back_silently(monkeypatch) -> None:
    """The built-in default (openai) with no key: the local embedder, no notice."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    notes: list[str] = []
    s = config_mod.from_dict({"rag": {"enabled": True, "vector_storage": {"dimensions": 64}}},
                             environ={})
    emb = select_embedder(s, notes.append)
    assert emb.kind == "local" and emb.dimensions == 64
    assert notes == []


def test_named_provider_without_key_falls_back_with_notice(tmp_path: Path,
                                                           monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[rag.embedding]\ndefault_provider = "openai"\n'
                   "[rag.vector_storage]\ndimensions = 64\n")
    notes: list[str] = []
    s = config_mod.from_dict(config_mod.read_file(cfg), cfg, environ={})
    emb = select_embedder(s, notes.append)
    assert emb.kind == "local" and emb.dimensions == 64
    assert len(notes) == 1 and "openai" in notes[0] and "local embedder" in notes[0]


# -- store ----------------------------------------------------------------------------

def test_store_grows_from_small_and_respects_the_cap() -> None:
    store = VectorStore(16, max_elements=3000, initial_capacity=100)
    vecs = unit(2500, 16)
    recs = [Record(str(i), str(i), f"doc {i}") for i in range(2500)]
    for lo in range(0, 2500, 500):
        store.add("ns", recs[lo:lo + 500], vecs[lo:lo + 500])
    index = store._open["ns"].index
    assert 2500 <= index.get_max_elements() <= 3200
    with pytest.raises(StoreFull, match="max_elements 3000"):
        store.add("ns", [Record("x", "x", "x")] * 600, unit(600, 16, 1))
    hits = store.search("ns", vecs[42], k=3)
    assert hits[0].id == "42" and hits[0].score > 0.99


def test_huge_cap_is_not_preallocated() -> None:
    store = VectorStore(768, max_elements=10_000_000)
    store.add("a", [Record("1", "1", "x")], unit(1, 768))
    assert store._open["a"].index.get_max_elements() < 10_000


def test_delete_marks_deleted_and_slots_are_reused() -> None:
    store = VectorStore(8, initial_capacity=4)
    vecs = unit(4, 8)
    store.add("n", [Record(str(i), f"d{i}", str(i)) for i in range(4)], vecs)
    assert store.delete_doc("n", "d1") == 1
    assert [h.id for h in store.search("n", vecs[1], k=4)] != [] and \
        "1" not in [h.id for h in store.search("n", vecs[1], k=4)]
    store.add("n", [Record("new", "dn", "new")], unit(1, 8, 5))
    assert store._open["n"].index.get_max_elements() == 4  # reused the deleted slot
    assert store.count("n") == 4


def test_metric_and_dimension_errors() -> None:
    store = VectorStore(8)
    with pytest.raises(DimensionMismatch):
        store.add("n", [Record("a", "a", "a")], unit(1, 9))
    store.add("n", [Record("a", "a", "a")], unit(1, 8))
    with pytest.raises(DimensionMismatch):
        store.search("n", unit(1, 9)[0])


def test_persistence_reopens_and_refuses_other_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "vec"
    store = VectorStore(8, path=path)
    vecs = unit(5, 8)
    store.add("n", [Record(str(i), str(i), f"text {i}", {"i": i}) for i in range(5)], vecs)
    store.delete_doc("n", "3")
    store.close()
    again = VectorStore(8, path=path)
    hits = again.search("n", vecs[2], k=5)
    assert hits[0].id == "2" and hits[0].metadata == {"i": 2}
    assert "3" not in [h.id for h in hits] and len(hits) == 4
    again.close()
    with pytest.raises(DimensionMismatch, match="holds 8-dim vectors"):
        VectorStore(16, path=path)


def test_unsaved_writes_are_rebuilt_from_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "vec"
    store = VectorStore(8, path=path)
    vecs = unit(3, 8)
    store.add("n", [Record(str(i), str(i), str(i)) for i in range(2)], vecs[:2])
    store.save()
    store.add("n", [Record("2", "2", "2")], vecs[2:])  # never saved to the graph file
    store.delete_doc("n", "0")
    store.db.close()  # a crash: no save
    again = VectorStore(8, path=path)
    assert sorted(h.id for h in again.search("n", vecs[2], k=5)) == ["1", "2"]


# -- service: scopes, tenants, sessions --------------------------------------------

def test_tenants_are_isolated_and_counted(pg: str | None) -> None:
    svc = RagService(settings(pg))
    svc.ingest([{"content": "Acme security policy: encrypt restricted data.",
                 "metadata": {"title": "Policy"}}], "tenant", "acme")
    svc.ingest([{"content": "Startup MVP: authentication and payments."}], "tenant", "startup")
    for _ in range(2):
        res = svc.search("security policy encrypt", 10, "tenant", "startup")
        assert all("Acme" not in r["content"] for r in res["results"])
    res = svc.search("security", 10, "tenant", "acme")
    assert res["results"][0]["metadata"]["title"] == "Policy"
    assert res["results"][0]["metadata"]["doc_id"] and res["results"][0]["metadata"]["text"]
    stats = svc.stats("tenant", "startup")
    assert stats["total_vectors"] == 1 and stats["searches_performed"] == 2
    assert stats["embeddings_generated"] == 1 and stats["embedding_tokens"] > 0
    assert svc.stats("tenant")["namespaces"] == 2
    assert svc.search("security", 10)["total"] == 0  # global scope holds nothing


def test_tenant_limits_apply_when_multi_tenant(pg: str | None) -> None:
    svc = RagService(settings(pg, multi_tenant=True, tenant_limits={"max_vectors": 2}))
    svc.ingest([{"content": "one"}, {"content": "two"}], "tenant", "t")
    with pytest.raises(RagError, match="limit of 2 vectors"):
        svc.ingest([{"content": "three"}], "tenant", "t")
    svc.ingest([{"content": "three"}], "tenant", "other")


def test_sessions_need_uuid_and_ttl_expires(pg: str | None) -> None:
    svc = RagService(settings(pg))
    with pytest.raises(RagError, match="Invalid session ID: nope"):
        svc.ingest([{"content": "x"}], "session", "nope")
    sid = str(uuid.uuid4())
    out = svc.create_session_collection(sid, 1)
    assert out == {"session_id": sid, "namespace": f"session_{sid}", "created": True, "ttl": 1}
    svc.ingest([{"content": "remember the blue door"}], "session", sid)
    other = str(uuid.uuid4())
    svc.ingest([{"content": "remember the red door"}], "session", other)
    assert svc.search("blue door", 5, "session", sid)["total"] == 1
    assert all("blue" not in r["content"]
               for r in svc.search("blue door", 5, "session", other)["results"])
    time.sleep(1.1)
    assert svc.search("blue door", 5, "session", sid)["total"] == 0
    assert svc.stats("session", sid)["total_vectors"] == 0
    assert svc.stats("session", other)["total_vectors"] == 1  # no TTL there


def test_cleanup_scope_counts_and_upsert_by_id(pg: str | None) -> None:
    svc = RagService(settings(pg))
    sid = str(uuid.uuid4())
    svc.ingest([{"content": f"turn {i}"} for i in range(5)], "session", sid)
    r = svc.ingest([{"id": "doc-1", "content": "first version"}], "session", sid)
    assert r["documents_replaced"] == 0
    r = svc.ingest([{"id": "doc-1", "content": "second version"}], "session", sid)
    assert r["documents_replaced"] == 1
    assert svc.stats("session", sid)["total_vectors"] == 6
    assert svc.cleanup_scope("session", sid) == 6
    assert svc.search("turn", 10, "session", sid)["total"] == 0


def test_missing_content_threshold_filters_and_empty_query(pg: str | None) -> None:
    svc = RagService(settings(pg))
    with pytest.raises(RagError, match="Document requires 'content' or 'text' field"):
        svc.ingest([{"metadata": {}}])
    svc.ingest([{"text": "red apples", "metadata": {"color": "red"}},
                {"content": "red cherries", "metadata": {"color": "dark"}},
                {"content": "green apples", "metadata": {"color": "green"}}])
    assert svc.search("", 5) == {"success": True, "total": 0, "results": []}
    assert svc.search("  ?! ", 5)["total"] == 0
    only = svc.search("apples", 5, filters={"color": ["green", "dark"]})
    assert {r["metadata"]["color"] for r in only["results"]} <= {"green", "dark"}
    assert only["total"] == 2
    strict = svc.search("red apples", 5, threshold=0.99)
    assert [r["content"] for r in strict["results"]] == ["red apples"]


def test_huge_unicode_document(tmp_path: Path) -> None:
    svc = RagService(settings(chunking={"chunk_size": 128, "overlap": 16}))
    para = "Ünïcödé текст 東京タワー 🚀 emoji sentence number {}. "
    text = "".join(para.format(i) for i in range(20000))  # ~1 MB
    out = svc.ingest([{"content": text, "id": "big"}])
    assert out["vectors_created"] > 100
    hits = svc.search("sentence number 12345", 3)["results"]
    assert hits and hits[0]["doc_id"] == "big" and "12345" in hits[0]["content"]


def test_persistence_across_two_services(tmp_path: Path, pg: str | None) -> None:
    s = settings(pg, vector_storage={"persistence_path": str(tmp_path / "p")})
    one = RagService(s)
    sid = str(uuid.uuid4())
    one.create_session_collection(sid, 3600)
    one.ingest([{"content": "persistent memory about hnsw graphs"}], "tenant", "a")
    one.ingest([{"content": "session note"}], "session", sid)
    one.close()
    two = RagService(s)
    assert two.search("hnsw graphs", 3, "tenant", "a")["results"][0]["content"].startswith(
        "persistent")
    assert two.stats("tenant", "a")["documents_ingested"] == 1
    assert two.stats("session", sid)["ttl"] == 3600
    two.close()
    if pg:  # a server keeps vectors of every dimension apart (one index per dimension)
        return
    bad = settings(vector_storage={"persistence_path": str(tmp_path / "p"), "dimensions": 128})
    with pytest.raises(DimensionMismatch):
        RagService(bad)


def test_remote_embedder_rejects_wrong_dimensions() -> None:
    from llmspell.rag.embeddings import RemoteEmbedder

    class Client:
        name = "fake"

        def embed(self, texts, model=None, dimensions=None):  # type: ignore[no-untyped-def]
            return [[1.0, 0.0, 0.0] for _ in texts]

    emb = RemoteEmbedder(Client(), "fake", 4, None)
    with pytest.raises(ValueError, match="returned 3-dim vectors; rag.vector_storage"):
        emb.embed(["x"])
    svc = RagService(settings(vector_storage={"dimensions": 3}), embedder=RemoteEmbedder(
        Client(), "fake", 3, None))
    assert svc.ingest([{"content": "x"}])["vectors_created"] == 1
    with pytest.raises(RagError, match="makes 3-dim vectors"):
        RagService(settings(), embedder=RemoteEmbedder(Client(), "fake", 3, None)).ingest(
            [{"content": "x"}])


def test_search_cache_hits_and_invalidation(pg: str | None) -> None:
    svc = RagService(settings(pg))
    svc.ingest([{"content": "alpha beta"}])
    first = svc.search("alpha", 5)
    first["results"][0]["content"] = "mutated by the caller"
    again = svc.search("alpha", 5)
    assert svc.search_cache_hits == 1 and again["results"][0]["content"] == "alpha beta"
    svc.ingest([{"content": "alpha gamma"}])  # a write invalidates
    assert svc.search("alpha", 5)["total"] == 2 and svc.search_cache_hits == 1
    svc.configure({"enable_cache": False})
    svc.search("alpha", 5)
    svc.search("alpha", 5)
    assert svc.search_cache_hits == 1


def test_max_memory_caps_index_growth() -> None:
    store = VectorStore(64, max_memory_mb=1, initial_capacity=16)
    per = store._slot_bytes
    fits = (2**20) // per
    store.add("a", [Record(str(i), str(i), "x") for i in range(fits - 10)], unit(fits - 10, 64))
    with pytest.raises(StoreFull, match="max_memory_mb 1"):
        store.add("a", [Record("y", "y", "y")] * 20, unit(20, 64, 3))
    assert store.memory_bytes() <= 2**20


def test_persisted_store_refuses_another_embedder(tmp_path: Path, pg: str | None) -> None:
    s = settings(pg, vector_storage={"persistence_path": str(tmp_path / "p")})
    one = RagService(s)
    one.ingest([{"content": "hashed"}])
    one.close()

    class Other(HashingEmbedder):
        pass

    other = Other(384)
    other.name = "another-embedder"
    two = RagService(s, embedder=other)
    with pytest.raises(RagError, match="holds vectors from the embedder 'hashing-384'"):
        two.search("hashed", 3)
    two.close()
    three = RagService(s)
    assert three.search("hashed", 3)["total"] == 1
    three.close()


def test_semantic_chunking_cuts_at_the_topic_shift() -> None:
    cats = [f"The cat number {i} sleeps on the warm cat bed and purrs." for i in range(6)]
    rockets = [f"The rocket stage {i} burns liquid rocket fuel near orbit." for i in range(6)]
    text = " ".join(cats + rockets)
    emb = HashingEmbedder(256)
    chunks = chunk_text(text, ChunkConfig(strategy="semantic", chunk_size=500,
                                          min_chunk_size=0), TOK, embed=emb.embed)
    assert len(chunks) >= 2
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert any(c.text.endswith(cats[-1]) for c in chunks)  # a cut between the topics
    assert not any("cat" in c.text and "rocket" in c.text for c in chunks)
    with pytest.raises(ValueError, match="needs an embedder"):
        chunk_text(text, ChunkConfig(strategy="semantic"), TOK)
    # through the service (the embedder is the store's)
    svc = RagService(settings(chunking={"strategy": "semantic", "min_chunk_size": 0}))
    assert svc.ingest([{"content": text}])["vectors_created"] >= 2


def test_filtered_search_exact_and_graph_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmspell.rag import store as store_mod

    store = VectorStore(16)
    vecs = unit(400, 16, 9)
    store.add("n", [Record(str(i), str(i), str(i), {"even": i % 2 == 0}) for i in range(400)],
              vecs)
    exact = store.search("n", vecs[10], 5, where=lambda m: m["even"])
    monkeypatch.setattr(store_mod, "EXACT_FILTER_LIMIT", 10)
    graph = store.search("n", vecs[10], 5, where=lambda m: m["even"])
    assert exact[0].id == graph[0].id == "10"
    assert all(int(h.id) % 2 == 0 for h in exact + graph)
    assert len({h.id for h in exact} & {h.id for h in graph}) >= 4
