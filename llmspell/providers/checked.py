"""Every provider client is wrapped here so that a reply of the wrong shape is a clear
``ProviderError`` naming the provider, never a Python ``TypeError``/``AttributeError``.

The clients read the fields they need from the parsed JSON; a server that answers valid
JSON of another shape (``choices`` a string, ``content`` a number, ``tool_calls`` not
objects, ``usage`` a string) would otherwise fail deep inside them, or worse hand a
number back as the answer's text. The wrapper turns such failures into
``<provider>: malformed reply from <base_url>: ...`` and checks the reply it returns.
"""

from __future__ import annotations

import time
from typing import Any

from .. import calllog
from ..errors import ProviderError
from .base import ChatRequest, ChatResponse, OnChunk

# What reading a reply of the wrong shape raises inside a client.
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)
SHAPE_MESSAGE = "valid JSON of an unexpected shape (a field is missing or of the wrong type)"


class CheckedClient:
    """A provider client whose replies are checked; everything else is delegated."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _malformed(self, what: str) -> ProviderError:
        name = getattr(self._inner, "name", "provider")
        base = getattr(getattr(self._inner, "info", None), "base_url", "the server")
        return ProviderError(f"{name}: malformed reply from {base}: {what}")

    def chat(self, request: ChatRequest, on_chunk: OnChunk | None = None) -> ChatResponse:
        """The checked reply; every call, answered or failed, goes to the model-call log."""
        started = time.perf_counter()
        try:
            reply = self._chat(request, on_chunk)
        except Exception as exc:
            calllog.record_chat(self._provider(), request, None, started, exc)
            raise
        calllog.record_chat(self._provider(), request, reply, started)
        return reply

    def _provider(self) -> str:
        return str(getattr(self._inner, "name", "provider"))

    def _chat(self, request: ChatRequest, on_chunk: OnChunk | None) -> ChatResponse:
        from_callback: list[BaseException] = []

        def relay(piece: Any) -> None:
            if not isinstance(piece, str):
                raise self._malformed(f"a stream piece is {type(piece).__name__}, not text")
            try:
                on_chunk(piece)  # type: ignore[misc]
            except BaseException as exc:
                from_callback.append(exc)
                raise

        try:
            reply = self._inner.chat(request, relay if on_chunk is not None else None)
        except SHAPE_ERRORS as exc:
            if any(exc is seen for seen in from_callback):
                raise  # the script's callback failed, not the reply
            raise self._malformed(SHAPE_MESSAGE) from None
        return self._checked(reply)

    def _checked(self, reply: Any) -> ChatResponse:
        if not isinstance(reply, ChatResponse):
            raise self._malformed("no reply")
        if not isinstance(reply.text, str):
            raise self._malformed(f"the answer's text is {type(reply.text).__name__}, "
                                  "not a string")
        if not isinstance(reply.model, str):
            reply.model = str(reply.model)
        if not isinstance(reply.tool_calls, list):
            raise self._malformed("'tool_calls' is not a list")
        for i, call in enumerate(reply.tool_calls):
            if not (isinstance(call, dict) and isinstance(call.get("name"), str)
                    and call["name"] and isinstance(call.get("arguments"), dict)):
                raise self._malformed(f"tool call #{i + 1} has no name or its arguments "
                                      "are not an object")
            if not isinstance(call.get("id"), str):
                call["id"] = str(call.get("id") or f"call_{i}")
        for field in ("prompt_tokens", "completion_tokens"):
            value = getattr(reply, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                setattr(reply, field, None)
        if reply.finish_reason is not None and not isinstance(reply.finish_reason, str):
            reply.finish_reason = str(reply.finish_reason)
        return reply

    def embed(self, texts: list[str], model: str | None = None,
              dimensions: int | None = None) -> list[list[float]]:
        inner_embed = self._inner.embed  # Anthropic has none: an AttributeError here
        if not texts:
            return inner_embed(texts, model=model, dimensions=dimensions)  # no request
        started = time.perf_counter()
        shown = self._embedding_model(model)
        try:
            vectors = inner_embed(texts, model=model, dimensions=dimensions)
        except SHAPE_ERRORS:
            error = self._malformed(SHAPE_MESSAGE)
            calllog.record_embedding(self._provider(), shown, texts, None, started, error)
            raise error from None
        except Exception as exc:
            calllog.record_embedding(self._provider(), shown, texts, None, started, exc)
            raise
        calllog.record_embedding(self._provider(), shown, texts, vectors, started)
        return vectors

    def _embedding_model(self, model: str | None) -> str | None:
        """The model the client will ask for (for the log): as the clients choose it."""
        from .registry import DEFAULT_EMBEDDING_MODELS

        info = getattr(self._inner, "info", None)
        entry = getattr(info, "entry", None) or {}
        return model or entry.get("embedding_model") or \
            DEFAULT_EMBEDDING_MODELS.get(getattr(info, "kind", ""))
