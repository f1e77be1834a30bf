"""LLM providers: chat and embedding clients over httpx.

    chat_client(settings, "openai")        -> client with .chat(ChatRequest, on_chunk=None)
    embedding_client(settings, "openai")   -> client with .embed(texts, model, dimensions)
    ProviderManager(settings)              -> per-run cache of clients (agents use it)

Provider resolution (names, keys, base URLs) is in ``registry.py``; retries in
``retry.py``; record/playback in ``cassette.py``; usage totals in ``usage.py``.
httpx is imported only when a client is built.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NeedsKeyError, ProviderError

if TYPE_CHECKING:
    from .registry import ProviderInfo


def _defer_httpx_cli() -> None:
    """httpx's ``__init__`` imports its command-line client (``httpx._main``: click,
    rich.progress, rich.syntax, pygments), about half of its import time, paid by the
    first provider call of every run. llmspell never runs that CLI, so until httpx is
    imported the module is a stand-in whose ``main`` loads the real one if ever called."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules["httpx._main"]
        import importlib

        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


_defer_httpx_cli()


def __getattr__(name: str) -> Any:  # registry names load on first use (CLI start-up)
    if name in ("ProviderInfo", "split_model"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve(*args: Any, **kwargs: Any) -> ProviderInfo:
    """See ``registry.resolve``: a provider name -> type, URL, key, timeout, retries."""
    from .registry import resolve as _resolve

    return _resolve(*args, **kwargs)


def default_provider(settings: Any) -> str | None:
    return settings.get("providers.default_provider")

__all__ = ["NeedsKeyError", "ProviderError", "ProviderInfo", "ProviderManager", "chat_client",
           "default_provider", "embedding_client", "make_client", "resolve", "split_model"]

CAPABILITIES = {
    "openai": {"supports_streaming": True, "supports_multimodal": True,
               "max_context_tokens": 128000},
    "anthropic": {"supports_streaming": True, "supports_multimodal": True,
                  "max_context_tokens": 200000},
    "ollama": {"supports_streaming": True, "supports_multimodal": False},
}


def make_client(info: ProviderInfo, *, budget: Callable[[], float | None] | None = None,
                debug: bool = False, timeout: float | None = None,
                policy: Any = None) -> Any:
    """A chat/embedding client for a resolved provider."""
    from . import cassette
    from .checked import CheckedClient
    from .http import Http

    active = cassette.active()
    if active is not None and active.mode == "record":
        active.add_secret(info.api_key)
    http = Http(info.name, timeout=timeout or info.timeout, policy=policy or info.policy,
                key_hint=info.key_hint, budget=budget, debug=debug, base_url=info.base_url,
                guard_private=info.guard_private)
    if info.kind == "anthropic":
        from .anthropic import AnthropicClient

        return CheckedClient(AnthropicClient(info, http))
    if info.kind == "ollama":
        from .ollama import OllamaClient

        return CheckedClient(OllamaClient(info, http))
    from .openai import OpenAIClient

    return CheckedClient(OpenAIClient(info, http))


def chat_client(settings: Any, provider_name: str, *, base_url: str | None = None,
                api_key: str | None = None, **kwargs: Any) -> Any:
    info = resolve(settings, provider_name, base_url=base_url, api_key=api_key)
    if not info.enabled:
        raise ProviderError(f"{provider_name}: provider is disabled "
                            f"(providers.{provider_name}.enabled = false)")
    return make_client(info, **kwargs)


def embedding_client(settings: Any, provider_name: str | None = None, **kwargs: Any) -> Any:
    """An embedding client: ``.embed(texts, model=None, dimensions=None) -> list[vector]``.

    Raises NeedsKeyError at once when the provider needs a key and none is configured.
    """
    name = provider_name or settings.get("rag.embedding.default_provider") or \
        default_provider(settings) or "openai"
    info = resolve(settings, name)
    if info.kind == "anthropic":
        raise ProviderError(f"{name}: Anthropic has no embeddings API; use an openai, "
                            "OpenAI-compatible or ollama provider for embeddings")
    info.key()
    return make_client(info, **kwargs)


class ProviderManager:
    """The providers of one run: clients are built on first use and reused."""

    def __init__(self, settings: Any, *, budget: Callable[[], float | None] | None = None,
                 debug: bool = False) -> None:
        self.settings = settings
        self.budget = budget
        self.debug = debug
        self._clients: dict[tuple[str, str | None, str | None], Any] = {}

    def info(self, name: str, base_url: str | None = None, api_key: str | None = None
             ) -> ProviderInfo:
        info = resolve(self.settings, name, base_url=base_url, api_key=api_key)
        if not info.enabled:
            raise ProviderError(f"{name}: provider is disabled (providers.{name}.enabled = "
                                "false)")
        return info

    def client(self, name: str, base_url: str | None = None, api_key: str | None = None
               ) -> Any:
        key = (name, base_url, api_key)
        client = self._clients.get(key)
        if client is None:
            from .session import with_reply_stream

            client = with_reply_stream(make_client(self.info(name, base_url, api_key),
                                                   budget=self.budget, debug=self.debug))
            self._clients[key] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.http.close()
        self._clients.clear()

    def configured(self) -> list[str]:
        return list(self.settings.providers)

    def describe(self, name: str, models: bool = True) -> dict[str, Any] | None:
        if name not in self.settings.providers:
            return None
        entry = self.settings.providers[name]
        try:
            info = resolve(self.settings, name)
        except ProviderError:
            return {"name": name, "enabled": False}
        caps: dict[str, Any] = dict(CAPABILITIES.get(info.kind, {}))
        if models:
            model = entry.get("default_model") or entry.get("model")
            caps["available_models"] = [model] if model else []
        return {"name": name, "enabled": info.enabled, "capabilities": caps}


def check_reachable(settings: Any, names: list[str], timeout: float = 3.0
                    ) -> dict[str, dict[str, Any]]:
    """For ``llmspell providers``: where each provider points and whether it answers.

    One cheap authenticated GET per provider (``/models`` or Ollama's ``/api/tags``),
    all at once, no retries. Status is ``reachable``, ``unreachable: <why>``,
    ``no key: <how to set one>``, ``disabled`` or ``unknown: <why>``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .retry import RetryPolicy

    def one(name: str) -> dict[str, Any]:
        try:
            info = resolve(settings, name)
        except ProviderError as exc:
            return {"endpoint": None, "status": f"unknown: {exc}"}
        out: dict[str, Any] = {"endpoint": info.base_url}
        if not info.enabled:
            out["status"] = "disabled"
            return out
        try:
            info.key()
        except NeedsKeyError:
            out["status"] = f"no key: {info.missing_key_remedy}"
            return out
        client = make_client(info, timeout=timeout, policy=RetryPolicy(max_retries=0))
        try:
            out["status"] = client.check()
        except ProviderError as exc:
            out["status"] = "unreachable: " + str(exc).removeprefix(f"{name}: ")
        finally:
            client.http.close()
        return out

    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))
