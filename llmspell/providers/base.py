"""Provider-neutral chat types: what agents send and what every client returns.

Messages are plain dicts: ``{"role": "system"|"user"|"assistant"|"tool", "content": str}``;
a user message may carry ``images`` (``[{"format": "png", "base64": "..."}]``);
an assistant message may carry ``tool_calls`` (``[{"id", "name", "arguments": dict}]``)
and a tool message carries ``tool_call_id`` and ``name``. Each client translates them to
its API (OpenAI chat completions, Anthropic messages, Ollama /api/chat).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .registry import DEFAULT_EMBEDDING_MODELS
from .usage import METER

if TYPE_CHECKING:
    import httpx

    from .http import Http
    from .registry import ProviderInfo


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None  # [{"name", "description", "parameters"}]


@dataclass
class ChatResponse:
    text: str
    model: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


OnChunk = Callable[[str], None]


class ChatClient(Protocol):
    name: str

    def chat(self, request: ChatRequest, on_chunk: OnChunk | None = None) -> ChatResponse: ...


class EmbeddingClient(Protocol):
    name: str

    def embed(self, texts: list[str], model: str | None = None,
              dimensions: int | None = None) -> list[list[float]]: ...


MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
               "webp": "image/webp", "gif": "image/gif", "svg": "image/svg+xml",
               "tiff": "image/tiff"}


def media_type(image: dict[str, Any]) -> str:
    return MEDIA_TYPES.get(str(image.get("format") or "png").lower(), "image/png")


def data_url(image: dict[str, Any]) -> str:
    return f"data:{media_type(image)};base64,{image['base64']}"


def tool_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's arguments as a dict, whatever the server sent: a dict as is, JSON
    text parsed (``""`` is no arguments), text that is not JSON kept under ``_raw``, any
    other value under ``value``."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {"_raw": raw}
    else:
        value = raw
    return value if isinstance(value, dict) else {"value": value}


def function_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool specs in the ``{"type": "function", "function": {...}}`` form (OpenAI, Ollama)."""
    return [{"type": "function", "function": {
        "name": t["name"], "description": t.get("description", ""),
        "parameters": t.get("parameters") or {"type": "object", "properties": {}}}}
        for t in tools]


class ProviderClient:
    """What the provider clients share: their provider, its HTTP client, the usage
    meter, reading a server-sent event stream and the embeddings round trip."""

    def __init__(self, info: ProviderInfo, http: Http) -> None:
        self.info = info
        self.name = info.name
        self.http = http

    def _counted(self, result: ChatResponse, model: str) -> ChatResponse:
        """The reply, its tokens added to the run's usage meter."""
        METER.add(self.name, model, result.prompt_tokens, result.completion_tokens)
        return result

    def _sse_data(self, response: httpx.Response, url: str) -> Iterator[str]:
        """The payloads of a streamed reply's ``data:`` lines; the reply is closed when
        the reader stops."""
        try:
            for line in self.http.lines(response, url):
                if line.startswith("data:"):
                    yield line[5:].strip()
        finally:
            response.close()

    def _embed(self, texts: list[str], model: str | None, dimensions: int | None,
               endpoint: str, *, items: str, what: str,
               vectors: Callable[[list[Any]], list[Any]] = list,
               headers: dict[str, str] | None = None,
               tokens: Callable[[dict[str, Any]], Any] = lambda data: None
               ) -> list[list[float]]:
        """POST ``texts`` to ``base_url/endpoint``; the reply's ``items`` list (one per
        text, in order once passed through ``vectors``) as lists of floats."""
        if not texts:
            return []
        url = f"{self.info.base_url}/{endpoint}"
        model = model or self.info.entry.get("embedding_model") or \
            DEFAULT_EMBEDDING_MODELS[self.info.kind]
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions:
            body["dimensions"] = dimensions
        response = self.http.request("POST", url, endpoint, headers=headers, body=body)
        data = self.http.json(response, url)
        found = data.get(items)
        if not isinstance(found, list) or len(found) != len(texts):
            raise self.http.malformed(url, f"expected {len(texts)} {what} in '{items}'")
        try:
            out = [[float(x) for x in v] for v in vectors(found)]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.http.malformed(url, "an embedding is not a list of numbers") from None
        METER.add(self.name, model, tokens(data), 0)
        return out
