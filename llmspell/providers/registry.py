"""Which provider a name means, and its endpoint, key, timeout and retry policy.

Provider tables come from ``[providers.<name>]`` or ``[providers.providers.<name>]``;
a name with no table is created on demand from its type (the name itself). Kinds:
``openai`` (chat completions; also every OpenAI-compatible server), ``anthropic``
(messages) and ``ollama`` (native ``/api/chat``).

API key, first found wins (never needed until the provider is used):
  1. the agent's own ``:api_key()``
  2. ``providers.<name>.api_key`` (``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` are merged
     into an existing ``openai`` / ``anthropic`` table by the config loader)
  3. the variable named by ``providers.<name>.api_key_env`` (when set, nothing else)
  4. ``LLMSPELL_PROVIDER_<NAME>_API_KEY``, ``LLMSPELL_<NAME>_API_KEY``, then
     ``<TYPE>_API_KEY`` (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...)

Base URL, first found wins:
  1. the agent's own ``:base_url()``
  2. ``providers.<name>.base_url``
  3. ``LLMSPELL_PROVIDER_<NAME>_BASE_URL``, then ``LLMSPELL_<NAME>_ENDPOINT``
  4. ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` / ``OLLAMA_HOST`` (for those types)
  5. the public default (``https://api.openai.com/v1``, ``https://api.anthropic.com``,
     ``http://127.0.0.1:11434``, or the hosted OpenAI-compatible service's URL)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import NeedsKeyError, ProviderError
from . import cassette
from .retry import RetryPolicy

# provider type -> (kind, public base URL, key required)
TYPES: dict[str, tuple[str, str, bool]] = {
    "openai": ("openai", "https://api.openai.com/v1", True),
    "anthropic": ("anthropic", "https://api.anthropic.com", True),
    "ollama": ("ollama", "http://127.0.0.1:11434", False),
    "openai_compatible": ("openai", "", False),
    "groq": ("openai", "https://api.groq.com/openai/v1", True),
    "together": ("openai", "https://api.together.xyz/v1", True),
    "mistral": ("openai", "https://api.mistral.ai/v1", True),
    "fireworks": ("openai", "https://api.fireworks.ai/inference/v1", True),
    "perplexity": ("openai", "https://api.perplexity.ai", True),
    "deepseek": ("openai", "https://api.deepseek.com/v1", True),
    "openrouter": ("openai", "https://openrouter.ai/api/v1", True),
}
ALIASES = {"openai-compatible": "openai_compatible", "compatible": "openai_compatible",
           "openai_compat": "openai_compatible", "local": "openai_compatible"}
STANDARD_BASE_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL",
                     "ollama": "OLLAMA_HOST"}
DEFAULT_CHAT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest",
                       "ollama": "llama3.1:8b"}
DEFAULT_EMBEDDING_MODELS = {"openai": "text-embedding-3-small", "ollama": "nomic-embed-text"}


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


@dataclass
class ProviderInfo:
    name: str
    type: str
    kind: str
    base_url: str
    api_key: str | None
    key_env: str
    needs_key: bool
    default_model: str | None
    timeout: float | None
    policy: RetryPolicy
    enabled: bool = True
    configured: bool = False
    entry: dict[str, Any] = field(default_factory=dict)

    explicit_key: bool = False

    @property
    def key_hint(self) -> str:
        if self.explicit_key:
            return "the key given to the agent with :api_key()"
        return f"{self.key_env} or providers.{self.name}.api_key"

    def key(self) -> str | None:
        """The API key to send; raises NeedsKeyError when one is required and missing."""
        if self.api_key:
            return self.api_key
        if self.needs_key and not cassette.is_playback():
            raise NeedsKeyError(f"{self.name}: no API key: set {self.key_env} or "
                                f"providers.{self.name}.api_key")
        return None


def provider_type(settings: Any, name: str) -> str:
    entry = settings.providers.get(name) or {}
    raw = str(entry.get("provider_type") or name).strip().lower()
    return ALIASES.get(raw, raw)


def resolve(settings: Any, name: str, *, base_url: str | None = None,
            api_key: str | None = None, environ: Mapping[str, str] | None = None
            ) -> ProviderInfo:
    env = os.environ if environ is None else environ
    entry = settings.providers.get(name)
    ptype = provider_type(settings, name)
    if ptype not in TYPES:
        known = ", ".join(sorted(TYPES))
        raise ProviderError(f"Unknown provider: {name} (type '{ptype}'; known types: {known})")
    kind, public_url, needs_key = TYPES[ptype]
    entry = entry or {}
    upper = _env_name(name)
    standard_key_env = f"{_env_name(ptype)}_API_KEY" if ptype != "openai_compatible" else \
        f"{upper}_API_KEY"
    key_env = entry.get("api_key_env") or standard_key_env
    key = api_key or entry.get("api_key")
    if not key and entry.get("api_key_env"):
        key = env.get(entry["api_key_env"]) or None  # named explicitly: no other fallback
    elif not key:
        for var in (f"LLMSPELL_PROVIDER_{upper}_API_KEY", f"LLMSPELL_{upper}_API_KEY",
                    standard_key_env, f"{upper}_API_KEY"):
            if env.get(var):
                key = env[var]
                break
    url = base_url or entry.get("base_url") or \
        env.get(f"LLMSPELL_PROVIDER_{upper}_BASE_URL") or env.get(f"LLMSPELL_{upper}_ENDPOINT")
    if not url and ptype in STANDARD_BASE_ENV:
        url = env.get(STANDARD_BASE_ENV[ptype])
    url = url or public_url
    if not url:
        raise ProviderError(f"{name}: an OpenAI-compatible provider needs a base URL: set "
                            f"providers.{name}.base_url")
    if kind == "ollama" and "://" not in url:
        url = "http://" + url
    timeout = entry.get("timeout_seconds")
    return ProviderInfo(
        name=name, type=ptype, kind=kind, base_url=url.rstrip("/"), api_key=key,
        key_env=key_env, needs_key=needs_key,
        default_model=entry.get("default_model") or entry.get("model"),
        timeout=float(timeout) if timeout else None, policy=RetryPolicy.from_config(entry),
        enabled=bool(entry.get("enabled", True)), configured=bool(entry), entry=entry,
        explicit_key=bool(api_key))


def default_provider(settings: Any) -> str | None:
    return settings.get("providers.default_provider")


def split_model(spec: str) -> tuple[str | None, str]:
    """``"openai/gpt-4o-mini"`` -> (``"openai"``, ``"gpt-4o-mini"``); split on the first ``/``."""
    if "/" in spec:
        provider, model = spec.split("/", 1)
        return provider, model
    return None, spec
