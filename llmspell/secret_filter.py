"""The one secret filter: what counts as a secret, and how it is hidden.

Every place where data leaves its owner for a script (``os.getenv``, ``Config``,
Debug dumps, error messages, tool results, jq ``$ENV``, template contexts) runs it
through this module, so the rules live once:

- **Secret names.** A name is secret when one of its words (split on ``_ - . /``,
  spaces and camelCase) is a credential word: ``key``, ``apikey``, ``token``,
  ``secret``, ``password``, ``passwd``, ``pass``, ``pwd``, ``passphrase``, ``credential(s)``,
  ``auth``, ``authorization``, ``cookie``, ``private``, ``signature``; or a run-together
  word that contains ``password``, ``secret``, ``credential``, ``apikey``... or ends in
  ``key``/``token`` (``PGPASSWORD``, ``SECRETKEY``, ``GHTOKEN``). Plurals of
  counters stay visible (``max_tokens`` is a number of tokens, not a token), and so
  do names that only *name* a variable (``api_key_env = "OPENAI_API_KEY"``).
- **Credentials inside URLs.** ``scheme://user:password@host`` keeps the user and
  hides the password; query parameters with secret names are hidden.
- **Known secret values.** The values of secret-named environment variables and any
  value registered with :func:`register` (keys read from the config) are replaced
  wherever they appear in text handed to a script. Values shorter than
  ``MIN_VALUE_LENGTH`` are not searched for (they would corrupt ordinary text).

Nothing here imports lupa: services use it as plain Python.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_VALUE_LENGTH = 8

SECRET_WORDS = frozenset({
    "key", "keys", "apikey", "token", "secret", "secrets", "password", "passwords", "passwd",
    "pass", "pwd", "passphrase", "credential", "credentials", "auth", "authorization", "cookie",
    "private", "signature", "bearer", "sessionid",
})
# Run-together names (``PGPASSWORD``, ``SECRETKEY``, ``GHTOKEN``): a word containing one
# of these, or ending in ``key``/``token``, is a credential word too.
SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "credential", "apikey")
SECRET_ENDINGS = ("key", "token")
# A name ending in one of these holds the *name* of a secret (an env var), not the secret.
# Not ``_header``: ``AUTH_HEADER``/``X_API_KEY_HEADER`` usually hold the header's value (a
# credential); hiding a config's ``api_key_header`` (a header's name) costs nothing.
NAME_SUFFIXES = ("_env", "_env_var", "_var", "_file", "_path", "_name")

_WORD_SPLIT = re.compile(r"[_\-./\s:]+|(?<=[a-z0-9])(?=[A-Z])")
# Linear time on any text: a scheme starts only where no scheme character precedes it,
# and a parameter name holds no separator (a long run of letters, or of ';', in a long
# error message made these quadratic: minutes to print it).
_URL_USERINFO = re.compile(r"(?<![a-zA-Z0-9+.\-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)"
                           r"(?P<user>[^\s:/@]*):(?P<password>[^\s/@]+)@")
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&#\s?;]+)=(?P<value>[^&#\s]*)")

_registered: set[str] = set()
_lock = threading.Lock()


def words(name: str) -> list[str]:
    """The lower-case words of a name: ``OPENAI_API_KEY`` -> ``["openai", "api", "key"]``."""
    return [w.lower() for w in _WORD_SPLIT.split(name) if w]


def is_secret_name(name: str) -> bool:
    """True when ``name`` (an env var, config key, header or parameter) names a secret."""
    if not isinstance(name, str) or not name:
        return False
    return _is_secret_name(name)


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(NAME_SUFFIXES):
        return False
    return any(_secret_word(w) for w in words(name))


def _secret_word(word: str) -> bool:
    if word in SECRET_WORDS:
        return True
    return any(p in word for p in SECRET_PARTS) or word.endswith(SECRET_ENDINGS)


def redact_urls(text: str) -> str:
    """Hide passwords in ``scheme://user:pass@host`` and secret-named query parameters."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)

    def param(m: re.Match[str]) -> str:
        if m["value"] and is_secret_name(m["name"]):
            return f"{m['sep']}{m['name']}={MASK}"
        return m.group(0)

    return _QUERY_PARAM.sub(param, text) if "=" in text else text


