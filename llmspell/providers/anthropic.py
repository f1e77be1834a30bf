"""Anthropic messages API (chat and streaming; Anthropic has no embeddings API)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import ProviderError
from .base import ChatRequest, ChatResponse, OnChunk, ProviderClient, media_type, tool_arguments

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; upstream's default


def _to_anthropic(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def push(role: str, block: dict[str, Any]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].append(block)
        else:
            out.append({"role": role, "content": [block]})

    for m in messages:
        role = m["role"]
        if role == "system":
            system.append(m.get("content", ""))
        elif role == "tool":
            push("user", {"type": "tool_result", "tool_use_id": m.get("tool_call_id", ""),
                          "content": m.get("content", "")})
        elif role == "assistant":
            if m.get("content"):
                push("assistant", {"type": "text", "text": m["content"]})
            for call in m.get("tool_calls") or []:
                push("assistant", {"type": "tool_use", "id": call["id"], "name": call["name"],
                                   "input": call["arguments"]})
        else:
            for image in m.get("images") or []:
                push("user", {"type": "image", "source": {"type": "base64",
                                                          "media_type": media_type(image),
                                                          "data": image["base64"]}})
            push("user", {"type": "text", "text": m.get("content", "")})
    # plain single-text turns as strings: shorter, and what most servers expect
    for m in out:
        if len(m["content"]) == 1 and m["content"][0]["type"] == "text":
            m["content"] = m["content"][0]["text"]
    return ("\n\n".join(system) if system else None), out


class AnthropicClient(ProviderClient):
    @property
    def url(self) -> str:
        base = self.info.base_url
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        key = self.info.key()
        if key:
            headers["x-api-key"] = key
        return headers

    def build_body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system, messages = _to_anthropic(request.messages)
        body: dict[str, Any] = {"model": request.model, "messages": messages,
                                "max_tokens": request.max_tokens or
                                self.info.entry.get("max_tokens") or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [{"name": t["name"], "description": t.get("description", ""),
                              "input_schema": t.get("parameters") or
                              {"type": "object", "properties": {}}} for t in request.tools]
        if stream:
            body["stream"] = True
        return body

    def chat(self, request: ChatRequest, on_chunk: OnChunk | None = None) -> ChatResponse:
        url = self.url
        body = self.build_body(request, stream=on_chunk is not None)
        if on_chunk is not None:
            return self._stream(url, body, request, on_chunk)
        response = self.http.request("POST", url, "messages", headers=self._headers(),
                                     body=body)
        data = self.http.json(response, url)
        content = data.get("content")
        if not isinstance(content, list):
            raise self.http.malformed(url, "no 'content' list in the reply")
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(block.get("text") or "")
            elif block.get("type") == "tool_use":
                calls.append({"id": block.get("id", ""), "name": block.get("name", ""),
                              "arguments": block.get("input") or {}})
        usage = data.get("usage") or {}
        return self._counted(ChatResponse(
            text="".join(texts), model=data.get("model") or request.model, tool_calls=calls,
            prompt_tokens=usage.get("input_tokens"),
            completion_tokens=usage.get("output_tokens"),
            finish_reason=data.get("stop_reason")), request.model)

    def _stream(self, url: str, body: dict[str, Any], request: ChatRequest,
                on_chunk: OnChunk) -> ChatResponse:
        response = self.http.request("POST", url, "messages", headers=self._headers(),
                                     body=body, stream=True)
        parts: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        prompt = completion = None
        finish = None
        model = request.model
        done = False
        for payload in self._sse_data(response, url):
            try:
                event = json.loads(payload)
            except ValueError:
                raise self.http.malformed(url, f"bad stream event {payload[:80]!r}") from None
            kind = event.get("type")
            if kind == "message_start":
                message = event.get("message") or {}
                model = message.get("model") or model
                prompt = (message.get("usage") or {}).get("input_tokens")
            elif kind == "content_block_start":
                block = event.get("content_block") or {}
                if block.get("type") == "tool_use":
                    blocks[event.get("index", 0)] = {"id": block.get("id", ""),
                                                     "name": block.get("name", ""),
                                                     "json": ""}
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    parts.append(delta["text"])
                    on_chunk(delta["text"])
                elif delta.get("type") == "input_json_delta":
                    slot = blocks.get(event.get("index", 0))
                    if slot is not None:
                        slot["json"] += delta.get("partial_json") or ""
            elif kind == "message_delta":
                finish = (event.get("delta") or {}).get("stop_reason") or finish
                completion = (event.get("usage") or {}).get("output_tokens", completion)
            elif kind == "message_stop":
                done = True
                break
            elif kind == "error":
                err = event.get("error") or {}
                raise ProviderError(f"{self.name}: stream error: "
                                    f"{err.get('message') or err}")
        if not done:
            raise self.http.cut(url, "'message_stop' event")
        calls = [{"id": slot["id"], "name": slot["name"],
                  "arguments": tool_arguments(slot["json"])}
                 for _, slot in sorted(blocks.items())]
        return self._counted(ChatResponse(text="".join(parts), model=model, tool_calls=calls,
                                          prompt_tokens=prompt, completion_tokens=completion,
                                          finish_reason=finish), request.model)

    def check(self) -> str:
        base = self.info.base_url
        url = base + ("/models" if base.endswith("/v1") else "/v1/models")
        self.http.request("GET", url, "models", headers=self._headers()).close()
        return "reachable"
