"""Ollama's native API: /api/chat (NDJSON streaming) and /api/embed."""

from __future__ import annotations

import json
from typing import Any

from .base import ChatRequest, ChatResponse, OnChunk, ProviderClient, function_tools, tool_arguments


def _to_ollama(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "content": m.get("content", ""),
                        "tool_name": m.get("name", "")})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            out.append({"role": "assistant", "content": m.get("content") or "",
                        "tool_calls": [{"function": {"name": c["name"],
                                                     "arguments": c["arguments"]}}
                                       for c in m["tool_calls"]]})
        else:
            item = {"role": m["role"], "content": m.get("content", "")}
            if m.get("images"):
                item["images"] = [i["base64"] for i in m["images"]]
            out.append(item)
    return out


def _calls(message: dict[str, Any], start: int = 0) -> list[dict[str, Any]]:
    calls = []
    for i, call in enumerate(message.get("tool_calls") or [], start):
        fn = call.get("function") or {}
        calls.append({"id": call.get("id") or f"call_{i}", "name": fn.get("name", ""),
                      "arguments": tool_arguments(fn.get("arguments"))})
    return calls


def _reply(data: dict[str, Any], text: str, calls: list[dict[str, Any]], model: str
           ) -> ChatResponse:
    """A reply from /api/chat's last (or only) object, which carries the counts."""
    return ChatResponse(text=text, model=data.get("model") or model, tool_calls=calls,
                        prompt_tokens=data.get("prompt_eval_count"),
                        completion_tokens=data.get("eval_count"),
                        finish_reason=data.get("done_reason"))


class OllamaClient(ProviderClient):
    def build_body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model,
                                "messages": _to_ollama(request.messages), "stream": stream}
        options: dict[str, Any] = {}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if options:
            body["options"] = options
        if request.tools:
            body["tools"] = function_tools(request.tools)
        return body

    def chat(self, request: ChatRequest, on_chunk: OnChunk | None = None) -> ChatResponse:
        url = self.info.base_url + "/api/chat"
        body = self.build_body(request, stream=on_chunk is not None)
        response = self.http.request("POST", url, "api/chat", body=body,
                                     stream=on_chunk is not None)
        if on_chunk is None:
            data = self.http.json(response, url)
            message = data.get("message")
            if not isinstance(message, dict):
                raise self.http.malformed(url, "no 'message' in the reply")
            return self._counted(_reply(data, message.get("content") or "",
                                        _calls(message), request.model), request.model)
        parts: list[str] = []
        calls: list[dict[str, Any]] = []
        final: dict[str, Any] | None = None
        try:
            for line in self.http.lines(response, url):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise self.http.malformed(url, f"bad stream line {line[:80]!r}") from None
                if event.get("error"):
                    raise self.http.malformed(url, str(event["error"]))
                message = event.get("message") or {}
                piece = message.get("content")
                if piece:
                    parts.append(piece)
                    on_chunk(piece)
                calls.extend(_calls(message, len(calls)))
                if event.get("done"):
                    final = event
                    break
        finally:
            response.close()
        if final is None:
            raise self.http.cut(url, "line with \"done\": true")
        return self._counted(_reply(final, "".join(parts), calls, request.model),
                             request.model)

    def embed(self, texts: list[str], model: str | None = None,
              dimensions: int | None = None) -> list[list[float]]:
        return self._embed(texts, model, dimensions, "api/embed", items="embeddings",
                           what="vectors", tokens=lambda data: data.get("prompt_eval_count"))

    def check(self) -> str:
        url = self.info.base_url + "/api/tags"
        self.http.request("GET", url, "api/tags").close()
        return "reachable"
