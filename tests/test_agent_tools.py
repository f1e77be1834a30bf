"""Tool calling through the providers' function calling, against a small loopback server
that answers like OpenAI / Anthropic models that decide to call a tool; also malformed
replies and OpenAI-compatible servers that need no key."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lua_text import lua_fmt


class FakeModel(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeModel.requests.append({"path": self.path, "body": body,
                                   "auth": self.headers.get("Authorization")})
        if self.path.startswith("/bad/"):
            return self.reply(200, None, b"<html>this is not json</html>")
        if self.path.startswith("/stall/"):
            first = "data: " + json.dumps({"choices": [{"index": 0, "delta": {
                "content": "Once upon "}}]}) + "\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(first.encode())
            self.wfile.flush()
            time.sleep(1.6)
            self.close_connection = True
            return None
        if self.path.startswith("/nomodel/"):
            return self.reply(404, {"error": {
                "message": f"The model '{body['model']}' does not exist",
                "type": "invalid_request_error", "code": "model_not_found"}})
        if self.path.endswith("/chat/completions"):
            return self.openai(body)
        if self.path.endswith("/messages"):
            return self.anthropic(body)
        if self.path == "/api/chat":
            return self.ollama(body)
        self.reply(404, {"error": {"message": "no such path"}})

    def openai(self, body: dict[str, Any]) -> None:
        messages = body["messages"]
        last = messages[-1]
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        if last["role"] == "tool":
            content = f"Tool said: {last['content'][:400]}"
            message = {"role": "assistant", "content": content}
        elif body.get("tools"):
            name = "file_operations" if "forbidden" in first_user else "calculator"
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"call_{len(messages)}", "type": "function",
                "function": {"name": name, "arguments": json.dumps({"input": "2+3*4"})}}]}
        else:
            message = {"role": "assistant", "content": "no tools were offered"}
        if "loop" in first_user and body.get("tools"):
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"call_{len(messages)}", "type": "function",
                "function": {"name": "calculator", "arguments": "{\"input\": \"1+1\"}"}}]}
        if body.get("stream"):
            return self.openai_stream(message)
        self.reply(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": message,
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                   "total_tokens": 15}})

    def sse(self, events: list[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event.encode())
            self.wfile.flush()
        self.close_connection = True

    def openai_stream(self, message: dict[str, Any]) -> None:
        def data(delta: dict[str, Any], **extra: Any) -> str:
            return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta,
                                                       "finish_reason": None}], **extra}) + "\n\n"

        events = []
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            args = call["function"]["arguments"]
            events.append(data({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                "function": {"name": call["function"]["name"],
                                                             "arguments": ""}}]}))
            for i in range(0, len(args), 5):  # arguments arrive in pieces
                events.append(data({"tool_calls": [{"index": 0, "function": {
                    "arguments": args[i:i + 5]}}]}))
        else:
            text = message["content"]
            for i in range(0, len(text), 20):
                events.append(data({"content": text[i:i + 20]}))
        events.append("data: " + json.dumps({"choices": [], "usage": {
            "prompt_tokens": 4, "completion_tokens": 2}}) + "\n\n")
        events.append("data: [DONE]\n\n")
        self.sse(events)

    def ollama(self, body: dict[str, Any]) -> None:
        last = body["messages"][-1]
        if last["role"] == "tool":
            message = {"role": "assistant", "content": "Ollama tool said: " + last["content"]}
        else:
            message = {"role": "assistant", "content": "", "tool_calls": [{"function": {
                "name": "calculator", "arguments": {"input": "10-3"}}}]}
        self.reply(200, {"model": body["model"], "message": message, "done": True,
                         "prompt_eval_count": 3, "eval_count": 2})

    def anthropic(self, body: dict[str, Any]) -> None:
        last = body["messages"][-1]
        content = last["content"]
        if isinstance(content, list) and content[0].get("type") == "tool_result":
            blocks = [{"type": "text", "text": "Tool said: " + content[0]["content"][:400]}]
            stop = "end_turn"
        else:
            blocks = [{"type": "text", "text": "Let me compute."},
                      {"type": "tool_use", "id": "toolu_1", "name": "calculator",
                       "input": {"input": "6*7"}}]
            stop = "tool_use"
        if body.get("stream"):
            return self.anthropic_stream(blocks, stop)
        self.reply(200, {"id": "m", "type": "message", "role": "assistant",
                         "model": body["model"], "content": blocks, "stop_reason": stop,
                         "usage": {"input_tokens": 7, "output_tokens": 3}})

    def anthropic_stream(self, blocks: list[dict[str, Any]], stop: str) -> None:
        def ev(name: str, obj: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **obj})}\n\n"

        events = [ev("message_start", {"message": {"usage": {"input_tokens": 7}}})]
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                events.append(ev("content_block_start", {"index": i, "content_block": {
                    "type": "text", "text": ""}}))
                for j in range(0, len(block["text"]), 12):
                    events.append(ev("content_block_delta", {"index": i, "delta": {
                        "type": "text_delta", "text": block["text"][j:j + 12]}}))
            else:
                events.append(ev("content_block_start", {"index": i, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"],
                    "input": {}}}))
                raw = json.dumps(block["input"])
                for j in range(0, len(raw), 4):
                    events.append(ev("content_block_delta", {"index": i, "delta": {
                        "type": "input_json_delta", "partial_json": raw[j:j + 4]}}))
            events.append(ev("content_block_stop", {"index": i}))
        events.append(ev("message_delta", {"delta": {"stop_reason": stop},
                                           "usage": {"output_tokens": 3}}))
        events.append(ev("message_stop", {}))
        self.sse(events)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeModel.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "fake-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
    monkeypatch.delenv("LLMSPELL_PLAYBACK", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.setenv(var, url)  # the user's server: the scripts may point agents at it
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_openai_agent_calls_a_tool_and_answers(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("${fake}/v1"):allow_tool("calculator"):build()
      local r = a:invoke({text = "What is 2+3*4?"})
      return {text = r.text, calls = r.metadata.tool_calls, tokens = r.metadata.token_count}
    """, fake=fake))
    v = run.value
    assert v["text"].startswith("Tool said: ")
    assert re.search(r'"result":\s*14', v["text"])
    assert v["calls"] == [{"name": "calculator", "arguments": {"input": "2+3*4"},
                           "success": True}]
    assert v["tokens"] == 30  # two model calls of 15 tokens
    first, second = FakeModel.requests
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["calculator"]
    assert first["body"]["tools"][0]["function"]["parameters"]["type"] == "object"
    assert second["body"]["messages"][-2]["tool_calls"][0]["function"]["name"] == "calculator"
    assert second["body"]["messages"][-1]["role"] == "tool"


