"""Provider-neutral chat types: what agents send and what every client returns.

Messages are plain dicts: ``{"role": "system"|"user"|"assistant"|"tool", "content": str}``;
a user message may carry ``images`` (``[{"format": "png", "base64": "..."}]``);
an assistant message may carry ``tool_calls`` (``[{"id", "name", "arguments": dict}]``)
and a tool message carries ``tool_call_id`` and ``name``. Each client translates them to
its API (OpenAI chat completions, Anthropic messages, Ollama /api/chat).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


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
