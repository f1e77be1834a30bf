"""Record and play back provider HTTP exchanges (``run --record`` / ``run --playback``).

A cassette is a JSON file: ``{"version": 1, "interactions": [...]}``; each interaction
holds the provider name, the endpoint (``chat/completions``, ``messages``, ``api/chat``,
...), the method, the canonical JSON request body and the reply (status, content type,
body). Credentials are kept out where they live: request headers are never written,
request body fields with credential names (``api_key``, ``token``, ...) are written as
``***`` (and matched that way on playback), and a request whose body would still carry
a configured key is refused, not recorded. Bodies are otherwise kept byte for byte (a
key that is also an ordinary word must not turn prompts or replies into ``***``); only
error replies (4xx), where servers echo a rejected key, have the key's text hidden.

Playback matches on provider, endpoint, method and the canonical body (keys sorted). Equal
requests are answered in recorded order (the last answer repeats). A request with no
recording fails with an error that says so. Playback needs no network and no keys.

The active cassette is per process (one CLI run): ``activate()``; ``LLMSPELL_PLAYBACK``
activates playback when nothing else did.
"""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from ..errors import ProviderError
from ..jsonutil import json_type
from ..secret_filter import MASK, MIN_VALUE_LENGTH, is_secret_name

VERSION = 1
_explicit: Cassette | None = None
_from_env: Cassette | None = None
_lock = threading.Lock()


