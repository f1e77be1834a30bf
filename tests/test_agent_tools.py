"""Tool calling through the providers' function calling, against a small loopback server
that answers like OpenAI / Anthropic models that decide to call a tool; also malformed
replies and OpenAI-compatible servers that need no key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


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
        if self.path.startswith("/nomodel/"):
            return self.reply(404, {"error": {
                "message": f"The model '{body['model']}' does not exist",
                "type": "invalid_request_error", "code": "model_not_found"}})
        if self.path.endswith("/chat/completions"):
            return self.openai(body)
        if self.path.endswith("/messages"):
            return self.anthropic(body)
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
        self.reply(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": message,
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                   "total_tokens": 15}})

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
        self.reply(200, {"id": "m", "type": "message", "role": "assistant",
                         "model": body["model"], "content": blocks, "stop_reason": stop,
                         "usage": {"input_tokens": 7, "output_tokens": 3}})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeModel.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "fake-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "fake-key")
    monkeypatch.delenv("LLMSPELL_PLAYBACK", raising=False)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_openai_agent_calls_a_tool_and_answers(lua, fake: str) -> None:
    run = lua(f"""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("{fake}/v1"):allow_tool("calculator"):build()
      local r = a:invoke({{text = "What is 2+3*4?"}})
      return {{text = r.text, calls = r.metadata.tool_calls, tokens = r.metadata.token_count}}
    """)
    v = run.value
    assert v["text"].startswith("Tool said: ") and '"result": 14' in v["text"]
    assert v["calls"] == [{"name": "calculator", "arguments": {"input": "2+3*4"},
                           "success": True}]
    assert v["tokens"] == 30  # two model calls of 15 tokens
    first, second = FakeModel.requests
    assert [t["function"]["name"] for t in first["body"]["tools"]] == ["calculator"]
    assert first["body"]["tools"][0]["function"]["parameters"]["type"] == "object"
    assert second["body"]["messages"][-2]["tool_calls"][0]["function"]["name"] == "calculator"
    assert second["body"]["messages"][-1]["role"] == "tool"


def test_anthropic_agent_calls_a_tool(lua, fake: str) -> None:
    run = lua(f"""
      local a = Agent.builder():name("calc"):model("anthropic/claude-3-5-haiku-latest")
        :base_url("{fake}"):allowed_tools({{"calculator", "uuid_generator"}}):build()
      return a:invoke({{text = "6 times 7?"}}).text
    """)
    assert run.value.startswith("Tool said: ") and '"result": 42' in run.value
    first, second = FakeModel.requests
    assert {t["name"] for t in first["body"]["tools"]} == {"calculator", "uuid_generator"}
    assert first["body"]["tools"][0]["input_schema"]["type"] == "object"
    assistant, result = second["body"]["messages"][-2:]
    assert assistant["content"][1] == {"type": "tool_use", "id": "toolu_1",
                                       "name": "calculator", "input": {"input": "6*7"}}
    assert result["content"][0]["tool_use_id"] == "toolu_1"


def test_a_tool_the_agent_may_not_use_is_refused(lua, fake: str) -> None:
    run = lua(f"""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("{fake}/v1"):allow_tool("calculator"):build()
      return a:invoke({{text = "forbidden: write a file"}}).text
    """)
    assert "not allowed for this agent" in run.value


def test_tool_call_limit(lua, fake: str) -> None:
    run = lua(f"""
      local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
        :base_url("{fake}/v1"):allow_tool("calculator"):max_tool_calls(2):build()
      return select(2, pcall(function() return a:invoke({{text = "loop forever"}}) end))
    """)
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
    run = lua(f"""
      local a = Agent.builder():name("bad"):model("openai/gpt-4o-mini")
        :base_url("{fake}/bad/v1"):build()
      return select(2, pcall(function() return a:invoke({{text = "hi"}}) end))
    """)
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
    run = lua(f"""
      local a = Agent.builder():name("nm"):model("openai/gpt-9-imaginary")
        :base_url("{fake}/nomodel/v1"):build()
      return select(2, pcall(function() return a:invoke({{text = "hi"}}) end))
    """)
    assert "openai: unknown model 'gpt-9-imaginary' (HTTP 404)" in run.value
    assert len(FakeModel.requests) == 1  # not retried
