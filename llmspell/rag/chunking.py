"""Split a document into overlapping chunks, measured in tokens, cut at sentence ends.

Tokens: with the ``minilm`` extra installed, the BERT uncased WordPiece tokenizer of
all-MiniLM-L6-v2 (the ``tokenizers`` library) counts them, so a 256-token chunk is
what that model sees. Without it, a regex tokenizer stands in: a run of letters/digits
is one token, each CJK character is one token, each other symbol is one token (close
to WordPiece for English prose, somewhat fewer tokens for rare words).

Strategies (``[rag.chunking] strategy``):
- ``sliding_window``: windows of ``chunk_size`` tokens; a window ends at the last
  sentence end in its second half when there is one; the next window starts
  ``overlap`` tokens earlier, moved forward to a sentence start when one is close;
- ``sentence``: whole sentences packed into chunks of at most ``chunk_size`` tokens,
  no overlap (a sentence longer than a chunk is cut into windows);
- ``semantic``: each sentence is embedded; the document is cut at the gaps between
  adjacent sentences whose similarity is among the lowest 20 % (topic shifts), then
  each part is packed like ``sentence``; parts under ``min_chunk_size`` join a
  neighbour when the two fit in ``chunk_size``. Costs one embedding per sentence;
- ``none``: the whole document is one chunk.
A trailing chunk smaller than ``min_chunk_size`` tokens is merged into the previous
one when the two fit in ``max_chunk_size``. Chunks are exact substrings of the text.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import CHUNK_STRATEGIES

STRATEGIES = CHUNK_STRATEGIES
# semantic: cut at the sentence gaps whose similarity is in the lowest 20 %
SEMANTIC_BREAK_SHARE = 0.2

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RX = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
# A sentence starts after ., !, ? (and CJK full stops) followed by space, or after a
# blank line / line break.
_SENTENCE_RX = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])[\"')\]]*\s+|\n\s*")


class Tokenizer(Protocol):
    name: str

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token, in order."""
        ...


class RegexTokenizer:
    name = "regex-words"

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN_RX.finditer(text)]


class WordPieceTokenizer:
    """The all-MiniLM-L6-v2 tokenizer, no truncation (counts every token)."""

    name = "wordpiece-bert-uncased"

    def __init__(self, tokenizer: object) -> None:
        self._tok = tokenizer

    def spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._tok.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
        out: list[tuple[int, int]] = []
        for start, end in enc.offsets:
            if out and start < out[-1][1]:  # pieces of one character (rare): merge
                out[-1] = (out[-1][0], max(end, out[-1][1]))
            elif end > start:
                out.append((start, end))
        return out


_default: Tokenizer | None = None


def default_tokenizer() -> Tokenizer:
    """WordPiece when the minilm extra is installed, the regex tokenizer otherwise."""
    global _default
    if _default is None:
        from .embeddings import minilm

        tok = minilm.load_tokenizer(truncate=None) if minilm.available() else None
        _default = WordPieceTokenizer(tok) if tok is not None else RegexTokenizer()
    return _default


@dataclass(frozen=True)
class ChunkConfig:
    strategy: str = "sliding_window"
    chunk_size: int = 512
    overlap: int = 64
    max_chunk_size: int = 2048
    min_chunk_size: int = 100

    def checked(self) -> ChunkConfig:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown chunking strategy '{self.strategy}' "
                             f"(use {', '.join(STRATEGIES)})")
        size = min(self.chunk_size, self.max_chunk_size) if self.max_chunk_size > 0 \
            else self.chunk_size
        if size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {self.chunk_size}")
        overlap = max(0, min(self.overlap, size - 1))
        return ChunkConfig(self.strategy, size, overlap, max(self.max_chunk_size, size),
                           max(0, self.min_chunk_size))


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # character offsets into the document
    end: int
    tokens: int


def _sentence_starts(text: str, spans: list[tuple[int, int]]) -> list[bool]:
    """For each token: does a sentence start at it?"""
    starts = [m.end() for m in _SENTENCE_RX.finditer(text)]
    flags = [False] * len(spans)
    token_starts = [s for s, _ in spans]
    for pos in starts:
        i = bisect.bisect_left(token_starts, pos)
        if i < len(flags):
            flags[i] = True
    if flags:
        flags[0] = True
    return flags


