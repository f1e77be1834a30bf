"""The user's stored API keys (``llmspell keys set NAME``): one JSON file,
``<config dir>/keys.json`` (``$XDG_CONFIG_HOME/llmspell``, else ``~/.config/llmspell``).

- The file is written whole (temp file + rename) and created with mode 0600, never wider
  for an instant; its folder is a protected path, so no script reads it (``config.py``
  ``protected_paths``).
- Every value read is registered with the secret filter, so a key that reaches any text a
  script or the log sees is shown as ``***``.
- The provider key lookup (``providers/registry.py``) reads it last: after the agent's own
  key, the config and the environment variables.

Light: json and the path helpers only (it is read at the start of every run).
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path

from . import paths, secret_filter
from .errors import ConfigError

FILE_NAME = "keys.json"
NOTE_KEY = "// Note"
NOTE = "API keys stored by `llmspell keys set`. Keep this file private (mode 0600)."
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")


def keys_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the keys file lives (it may not exist)."""
    return paths.config_dir(environ) / FILE_NAME


def check_name(name: str) -> str:
    """A key name: a provider name (``openai``, ``work``); letters, digits, ``_ . -``."""
    if not (name and len(name) <= 100 and name[0].isalnum() and set(name) <= NAME_CHARS):
        raise ConfigError(f"keys: bad key name {name!r}: use letters, digits, '_', '.' or '-' "
                          "(a provider name such as openai)")
    return name


def load(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stored keys (name -> value); {} when there is no file. Registers every value
    with the secret filter. A damaged file is a ConfigError naming it."""
    path = keys_path(environ)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the keys file: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: the keys file is not valid JSON ({exc}); fix it or remove "
                          "it and set the keys again with `llmspell keys set NAME`") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the keys file must hold a JSON object (name -> key)")
    keys = {k: v for k, v in data.items() if k != NOTE_KEY and isinstance(v, str) and v}
    for value in keys.values():
        secret_filter.register(value)
    return keys


def register_stored(environ: Mapping[str, str] | None = None) -> None:
    """Register the stored keys with the secret filter (at the start of a run); a damaged
    file is left for the lookup to report when a key is needed."""
    try:
        load(environ)
    except ConfigError:
        pass


def lookup(names: tuple[str, ...], environ: Mapping[str, str] | None = None
           ) -> tuple[str, str] | None:
    """The first stored key among ``names`` as (name, value), or None."""
    keys = load(environ)
    for name in names:
        if keys.get(name):
            return name, keys[name]
    return None


def store(name: str, value: str, environ: Mapping[str, str] | None = None) -> Path:
    """Save ``value`` under ``name`` (replacing an old one); returns the file's path."""
    check_name(name)
    if not value:
        raise ConfigError("keys: the key is empty")
    if any(c in value for c in "\r\n\x00"):
        raise ConfigError("keys: the key holds a line break or NUL; give it on one line")
    path = keys_path(environ)
    keys = load(environ)
    keys[name] = value
    data = {NOTE_KEY: NOTE, **dict(sorted(keys.items()))}
    paths.write_atomically(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"),
                           mode=0o600)
    return path


def remove(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Forget the key ``name``; False when there was none."""
    keys = load(environ)
    if name not in keys:
        return False
    del keys[name]
    data = {NOTE_KEY: NOTE, **dict(sorted(keys.items()))}
    paths.write_atomically(keys_path(environ),
                           (json.dumps(data, indent=2) + "\n").encode("utf-8"), mode=0o600)
    return True

