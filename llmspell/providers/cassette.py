"""Record and play back provider HTTP exchanges (``run --record`` / ``run --playback``).

A cassette is a JSON file: ``{"version": 1, "interactions": [...]}``; each interaction
holds the provider name, the endpoint (``chat/completions``, ``messages``, ``api/chat``,
...), the method, the canonical JSON request body and the reply (status, content type,
body). Request headers are never written, so API keys and auth headers cannot leak; any
configured key that appears in a body is replaced by ``***``.

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
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProviderError(f"playback cassette not found: {self.path}") from None
        except ValueError as exc:
            raise ProviderError(f"playback cassette {self.path} is not valid JSON: {exc}"
                                ) from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ProviderError(f"playback cassette {self.path} has no 'interactions' list")
        self.interactions = data["interactions"]
        queues: dict[tuple[str, str, str, str], deque[dict[str, Any]]] = defaultdict(deque)
        for item in self.interactions:
            queues[self._key(item["provider"], item["endpoint"], item.get("method", "POST"),
                             canonical(json.dumps(item.get("request"))
                                       if item.get("request") is not None else ""))
                   ].append(item)
        self._queues = dict(queues)

    @staticmethod
    def _key(provider: str, endpoint: str, method: str, body: str
             ) -> tuple[str, str, str, str]:
        return (provider, endpoint.strip("/"), method.upper(), body)

    def lookup(self, provider: str, endpoint: str, method: str, body: bytes | None
               ) -> dict[str, Any]:
        key = self._key(provider, endpoint, method, canonical(body))
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
        if value and len(value) >= 4:
            self.secrets.add(value)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def record(self, provider: str, endpoint: str, method: str, body: bytes | None,
               status: int, content_type: str, reply: bytes) -> None:
        request_text = self._scrub(canonical(body))
        try:
            request: Any = json.loads(request_text) if request_text else None
        except ValueError:
            request = request_text
        reply_text = self._scrub(reply.decode("utf-8", "replace"))
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": VERSION, "interactions": self.interactions},
                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


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
