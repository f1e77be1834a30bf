"""Choosing the embedder, and a small cache in front of it.

Order (``[rag.embedding] default_provider``):
- ``openai`` / ``ollama`` (or another provider entry): the providers package's
  embedding client, asked for ``[rag.vector_storage] dimensions``; when that provider
  cannot be used (no API key, no such provider) the local embedder takes over and one
  notice says so on stderr -- except for the built-in default without a key (the user
  named no provider), where the local embedder is simply the choice;
- ``local`` (or the fallback): all-MiniLM-L6-v2 when the ``minilm`` extra is installed
  and the index wants its 384 dimensions, else the hashing embedder at the configured
  size (saying once why MiniLM was not used when it is installed);
- ``hashing``: the hashing embedder, always.
Every embedder has ``name``, ``kind`` ("local"/"remote"), ``dimensions``,
``embed(texts) -> float32 array (n, dims)`` with unit rows, ``count_tokens(texts)``.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from . import minilm
from .hashing import HashingEmbedder

LOCAL_NAMES = ("local", "minilm", "hashing", "hash")
Notify = Callable[[str], None]


class RemoteEmbedder:
    """A provider's embedding client behind the embedder interface."""

    kind = "remote"

    def __init__(self, client: Any, provider: str, dimensions: int, model: str | None,
                 batch_size: int = 32) -> None:
        self._client = client
        self.provider = provider
        self.dimensions = dimensions
        self.model = model
        self.batch_size = max(1, batch_size)
        self.name = f"{provider}:{model}" if model else provider

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        rows: list[list[float]] = []
        for lo in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[lo:lo + self.batch_size]]
            rows.extend(self._client.embed(batch, model=self.model, dimensions=self.dimensions))
        for row in rows:
            if len(row) != self.dimensions:
                raise ValueError(f"embedding provider '{self.provider}' returned {len(row)}-dim "
                                 f"vectors; rag.vector_storage.dimensions is {self.dimensions}")
        with np.errstate(over="ignore"):  # past float32's range is inf: refused below
            out = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dimensions) \
                if rows else np.zeros((0, self.dimensions), dtype=np.float32)
        if not np.isfinite(out).all():
            raise ValueError(f"embedding provider '{self.provider}' returned a vector with "
                             "an infinite or NaN value (or one past float32's range)")
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(t.split()) for t in texts)


def local_embedder(dimensions: int, notify: Notify, *, prefer_minilm: bool = True,
                   batch_size: int = 32) -> Any:
    if prefer_minilm and minilm.available():
        if dimensions == minilm.DIMENSIONS:
            return minilm.MiniLMEmbedder(batch_size=batch_size)
        notify(f"RAG: all-MiniLM-L6-v2 makes {minilm.DIMENSIONS}-dim vectors but "
               f"rag.vector_storage.dimensions is {dimensions}; using the hashing embedder "
               f"at {dimensions} dims")
    return HashingEmbedder(dimensions)


def _provider_client(settings: Any, provider: str,
                     budget: Callable[[], float | None] | None = None) -> Any:
    """The providers package's embedding client, or raise saying why there is none.
    ``budget`` (seconds left to the run's deadline) bounds each of its requests."""
    try:
        from llmspell.providers import embedding_client  # type: ignore[attr-defined]
    except ImportError:
        raise LookupError("remote embeddings are not available in this build") from None
    return embedding_client(settings, provider, budget=budget)


def _needs_key(exc: Exception) -> bool:
    from llmspell.errors import NeedsKeyError

    return isinstance(exc, NeedsKeyError)


def _named_by_user(settings: Any) -> bool:
    """Whether the user chose ``[rag.embedding] default_provider`` (in the config file or
    the environment) rather than getting the built-in default. Only asked when that
    provider cannot be used, so reading the file again costs nothing on a normal run."""
    from llmspell import config as config_mod

    path = "rag.embedding.default_provider"
    chosen = settings.get("rag.embedding.default_provider")
    if chosen != config_mod.defaults()["rag"]["embedding"]["default_provider"]:
        return True
    if any(p == path and n in os.environ for n, p, _k in config_mod.ENV_OVERRIDES):
        return True
    source = getattr(settings, "source", None)
    if source is None:
        return False
    try:
        raw = config_mod.read_file(source)
    except Exception:  # the file was read once already; unreadable now: assume named
        return True
    section = raw.get("rag", {}).get("embedding", {}) if isinstance(raw.get("rag"), dict) \
        else {}
    return isinstance(section, dict) and "default_provider" in section


def select_embedder(settings: Any, notify: Notify, provider: str | None = None,
                    budget: Callable[[], float | None] | None = None) -> Any:
    dims = int(settings.get("rag.vector_storage.dimensions"))
    provider = (provider or settings.get("rag.embedding.default_provider") or "local").lower()
    batch = int(settings.get("rag.embedding.batch_size"))
    if provider in ("hashing", "hash"):
        return HashingEmbedder(dims)
    if provider in LOCAL_NAMES:
        return local_embedder(dims, notify, batch_size=batch)
    try:
        client = _provider_client(settings, provider, budget)
    except Exception as exc:  # no key, unknown provider, not built: fall back
        fallback = local_embedder(dims, lambda _m: None, batch_size=batch)
        if _needs_key(exc) and not _named_by_user(settings):
            return fallback  # the built-in default and no key: local, silently
        why = str(exc).strip() or type(exc).__name__
        notify(f"RAG: embedding provider '{provider}' unavailable ({why}); "
               f"using local embedder {fallback.name}")
        return fallback
    return RemoteEmbedder(client, provider, dims, settings.get("rag.embedding.model"), batch)


class CachedEmbedder:
    """An LRU + TTL cache of text -> vector in front of an embedder."""

    def __init__(self, inner: Any, size: int = 10000, ttl_seconds: float | None = 3600,
                 enabled: bool = True) -> None:
        self.inner = inner
        self.size = max(0, size)
        self.ttl = ttl_seconds
        self.enabled = enabled and self.size > 0
        self._cache: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def count_tokens(self, texts: list[str]) -> int:
        return self.inner.count_tokens(texts)

    def cached(self, text: str) -> bool:
        """Whether ``embed`` would answer ``text`` from the cache (no embedding work)."""
        if not self.enabled:
            return False
        hit = self._cache.get(text)
        return hit is not None and (self.ttl is None or time.monotonic() - hit[0] < self.ttl)

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        if not self.enabled:
            return self.inner.embed(texts)
        now = time.monotonic()
        out = np.zeros((len(texts), self.inner.dimensions), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is not None and (self.ttl is None or now - hit[0] < self.ttl):
                self._cache.move_to_end(text)
                out[i] = hit[1]
                self.hits += 1
            else:
                todo.setdefault(text, []).append(i)
        if todo:
            keys = list(todo)
            self.misses += len(keys)
            vectors = self.inner.embed(keys)
            for key, vec in zip(keys, vectors, strict=True):
                out[todo[key]] = vec
                self._cache[key] = (now, vec.copy())
                self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return out
