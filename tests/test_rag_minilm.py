"""all-MiniLM-L6-v2 (extra ``minilm``) against reference vectors from sentence-transformers.

The fixture was computed once, outside CI, by tests/tools/make_minilm_reference.py with
the fp32 PyTorch weights; ours runs the int8 ONNX export on onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmspell import config as config_mod
from llmspell.rag.embeddings import minilm, select_embedder

pytestmark = pytest.mark.skipif(not minilm.available(),
                                reason="extra 'minilm' not installed: "
                                       f"{', '.join(minilm.missing())}")

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="module")
def embedder() -> minilm.MiniLMEmbedder:
    return minilm.MiniLMEmbedder(threads=2)


def test_matches_reference_vectors(embedder: minilm.MiniLMEmbedder) -> None:
    ref = json.loads(FIXTURE.read_text())
    ours = embedder.embed(ref["texts"])
    theirs = np.asarray(ref["vectors"], dtype=np.float32)
    assert ours.shape == theirs.shape == (len(ref["texts"]), 384)
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() >= 0.999, cosines


def test_semantic_neighbours(embedder: minilm.MiniLMEmbedder) -> None:
    a, b, c = embedder.embed(["How do I reset my password?",
                              "I forgot my login credentials.",
                              "The recipe needs two eggs."])
    assert float(a @ b) > float(a @ c) + 0.2  # no shared words, still close


def test_long_input_is_truncated_not_failed(embedder: minilm.MiniLMEmbedder) -> None:
    out = embedder.embed(["word " * 5000, ""])
    assert out.shape == (2, 384) and np.isfinite(out).all()


def test_selected_for_local_384_but_not_for_768() -> None:
    notes: list[str] = []
    s384 = config_mod.from_dict({"rag": {"embedding": {"default_provider": "local"}}},
                                environ={})
    assert select_embedder(s384, notes.append).name == minilm.NAME
    s768 = config_mod.from_dict({"rag": {"embedding": {"default_provider": "local"},
                                         "vector_storage": {"dimensions": 768}}}, environ={})
    emb = select_embedder(s768, notes.append)
    assert emb.name == "hashing-768"
    assert any("768" in n and "hashing" in n for n in notes)


def test_chunking_counts_wordpieces_when_installed() -> None:
    from llmspell.rag import chunking

    tok = chunking.default_tokenizer()
    assert tok.name == "wordpiece-bert-uncased"
    text = "Tokenization splits unbelievably long words. Second sentence here."
    spans = tok.spans(text)
    assert len(spans) > len(text.split())  # word pieces
    chunks = chunking.chunk_text(text, chunking.ChunkConfig(chunk_size=8, overlap=0,
                                                            min_chunk_size=0), tok)
    assert all(text[c.start:c.end] == c.text for c in chunks) and len(chunks) >= 2
