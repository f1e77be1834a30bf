"""The always-available embedder: signed feature hashing of words and character n-grams.

Each lower-cased word adds weight 1 at ``hash(word) mod dims`` (sign from another hash
bit); each character trigram of ``<word>`` adds 0.5 (so "container" and "containers"
land close); the vector is L2-normalised. Deterministic across processes and machines
(blake2b, not Python's salted ``hash``), so persisted vectors stay comparable. It knows
no synonyms: it finds shared words and word pieces, not meaning.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

_WORD_RX = re.compile(r"\w+")
TRIGRAM_WEIGHT = 0.5


class HashingEmbedder:
    kind = "local"

    def __init__(self, dimensions: int) -> None:
        if dimensions < 1:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        self.dimensions = dimensions
        self.name = f"hashing-{dimensions}"
        self._slots: dict[str, tuple[int, float]] = {}

    def _slot(self, feature: str) -> tuple[int, float]:
        hit = self._slots.get(feature)
        if hit is None:
            digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"),
                                     digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            hit = (value % self.dimensions, 1.0 if (value >> 63) & 1 else -1.0)
            if len(self._slots) < 500_000:
                self._slots[feature] = hit
        return hit

    def features(self, text: str) -> dict[int, float]:
        acc: dict[int, float] = {}
        norm = unicodedata.normalize("NFKC", text).lower()
        for word in _WORD_RX.findall(norm):
            index, sign = self._slot("w:" + word)
            acc[index] = acc.get(index, 0.0) + sign
            padded = f"<{word}>"
            for i in range(len(padded) - 2):
                index, sign = self._slot("c:" + padded[i:i + 3])
                acc[index] = acc.get(index, 0.0) + sign * TRIGRAM_WEIGHT
        return acc

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            feats = self.features(text)
            if feats:
                out[row, list(feats)] = list(feats.values())
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(_WORD_RX.findall(t)) for t in texts)
