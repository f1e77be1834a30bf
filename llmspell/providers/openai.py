"""OpenAI chat completions and embeddings (also any OpenAI-compatible server)."""

from __future__ import annotations

import json
from typing import Any

from .base import (
    ChatRequest,
    ChatResponse,
    OnChunk,
    ProviderClient,
    data_url,
    function_tools,
    tool_arguments,
)


def _to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            out.append({"role": "tool", "tool_call_id": m.get("tool_call_id", ""),
                        "content": m.get("content", "")})
        elif role == "assistant" and m.get("tool_calls"):
            # "" and not null: llama.cpp's server (and templates that concatenate the
            # content) reject null; OpenAI and the other compatible servers accept "".
            out.append({"role": "assistant", "content": m.get("content") or "",
                        "tool_calls": [{"id": c["id"], "type": "function",
                                        "function": {"name": c["name"],
                                                     "arguments": json.dumps(c["arguments"])}}
                                       for c in m["tool_calls"]]})
        elif m.get("images"):
            parts: list[dict[str, Any]] = [{"type": "text", "text": m.get("content", "")}]
            parts += [{"type": "image_url", "image_url": {"url": data_url(i)}}
                      for i in m["images"]]
            out.append({"role": role, "content": parts})
        else:
            out.append({"role": role, "content": m.get("content", "")})
    return out


class OpenAIClient(ProviderClient):
    def _headers(self) -> dict[str, str]:
        key = self.info.key()
        return {"authorization": f"Bearer {key}"} if key else {}

    def build_body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model,
                                "messages": _to_openai_messages(request.messages)}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = function_tools(request.tools)
            # named, not left to the server's default: llama.cpp's function-calling chat
            # formats call tools only when the request asks for "auto"
            body["tool_choice"] = "auto"
        if stream:
            body["stream"] = True
            if self.info.type == "openai":
                body["stream_options"] = {"include_usage": True}
        return body

    def chat(self, request: ChatRequest, on_chunk: OnChunk | None = None) -> ChatResponse:
        url = self.info.base_url + "/chat/completions"
        body = self.build_body(request, stream=on_chunk is not None)
        headers = self._headers()
        if on_chunk is not None:
            return self._stream(url, body, headers, request, on_chunk)
        response = self.http.request("POST", url, "chat/completions", headers=headers,
                                     body=body)
        data = self.http.json(response, url)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.http.malformed(url, "no 'choices' in the reply")
        message = choices[0].get("message") or {}
        if not isinstance(message, dict):
            raise self.http.malformed(url, "'choices[0].message' is not an object")
        calls = [{"id": c.get("id") or f"call_{i}",
                  "name": (c.get("function") or {}).get("name", ""),
                  "arguments": tool_arguments((c.get("function") or {}).get("arguments"))}
                 for i, c in enumerate(message.get("tool_calls") or []) if isinstance(c, dict)]
        usage = data.get("usage") or {}
        return self._counted(ChatResponse(
            text=message.get("content") or "", model=data.get("model") or request.model,
            tool_calls=calls, prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choices[0].get("finish_reason")), request.model)

    def _stream(self, url: str, body: dict[str, Any], headers: dict[str, str],
                request: ChatRequest, on_chunk: OnChunk) -> ChatResponse:
        response = self.http.request("POST", url, "chat/completions", headers=headers,
                                     body=body, stream=True)
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: dict[str, Any] = {}
        finish = None
        model = request.model
        done = False
        for payload in self._sse_data(response, url):
            if payload == "[DONE]":
                done = True
                break
            try:
                event = json.loads(payload)
            except ValueError:
                raise self.http.malformed(url, f"bad stream event {payload[:80]!r}") from None
            model = event.get("model") or model
            if event.get("usage"):
                usage = event["usage"]
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if piece:
                    parts.append(piece)
                    on_chunk(piece)
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(call.get("index", 0),
                                            {"id": "", "name": "", "args": ""})
                    fn = call.get("function") or {}
                    slot["id"] = call.get("id") or slot["id"]
                    slot["name"] += fn.get("name") or ""
                    slot["args"] += fn.get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        if not done:
            raise self.http.cut(url, "'data: [DONE]'")
        return self._counted(ChatResponse(
            text="".join(parts), model=model,
            tool_calls=[{"id": c["id"] or f"call_{i}", "name": c["name"],
                         "arguments": tool_arguments(c["args"])}
                        for i, c in sorted(calls.items())],
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"), finish_reason=finish),
            request.model)

    def embed(self, texts: list[str], model: str | None = None,
              dimensions: int | None = None) -> list[list[float]]:
        return self._embed(
            texts, model, dimensions, "embeddings", items="data", what="embeddings",
            vectors=lambda items: [d["embedding"] for d in
                                   sorted(items, key=lambda d: d.get("index", 0))],
            headers=self._headers(),
            tokens=lambda data: (data.get("usage") or {}).get("prompt_tokens"))

    def check(self) -> str:
        """Reachability: GET /models (cheap, authenticated)."""
        url = self.info.base_url + "/models"
        self.http.request("GET", url, "models", headers=self._headers()).close()
        return "reachable"