def test_anthropic_agent_calls_a_tool(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("calc"):model("anthropic/claude-3-5-haiku-latest")
        :base_url("${fake}"):allowed_tools({"calculator", "uuid_generator"}):build()
      return a:invoke({text = "6 times 7?"}).text
    """, fake=fake))
    assert run.value.startswith("Tool said: ") and re.search(r'"result":\s*42', run.value)
    first, second = FakeModel.requests
    assert {t["name"] for t in first["body"]["tools"]} == {"calculator", "uuid_generator"}
    assert first["body"]["tools"][0]["input_schema"]["type"] == "object"
    assistant, result = second["body"]["messages"][-2:]
    assert assistant["content"][1] == {"type": "tool_use", "id": "toolu_1",
                                       "name": "calculator", "input": {"input": "6*7"}}
    assert result["content"][0]["tool_use_id"] == "toolu_1"


def test_a_tool_the_agent_may_not_use_is_refused(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("${fake}/v1"):allow_tool("calculator"):build()
      return a:invoke({text = "forbidden: write a file"}).text
    """, fake=fake))
    assert "not allowed for this agent" in run.value


def test_tool_call_limit(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("${fake}/v1"):allow_tool("calculator"):max_tool_calls(2):build()
      return select(2, pcall(function() return a:invoke({text = "loop forever"}) end))
    """, fake=fake))
    assert "more than 2 tool calls" in run.value
    assert len(FakeModel.requests) == 3


def test_invoke_tool_directly(lua, fake: str) -> None:
    run = lua("""
      local a = Agent.builder():name("t"):model("openai/gpt-4o-mini")
        :allow_tool("calculator"):build()
      local r = a:invokeTool("calculator", {input = "1+1"})
      local ok, err = pcall(function() return a:invokeTool("uuid_generator", {}) end)
      return {result = r.result.result, success = r.success, err = err,
              has = a:has_tool("calculator"), meta = a:get_tool_metadata("calculator").name,
              wrapped = Agent.wrap_as_tool("t", {name = "ask_t"}),
              listed = Tool.exists and Tool.exists("ask_t")}
    """)
    v = run.value
    assert v["result"] == 2 and v["success"] is True and "not allowed" in v["err"]
    assert v["has"] is True and v["meta"] == "calculator"
    assert v["wrapped"] == "ask_t" and v["listed"] is True


def test_malformed_reply_is_reported(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("bad"):model("openai/gpt-4o-mini")
        :base_url("${fake}/bad/v1"):build()
      return select(2, pcall(function() return a:invoke({text = "hi"}) end))
    """, fake=fake))
    assert "openai: malformed reply from " + fake + "/bad/v1/chat/completions: not JSON" \
        in run.value


