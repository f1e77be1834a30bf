"""Ollama's native API: /api/chat (NDJSON streaming) and /api/embed."""

from __future__ import annotations

import json
from typing import Any

from .base import ChatRequest, ChatResponse, OnChunk
from .http import Http
from .registry import DEFAULT_EMBEDDING_MODELS, ProviderInfo
from .usage import METER


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
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = {"_raw": args}
        calls.append({"id": call.get("id") or f"call_{i}", "name": fn.get("name", ""),
                      "arguments": args if isinstance(args, dict) else {}})
    return calls


class OllamaClient:
    def __init__(self, info: ProviderInfo, http: Http) -> None:
        self.info = info
        self.name = info.name
        self.http = http

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
            body["tools"] = [{"type": "function", "function": {
                "name": t["name"], "description": t.get("description", ""),
                "parameters": t.get("parameters") or {"type": "object", "properties": {}}}}
                for t in request.tools]
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
            result = ChatResponse(text=message.get("content") or "",
                                  model=data.get("model") or request.model,
                                  tool_calls=_calls(message),
                                  prompt_tokens=data.get("prompt_eval_count"),
                                  completion_tokens=data.get("eval_count"),
                                  finish_reason=data.get("done_reason"))
            METER.add(self.name, request.model, result.prompt_tokens, result.completion_tokens)
            return result
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
        result = ChatResponse(text="".join(parts), model=final.get("model") or request.model,
                              tool_calls=calls, prompt_tokens=final.get("prompt_eval_count"),
                              completion_tokens=final.get("eval_count"),
                              finish_reason=final.get("done_reason"))
        METER.add(self.name, request.model, result.prompt_tokens, result.completion_tokens)
        return result

    def embed(self, texts: list[str], model: str | None = None,
              dimensions: int | None = None) -> list[list[float]]:
        if not texts:
            return []
        url = self.info.base_url + "/api/embed"
        model = model or self.info.entry.get("embedding_model") or \
            DEFAULT_EMBEDDING_MODELS["ollama"]
        body: dict[str, Any] = {"model": model, "input": list(texts)}
        if dimensions:
            body["dimensions"] = dimensions
        response = self.http.request("POST", url, "api/embed", body=body)
        data = self.http.json(response, url)
        vectors = data.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise self.http.malformed(url, f"expected {len(texts)} vectors in 'embeddings'")
        try:
            out = [[float(x) for x in v] for v in vectors]
        except (TypeError, ValueError):
            raise self.http.malformed(url, "an embedding is not a list of numbers") from None
        METER.add(self.name, model, data.get("prompt_eval_count"), 0)
        return out

    def check(self) -> str:
        url = self.info.base_url + "/api/tags"
        self.http.request("GET", url, "api/tags").close()
        return "reachable"