def _windows(lo: int, hi: int, flags: list[bool], size: int, overlap: int,
             any_boundary: bool) -> list[tuple[int, int]]:
    """Token windows over [lo, hi): at most ``size`` tokens, ending at a sentence start
    (in the window's second half, or anywhere when ``any_boundary``) when one exists."""
    bounds: list[tuple[int, int]] = []
    start = lo
    while start < hi:
        end = min(start + size, hi)
        if end < hi:
            floor = start if any_boundary else start + max(1, size // 2)
            for b in range(end, floor, -1):
                if flags[b]:
                    end = b
                    break
        bounds.append((start, end))
        if end >= hi:
            break
        nxt = end - overlap if overlap else end
        if overlap:
            # begin the overlap at a sentence start when one lies inside it
            for b in range(nxt, end):
                if flags[b]:
                    nxt = b
                    break
        start = max(nxt, start + 1)
    return bounds


def _merge_small(bounds: list[tuple[int, int]], cfg: ChunkConfig,
                 last_only: bool) -> list[tuple[int, int]]:
    """Join chunks under min_chunk_size tokens to a neighbour when both fit."""
    if last_only:
        if len(bounds) > 1:
            a, b = bounds[-1]
            pa, _ = bounds[-2]
            if b - a < cfg.min_chunk_size and b - pa <= cfg.max_chunk_size:
                bounds[-2:] = [(pa, b)]
        return bounds
    out: list[tuple[int, int]] = []
    for a, b in bounds:
        if out and (b - a < cfg.min_chunk_size or out[-1][1] - out[-1][0] < cfg.min_chunk_size) \
                and b - out[-1][0] <= cfg.chunk_size:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _semantic_groups(text: str, spans: list[tuple[int, int]], flags: list[bool],
                     embed: Callable[[list[str]], Any]) -> list[tuple[int, int]]:
    """Runs of sentences between the largest topic shifts (token ranges)."""
    starts = [i for i, f in enumerate(flags) if f] + [len(spans)]
    sentences = list(zip(starts, starts[1:], strict=False))
    if len(sentences) < 3:
        return [(0, len(spans))]
    import numpy as np

    vectors = np.asarray(embed([text[spans[a][0]:spans[b - 1][1]] for a, b in sentences]),
                         dtype=np.float32)
    sims = (vectors[:-1] * vectors[1:]).sum(axis=1).tolist()
    ranked = sorted(sims)
    cut = ranked[max(0, math.ceil(len(ranked) * SEMANTIC_BREAK_SHARE) - 1)]
    top = ranked[-1]
    groups: list[tuple[int, int]] = []
    begin = 0
    for i, sim in enumerate(sims):
        if sim <= cut and sim < top:
            groups.append((sentences[begin][0], sentences[i][1]))
            begin = i + 1
    groups.append((sentences[begin][0], sentences[-1][1]))
    return groups


def chunk_text(text: str, config: ChunkConfig | None = None,
               tokenizer: Tokenizer | None = None,
               embed: Callable[[list[str]], Any] | None = None) -> list[Chunk]:
    """Chunks of ``text`` (an empty list for text without a single token).

    ``embed`` (texts -> unit vectors) is needed by the ``semantic`` strategy only.
    """
    cfg = (config or ChunkConfig()).checked()
    spans = (tokenizer or default_tokenizer()).spans(text)
    n = len(spans)
    if n == 0:
        return []

    def make(a: int, b: int) -> Chunk:  # tokens a..b-1
        start, end = spans[a][0], spans[b - 1][1]
        return Chunk(text[start:end], start, end, b - a)

    if cfg.strategy == "none":
        return [make(0, n)]
    flags = _sentence_starts(text, spans)
    if cfg.strategy == "sliding_window":
        bounds = _windows(0, n, flags, cfg.chunk_size, cfg.overlap, any_boundary=False)
        return [make(a, b) for a, b in _merge_small(bounds, cfg, last_only=True)]
    if cfg.strategy == "sentence":
        bounds = _windows(0, n, flags, cfg.chunk_size, 0, any_boundary=True)
        return [make(a, b) for a, b in _merge_small(bounds, cfg, last_only=True)]
    if embed is None:
        raise ValueError("the semantic chunking strategy needs an embedder")
    bounds = []
    for lo, hi in _semantic_groups(text, spans, flags, embed):
        bounds.extend(_windows(lo, hi, flags, cfg.chunk_size, 0, any_boundary=True))
    return [make(a, b) for a, b in _merge_small(bounds, cfg, last_only=False)]


def count_tokens(text: str, tokenizer: Tokenizer | None = None) -> int:
    return len((tokenizer or default_tokenizer()).spans(text))
