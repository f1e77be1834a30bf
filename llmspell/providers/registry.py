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
  5. the keys file (``llmspell keys set <name>``; ``keys.py``): the name, then the type

Base URL, first found wins:
  1. the agent's own ``:base_url()``
  2. ``providers.<name>.base_url``
  3. ``LLMSPELL_PROVIDER_<NAME>_BASE_URL``, then ``LLMSPELL_<NAME>_ENDPOINT``
  4. ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` / ``OLLAMA_HOST`` (for those types)
  5. the public default (``https://api.openai.com/v1``, ``https://api.anthropic.com``,
     ``http://127.0.0.1:11434``, or the hosted OpenAI-compatible service's URL)

The user's key goes only where the user said (issue 10): it is sent when the endpoint
lies under a URL of steps 2-5 — step 2 only from a config that grants rights
(``Settings.grants_rights``: not one discovered in the current folder) — same scheme,
host and port, and the same path or a sub-path; and never when such a config sets the
provider's ``api_key_env`` or gives it another ``provider_type``. An endpoint chosen by the script
(step 1) elsewhere is called without a key (keyless local servers still work; one that
demands a key answers 401, and the error says why). A key the script passes itself
(``:api_key()``) is the script's own and goes with it.
"""

from __future__ import annotations

import os
import posixpath
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
    key_withheld: bool = False  # the endpoint is not one the user configured
    key_source: str = ""  # where the key came from: "agent", "config", "env VAR" ("": none)
    guard_private: bool = False  # a script-chosen URL: private addresses refused at connect

    @property
    def key_hint(self) -> str:
        if self.explicit_key:
            return "the key given to the agent with :api_key()"
        if self.key_withheld:
            return (f"the base_url: the user's {self.name} key is not sent to {self.base_url}, "
                    "a URL the script chose (it goes only to the configured "
                    f"providers.{self.name}.base_url, the provider's URL variable or its "
                    "default; configure this URL there, or pass the agent its own :api_key())")
        return f"{self.key_env} or providers.{self.name}.api_key"

    def key(self) -> str | None:
        """The API key to send; raises NeedsKeyError when one is required and missing."""
        if self.api_key:
            return self.api_key
        if self.key_withheld:
            return None  # try keyless: a local server may need none
        if self.needs_key and not cassette.is_playback():
            raise NeedsKeyError(f"{self.name}: no API key: {self.missing_key_remedy}")
        return None

    @property
    def missing_key_remedy(self) -> str:
        """How to give this provider a key (the keys file is read unless ``api_key_env``
        names the one variable to use)."""
        text = f"set {self.key_env} or providers.{self.name}.api_key"
        if not self.entry.get("api_key_env"):
            text += f" (or run: llmspell keys set {self.name})"
        return text


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
    source = "agent" if api_key else "config" if key else ""
    if not key and entry.get("api_key_env"):
        key = env.get(entry["api_key_env"]) or None  # named explicitly: no other fallback
        source = f"env {entry['api_key_env']}" if key else ""
    elif not key:
        for var in (f"LLMSPELL_PROVIDER_{upper}_API_KEY", f"LLMSPELL_{upper}_API_KEY",
                    standard_key_env, f"{upper}_API_KEY"):
            if env.get(var):
                key, source = env[var], f"env {var}"
                break
        else:
            key, source = _stored_key(name, ptype, env)
    url = base_url or entry.get("base_url") or \
        env.get(f"LLMSPELL_PROVIDER_{upper}_BASE_URL") or env.get(f"LLMSPELL_{upper}_ENDPOINT")
    if not url and ptype in STANDARD_BASE_ENV:
        url = env.get(STANDARD_BASE_ENV[ptype])
    url = url or public_url
    if not url:
        raise ProviderError(f"{name}: an OpenAI-compatible provider needs a base URL: set "
                            f"providers.{name}.base_url")
    url = _with_scheme(url, kind)
    user_urls = _user_urls(settings, entry, env, upper, ptype, public_url)
    users = any(url_within(url, _with_scheme(u, kind)) for u in user_urls)
    withheld = False
    if key and not api_key:
        withheld = _steered(settings, entry, name, ptype) or not users
        if withheld:
            key = None
    guard = bool(base_url) and not users and \
        not settings.get("tools.network.allow_private_addresses")
    if guard:
        _check_public(url)
    timeout = entry.get("timeout_seconds")
    return ProviderInfo(
        name=name, type=ptype, kind=kind, base_url=url.rstrip("/"), api_key=key,
        key_env=key_env, needs_key=needs_key,
        default_model=entry.get("default_model") or entry.get("model"),
        timeout=float(timeout) if timeout else None, policy=RetryPolicy.from_config(entry),
        enabled=bool(entry.get("enabled", True)), configured=bool(entry), entry=entry,
        explicit_key=bool(api_key), key_withheld=withheld, key_source=source,
        guard_private=guard)


def _stored_key(name: str, ptype: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """Step 5: the key saved with ``llmspell keys set`` under the provider's name, else
    under its type (``openai`` serves every ``provider_type = "openai"`` table)."""
    from .. import keys
    from ..errors import ConfigError

    names = (name,) if ptype in (name, "openai_compatible") else (name, ptype)
    try:
        found = keys.lookup(names, env)
    except ConfigError as exc:
        raise ProviderError(str(exc)) from None
    if found is None:
        return None, ""
    return found[1], f"keys file ({found[0]})"


def _check_public(url: str) -> None:
    """A URL the script chose gets the web tools' network policy (issue 10: no SSRF)."""
    from .. import netguard

    try:
        netguard.check_url(url, param="base_url")
    except netguard.Unreachable:
        pass  # does not resolve now: checked again when connecting
    except netguard.NetError as exc:
        kind = "Security violation" if isinstance(exc, netguard.Refused) else "Validation error"
        raise ProviderError(f"base_url {url} refused: {kind}: {exc} (or "
                            "configure this URL for the provider: providers.<name>.base_url "
                            "or its URL variable)") from None


def _steered(settings: Any, entry: Mapping[str, Any], name: str, ptype: str) -> bool:
    """True when a config that grants no rights (found in the current folder: a script may
    have written it) chooses which variable holds the key (``api_key_env``) or gives the
    name another type (``provider_type``): it would pick which of the user's secrets goes
    to which provider's URL, so no key is sent."""
    if getattr(settings, "grants_rights", True):
        return False
    own = name.strip().lower()
    return bool(entry.get("api_key_env")) or ptype != ALIASES.get(own, own)


def _with_scheme(url: str, kind: str) -> str:
    return "http://" + url if kind == "ollama" and "://" not in url else url


def _user_urls(settings: Any, entry: Mapping[str, Any], env: Mapping[str, str], upper: str,
               ptype: str, public_url: str) -> list[str]:
    """The endpoints the user configured for a provider (where its key may go)."""
    urls = [env.get(f"LLMSPELL_PROVIDER_{upper}_BASE_URL"), env.get(f"LLMSPELL_{upper}_ENDPOINT"),
            env.get(STANDARD_BASE_ENV.get(ptype, "")), public_url]
    if getattr(settings, "grants_rights", True):
        urls.insert(0, entry.get("base_url"))
    return [u for u in urls if isinstance(u, str) and u]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_and_path(url: str) -> tuple[tuple[str, str, int | None], str] | None:
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname:
        return None
    path = unquote(parts.path)
    if any(seg in (".", "..") for seg in path.split("/")):
        return None
    path = posixpath.normpath("/" + path.strip("/")) if path.strip("/") else "/"
    return (scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS.get(scheme)), path


def url_within(url: str, base: str) -> bool:
    """True when ``url`` has ``base``'s scheme, host and port and its path is ``base``'s
    path or below it (``/v1`` admits ``/v1`` and ``/v1/x``, never ``/v1evil`` or ``/``)."""
    a, b = _origin_and_path(url), _origin_and_path(base)
    if a is None or b is None or a[0] != b[0]:
        return False
    return b[1] == "/" or a[1] == b[1] or a[1].startswith(b[1] + "/")



def default_provider(settings: Any) -> str | None:
    return settings.get("providers.default_provider")


def split_model(spec: str) -> tuple[str | None, str]:
    """``"openai/gpt-4o-mini"`` -> (``"openai"``, ``"gpt-4o-mini"``); split on the first ``/``."""
    if "/" in spec:
        provider, model = spec.split("/", 1)
        return provider, model
    return None, spec