def test_openai_compatible_server_without_key(lua, fake: str, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    run = lua("""
      local a = Agent.builder():name("local"):model("lmstudio/qwen2.5"):build()
      return a:invoke({text = "hi"}).text
    """, config={"providers": {"lmstudio": {"provider_type": "openai_compatible",
                                            "base_url": fake + "/v1"}}})
    assert run.value == "no tools were offered"
    assert FakeModel.requests[0]["auth"] is None
    assert FakeModel.requests[0]["body"]["model"] == "qwen2.5"


def test_unknown_model_is_named(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("nm"):model("openai/gpt-9-imaginary")
        :base_url("${fake}/nomodel/v1"):build()
      return select(2, pcall(function() return a:invoke({text = "hi"}) end))
    """, fake=fake))
    assert "openai: unknown model 'gpt-9-imaginary' (HTTP 404)" in run.value
    assert len(FakeModel.requests) == 1  # not retried


@pytest.mark.parametrize("model,base", [("openai/gpt-4o-mini", "/v1"),
                                        ("anthropic/claude-3-5-haiku-latest", "")])
def test_streaming_agent_with_tools(lua, fake: str, model: str, base: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("s"):model("${model}")
        :base_url("${fake}${base}"):allow_tool("calculator"):build()
      local pieces = {}
      local r = a:invokeStream({text = "compute please"}, function(c)
        pieces[#pieces + 1] = c.text
      end)
      return {n = r.chunks_received, text = table.concat(pieces)}
    """, model=model, fake=fake, base=base))
    assert run.value["n"] >= 2
    assert "Tool said: " in run.value["text"] and re.search(r'"result":\s*(14|42)',
                                                            run.value["text"])
    first, second = FakeModel.requests
    assert first["body"]["stream"] is True and second["body"]["stream"] is True


def test_ollama_agent_calls_a_tool(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("o"):model("ollama/llama3.1:8b")
        :base_url("${fake}"):allow_tool("calculator"):build()
      return a:invoke({text = "10 minus 3"}).text
    """, fake=fake))
    assert run.value.startswith("Ollama tool said: ") and re.search(r'"result":\s*7', run.value)
    second = FakeModel.requests[1]["body"]["messages"]
    assert second[-2]["tool_calls"][0]["function"] == {"name": "calculator",
                                                        "arguments": {"input": "10-3"}}
    assert second[-1]["role"] == "tool" and second[-1]["tool_name"] == "calculator"


def test_stream_that_stalls_is_reported(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      local got = {}
      local a = Agent.builder():name("slow"):model("openai/gpt-4o-mini")
        :base_url("${fake}/stall/v1"):build()
      local ok, err = pcall(function()
        return a:invokeStream({text = "tell a story"}, function(c) got[#got + 1] = c.text end)
      end)
      return {ok = ok, err = err, got = got}
    """, fake=fake), config={"providers": {"openai": {"timeout_seconds": 1}}})
    v = run.value
    assert v["ok"] is False and v["got"] == ["Once upon "]
    assert "openai: the stream from " + fake + "/stall/v1/chat/completions stalled" in v["err"]


def test_agent_wrapped_as_tool_answers_tool_calls(lua, fake: str) -> None:
    run = lua(lua_fmt("""
      Agent.builder():name("expert"):model("openai/gpt-4o-mini"):base_url("${fake}/v1"):build()
      local name = Agent.wrap_as_tool("expert", {})
      local r = Tool.invoke(name, {text = "explain closures"})
      return {name = name, ok = r.success, text = r.result.text, agent = r.result.agent}
    """, fake=fake))
    assert run.value == {"name": "expert_tool", "ok": True, "text": "no tools were offered",
                         "agent": "expert"}
    assert FakeModel.requests[0]["body"]["messages"][-1]["content"] == "explain closures"