def register(value: str | None) -> None:
    """Treat ``value`` (a key read from the config, say) as a secret from now on."""
    if isinstance(value, str) and len(value) >= MIN_VALUE_LENGTH:
        with _lock:
            _registered.add(value)


def secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Every value to hide: secret-named env vars and registered values."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if len(v) >= MIN_VALUE_LENGTH and is_secret_name(k)}
    with _lock:
        found |= _registered
    return found


def redact_text(text: str, values: Iterable[str] | None = None) -> str:
    """``text`` with URL credentials and every known secret value replaced by ``***``."""
    if not isinstance(text, str) or not text:
        return text
    text = redact_urls(text)
    for value in sorted(secret_values() if values is None else values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def contains_secret(data: str | bytes, values: Iterable[str] | None = None) -> bool:
    """True when ``data`` (text, or bytes holding it as UTF-8) contains a known secret
    value: for tools that would hand it on transformed (base64, another encoding), where
    ``redact_text`` on their result could no longer find it."""
    for value in secret_values() if values is None else values:
        if (value.encode("utf-8", "surrogateescape") if isinstance(data, bytes)
                else value) in data:
            return True
    return False


def scrub(value: Any, values: Iterable[str] | None = None, _depth: int = 0) -> Any:
    """A copy of plain data with secrets hidden: secret-named keys masked, text redacted."""
    return _redacted_copy(value, secret_values() if values is None else values, _depth, True)


def public_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without secret-named variables."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not is_secret_name(k)}


# -- hot paths (every tool result passes here) ----------------------------------------

_values_cache: tuple[dict[Any, Any] | None, int, tuple[str, ...]] | None = None


def current_values() -> tuple[str, ...]:
    """:func:`secret_values` of ``os.environ``, longest first, each also in its JSON-escaped
    form when that differs (so a search of JSON text finds it).

    Cached until the environment or the registered set changes: computing it costs tens of
    microseconds, comparing the environment with a snapshot well under one.
    """
    global _values_cache
    data = getattr(os.environ, "_data", None)
    generation = len(_registered)  # the set only grows; len() is atomic
    cached = _values_cache
    if cached is not None and data is not None and cached[1] == generation \
            and cached[0] == data:
        return cached[2]
    import json

    found = set()
    for value in secret_values():
        found.add(value)
        found.add(json.dumps(value, ensure_ascii=False)[1:-1])
    values = tuple(sorted(found, key=len, reverse=True))
    _values_cache = (dict(data) if data is not None else None, generation, values)
    return values


def registered_count() -> int:
    """How many values were registered so far (the set only grows): a cache key."""
    return len(_registered)


def redact_data(value: Any, values: Iterable[str] | None = None, _depth: int = 0) -> Any:
    """A copy of plain data with every string (keys too) run through :func:`redact_text`.

    Unlike :func:`scrub`, names are not judged: a tool result's ``token_count`` stays.
    """
    return _redacted_copy(value, current_values() if values is None else values, _depth, False)


def _redacted_copy(value: Any, values: Iterable[str], depth: int, judge_names: bool) -> Any:
    """The walk behind :func:`scrub` (``judge_names``) and :func:`redact_data`."""
    if isinstance(value, str):
        return redact_text(value, values)
    if depth > 200:
        return value
    if isinstance(value, dict):
        return dict(_redacted_item(k, v, values, depth + 1, judge_names)
                    for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_redacted_copy(v, values, depth + 1, judge_names) for v in value]
    return value


def _redacted_item(key: Any, value: Any, values: Iterable[str], depth: int,
                   judge_names: bool) -> tuple[Any, Any]:
    """One dict entry: judging names, a secret-named key keeps its name and its plain
    value is masked; otherwise the key too is redacted."""
    if not judge_names:
        return (_redacted_copy(key, values, depth, False),
                _redacted_copy(value, values, depth, False))
    if isinstance(key, str) and is_secret_name(key) and value not in (None, "", False) \
            and not isinstance(value, dict | list):
        return key, MASK
    return key, _redacted_copy(value, values, depth, True)