def canonical(body: bytes | str | None) -> str:
    """The request body as canonical JSON (sorted keys, no spaces); raw text if not JSON."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
    except ValueError:
        return text


def mask_credentials(value: Any, _depth: int = 0) -> Any:
    """A copy of JSON data with the values of credential-named fields (``api_key``,
    ``token``, ...; see ``secret_filter.is_secret_name``) replaced by ``***``."""
    if _depth > MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: MASK if (isinstance(k, str) and is_secret_name(k)
                            and isinstance(v, str | int | float) and v not in ("", MASK))
                else mask_credentials(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_credentials(v, _depth + 1) for v in value]
    return value


def request_text(body: bytes | str | None) -> str:
    """The request as recorded and matched: canonical JSON with credential fields masked."""
    text = canonical(body)
    if not text:
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(mask_credentials(data), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


class Cassette:
    def __init__(self, path: str | Path, mode: str) -> None:
        if mode not in ("record", "playback"):
            raise ValueError(mode)
        self.path = Path(path)
        self.mode = mode
        self.interactions: list[dict[str, Any]] = []
        self.secrets: set[str] = set()
        self._queues: dict[tuple[str, str, str, str], deque[dict[str, Any]]] = {}
        self._last: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        if mode == "playback":
            self._load()

    # -- playback -------------------------------------------------------------

    def _load(self) -> None:
        self.interactions = _read_interactions(self.path)
        queues: dict[tuple[str, str, str, str], deque[dict[str, Any]]] = defaultdict(deque)
        for item in self.interactions:
            queues[self._key(item["provider"], item["endpoint"], item.get("method", "POST"),
                             request_text(json.dumps(item.get("request"))
                                          if item.get("request") is not None else ""))
                   ].append(item)
        self._queues = dict(queues)

    @staticmethod
    def _key(provider: str, endpoint: str, method: str, body: str
             ) -> tuple[str, str, str, str]:
        return (provider, endpoint.strip("/"), method.upper(), body)

    def lookup(self, provider: str, endpoint: str, method: str, body: bytes | None
               ) -> dict[str, Any]:
        key = self._key(provider, endpoint, method, request_text(body))
        with _lock:
            queue = self._queues.get(key)
            if queue:
                item = queue.popleft()
                self._last[key] = item
                return item
            if key in self._last:
                return self._last[key]
        hint = ""
        try:
            data = json.loads(body or b"{}")
            if isinstance(data, dict) and data.get("model"):
                hint = f" (model {data['model']})"
        except ValueError:
            pass
        raise ProviderError(
            f"{provider}: playback cassette {self.path} has no recorded reply for "
            f"{method.upper()} {endpoint}{hint} with this request body; record it again "
            "with `llmspell run --record FILE`")

    # -- recording ------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """A key to keep out of the cassette; shorter than the secret filter's minimum it
        is a placeholder (``"none"``, ``"EMPTY"``), not a secret, and is not searched for."""
        if value and len(value) >= MIN_VALUE_LENGTH:
            self.secrets.add(value)

    def refuse_keys(self, provider: str, body: bytes | None) -> None:
        """Raise before sending when the request body, as it would be recorded, holds a
        configured key (say a prompt that quotes it): a cassette must never hold one."""
        text = request_text(body)
        for secret in self.secrets:
            if secret in text:
                raise ProviderError(
                    f"{provider}: not recording this request: its body contains the "
                    "provider's API key (outside any credential field), and a cassette "
                    "must never hold a key; record with a key that does not occur in "
                    "prompts or tool results")

    def _hide_keys(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def record(self, provider: str, endpoint: str, method: str, body: bytes | None,
               status: int, content_type: str, reply: bytes) -> None:
        recorded = request_text(body)
        try:
            request: Any = json.loads(recorded) if recorded else None
        except ValueError:
            request = recorded
        reply_text = reply.decode("utf-8", "replace")
        if status >= 400:  # error replies may echo a rejected key
            reply_text = self._hide_keys(reply_text)
        item: dict[str, Any] = {"provider": provider, "endpoint": endpoint.strip("/"),
                                "method": method.upper(), "request": request,
                                "status": status, "content_type": content_type}
        if "json" in content_type and "ndjson" not in content_type:
            try:
                item["response"] = json.loads(reply_text)
            except ValueError:
                item["response_text"] = reply_text
        else:
            item["response_text"] = reply_text
        with _lock:
            self.interactions.append(item)
            self.save()

    def save(self) -> None:
        if self.mode != "record":
            return
        if self.path.is_dir():
            raise ProviderError(f"record cassette {self.path} is a directory; give a file "
                                "path")
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": VERSION, "interactions": self.interactions},
                                      indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise ProviderError(f"record cassette {self.path} cannot be written: "
                                f"{exc.strerror or exc}") from None


MAX_DEPTH = 200  # no real request or reply nests deeper; deeper would overflow later


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iterative: no recursion to overflow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


_KINDS = {"null": "null", "boolean": "a boolean", "number": "a number",
          "string": "a string", "array": "a list", "object": "an object"}


def _kind(value: Any) -> str:
    return _KINDS[json_type(value)]


def _read_interactions(path: Path) -> list[dict[str, Any]]:
    """The cassette's interactions, each checked; any damage is one ProviderError line that
    names the file and the entry."""
    where = f"playback cassette {path}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProviderError(f"playback cassette not found: {path}") from None
    except IsADirectoryError:
        raise ProviderError(f"{where} is a directory; give the cassette file") from None
    except OSError as exc:
        raise ProviderError(f"{where} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProviderError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProviderError(f"{where} is nested too deeply to be a cassette") from None
    except ValueError as exc:
        raise ProviderError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise ProviderError(f"{where} has no 'interactions' list")
    items = data["interactions"]
    for number, item in enumerate(items, 1):
        problem = _interaction_problem(item)
        if problem:
            raise ProviderError(f"{where}: interaction #{number}: {problem}; record it again "
                                "with `llmspell run --record FILE`")
    return items


def _interaction_problem(item: Any) -> str | None:
    """What is wrong with one recorded interaction, or None."""
    if not isinstance(item, dict):
        return f"expected an object, got {_kind(item)}"
    for key in ("provider", "endpoint"):
        if key not in item:
            return f"'{key}' is missing"
        if not isinstance(item[key], str) or not item[key]:
            return f"'{key}' must be a string, got {_kind(item[key])}"
    for key in ("method", "content_type", "response_text"):
        if key in item and not isinstance(item[key], str):
            return f"'{key}' must be a string, got {_kind(item[key])}"
    status = item.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return f"'status' must be an HTTP status code (100-599), got {json.dumps(status)}"
    for key in ("request", "response"):
        if _depth_exceeds(item.get(key), MAX_DEPTH):
            return f"'{key}' is nested too deeply (over {MAX_DEPTH} levels)"
    return None


def activate(cassette: Cassette | None) -> None:
    """Make ``cassette`` the one every provider client created from now on uses
    (``None`` goes back to ``LLMSPELL_PLAYBACK`` or the network)."""
    global _explicit
    _explicit = cassette


def active() -> Cassette | None:
    """The active cassette; ``LLMSPELL_PLAYBACK=FILE`` starts playback if none was set."""
    global _from_env
    if _explicit is not None:
        return _explicit
    env = os.environ.get("LLMSPELL_PLAYBACK", "")
    if not env:
        return None
    if _from_env is None or str(_from_env.path) != env:
        _from_env = Cassette(env, "playback")
    return _from_env


def is_playback() -> bool:
    cassette = active()
    return cassette is not None and cassette.mode == "playback"
