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
- ``none``: the whole document is one chunk.
A trailing chunk smaller than ``min_chunk_size`` tokens is merged into the previous
one when the two fit in ``max_chunk_size``. Chunks are exact substrings of the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Protocol

STRATEGIES = ("sliding_window", "sentence", "none")

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


def chunk_text(text: str, config: ChunkConfig | None = None,
               tokenizer: Tokenizer | None = None) -> list[Chunk]:
    """Chunks of ``text`` (an empty list for text without a single token)."""
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
    size, overlap = cfg.chunk_size, cfg.overlap
    if cfg.strategy == "sentence":
        overlap = 0
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            # prefer the last sentence start in the window's second half
            floor = start + max(1, size // 2)
            for b in range(end, floor, -1):
                if flags[b]:
                    end = b
                    break
        bounds.append((start, end))
        if end >= n:
            break
        nxt = end - overlap if overlap else end
        if overlap:
            # begin the overlap at a sentence start when one lies inside it
            for b in range(nxt, end):
                if flags[b]:
                    nxt = b
                    break
        start = max(nxt, start + 1)
    if len(bounds) > 1:
        a, b = bounds[-1]
        pa, _pb = bounds[-2]
        if b - a < cfg.min_chunk_size and b - pa <= cfg.max_chunk_size:
            bounds[-2:] = [(pa, b)]
    return [make(a, b) for a, b in bounds]


def count_tokens(text: str, tokenizer: Tokenizer | None = None) -> int:
    return len((tokenizer or default_tokenizer()).spans(text))
