"""The Agent and Provider globals against the real loopback stub."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from lua_text import lua_fmt

if TYPE_CHECKING:
    from fakellm import FakeLLM as Stub

BUILD = """
local a = Agent.builder():name("{name}"):description("test agent"):type("llm")
  :model("{model}"):temperature(0.3):max_tokens(400)
  :custom_config({{system_prompt = "You answer briefly."}})
  :resource_limits({{max_execution_time_secs = 30, max_tool_calls = 3}}):build()
"""


def test_builder_invoke_and_metadata(lua, stub: Stub) -> None:
    run = lua(BUILD.format(name="a1", model="openai/gpt-4o-mini") + """
      local r = a:invoke({text = "What is Lua?"})
      return {text = r.text, model = r.metadata.model, tokens = r.metadata.token_count,
              provider = r.metadata.provider, state = a:get_state()}
    """)
    assert run.value["text"].startswith("[stub gpt-4o-mini ")
    assert run.value["model"] == "gpt-4o-mini" and run.value["provider"] == "openai"
    assert run.value["tokens"] > 0 and run.value["state"] == "Ready"
    body = stub.log()[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "You answer briefly."}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 400


@pytest.mark.parametrize("model", ["anthropic/claude-3-5-haiku-latest", "ollama/llama3.1:8b"])
def test_other_providers(lua, stub: Stub, model: str) -> None:
    run = lua(BUILD.format(name="a2", model=model) + "return a:invoke({text='hi'}).text")
    assert run.value.startswith(f"[stub {model.split('/', 1)[1]} ")


def test_conversation_memory_is_kept_and_capped(lua, stub: Stub) -> None:
    lua("""
      local a = Agent.builder():name("mem"):model("openai/gpt-4o-mini")
        :max_conversation_length(4):build()
      for i = 1, 4 do a:invoke({text = "turn " .. i}) end
    """)
    log = [e for e in stub.log() if e["endpoint"] == "chat"][-4:]
    second = log[1]["body"]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1]["content"] == "turn 1"
    assert second[2]["content"].startswith("[stub gpt-4o-mini")
    last = log[3]["body"]["messages"]
    assert len(last) == 1 + 4 + 1 and last[1]["content"] == "turn 2"  # turn 1 dropped
    assert log[0]["body"]["messages"][0]["content"].startswith("You are mem, an AI assistant.")


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest",
                                   "ollama/llama3.1:8b"])
def test_invoke_stream_calls_back_before_the_reply_ends(lua, stub: Stub, model: str) -> None:
    run = lua(BUILD.format(name="s", model=model) + """
      local pieces = {}
      local r = a:invokeStream({text = "stream"}, function(chunk)
        pieces[#pieces + 1] = chunk.text
      end)
      return {n = #pieces, joined = table.concat(pieces), r = r}
    """)
    assert run.value["n"] >= 2 and run.value["r"] == {"success": True,
                                                      "chunks_received": run.value["n"]}
    assert run.value["joined"].startswith("[stub ")
    assert stub.log()[-1]["stream"] is True


def test_stream_callback_error_propagates(lua, stub: Stub) -> None:
    run = lua(BUILD.format(name="e", model="openai/gpt-4o-mini") + """
      local ok, err = pcall(function()
        return a:invokeStream({text = "x"}, function(c) error("stop here") end)
      end)
      return {ok = ok, err = tostring(err)}
    """)
    assert run.value["ok"] is False and "stop here" in run.value["err"]


def test_builder_errors(lua, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LLMSPELL_PLAYBACK", raising=False)
    run = lua("""
      local out = {}
      out.no_model = select(2, pcall(function() return Agent.builder():name("x"):build() end))
      out.unknown = select(2, pcall(function()
        return Agent.builder():model("nosuch/m"):build() end))
      local a = Agent.builder():name("nokey"):model("gpt-4o-mini"):build()
      out.nokey = select(2, pcall(function() return a:invoke({text = "x"}) end))
      out.dup = select(2, pcall(function()
        return Agent.builder():name("nokey"):model("gpt-4o-mini"):build() end))
      out.dot = select(2, pcall(function() return Agent.builder().name("x") end))
      return out
    """)
    v = run.value
    assert v["no_model"].endswith("Model is required")
    assert "Unknown provider: nosuch" in v["unknown"]
    assert "no API key: set OPENAI_API_KEY or providers.openai.api_key" in v["nokey"]
    assert "already exists" in v["dup"]
    assert v["dot"].endswith("AgentBuilder:name: call it as a method, obj:name(...)")


def test_module_functions(lua, stub: Stub) -> None:
    run = lua("""
      local a = Agent.builder():name("m1"):model("openai/gpt-4o-mini"):build()
      local b = Agent.builder():name("m2"):model("openai/gpt-4o-mini"):build()
      local name = Agent.register({name = "m3", model = "openai/gpt-4o-mini"})
      Agent.create_composite("team", {"m1", "m2"}, {mode = "sequential"})
      local ctx = Agent.create_context({data = {project = "llmspell"}})
      local child = Agent.create_child_context(ctx, {type = "agent", id = "m1"}, "inherit")
      Agent.update_context(child, "step", 2)
      Agent.set_shared_memory({type = "global"}, "k", {1, 2})
      local out = {
        registered = name,
        instances = Agent.list_instances(),
        discover = Agent.discover(),
        inherited = Agent.get_context_data(child, "project"),
        step = Agent.get_context_data(child, "step"),
        shared = Agent.get_shared_memory({type = "global"}, "k"),
        hierarchy = Agent.get_hierarchy("team"),
        by_cap = Agent.discover_by_capability("composite"),
        templates = Agent.list_templates(),
        team = Agent.get("team"):invoke({text = "go"}).text,
        ctx_reply = a:execute_with_context({text = "use context"}, ctx).text,
      }
      a:destroy()
      out.after = #Agent.list()
      return out
    """)
    v = run.value
    assert v["registered"] == "m3" and v["instances"] == ["m1", "m2", "m3", "team"]
    assert v["discover"] == [{"type": "llm"}]
    assert v["inherited"] == "llmspell" and v["step"] == 2 and v["shared"] == [1, 2]
    assert [c["name"] for c in v["hierarchy"]["children"]] == ["m1", "m2"]
    assert v["by_cap"] == ["team"] and "researcher" in v["templates"]
    assert v["team"].startswith("[stub gpt-4o-mini") and v["after"] == 3
    chats = [e for e in stub.log() if e["endpoint"] == "chat"]
    # the composite fed m1's reply to m2 as its user message
    assert chats[-2]["body"]["messages"][-1]["content"] == chats[-3]["response_text"]
    assert "llmspell" in chats[-1]["body"]["messages"][-1]["content"]


def test_lifecycle(lua, stub: Stub) -> None:
    run = lua("""
      local a = Agent.builder():name("life"):model("openai/gpt-4o-mini"):build()
      a:initialize(); a:start(); a:pause()
      local paused = a:get_state()
      local ok = pcall(function() return a:invoke({text = "x"}) end)
      a:resume(); a:stop()
      a:set_error("boom")
      local healthy = a:is_healthy()
      a:recover()
      return {paused = paused, ok = ok, healthy = healthy, state = a:get_state(),
              attempts = a:get_recovery_attempts(), last = a:get_last_error(),
              bad = select(2, pcall(function() a:resume() end)),
              history = #a:get_state_history(), metrics = a:get_metrics().requests_total}
    """)
    v = run.value
    assert v["paused"] == "Paused" and v["ok"] is False and v["healthy"] is False
    assert v["state"] == "Ready" and v["attempts"] == 1 and v["last"] == "boom"
    assert "cannot resume from state Ready" in v["bad"] and v["history"] >= 7
    assert v["metrics"] == 0  # the paused agent refused before calling the provider


def test_agent_state_save_and_load(lua, stub: Stub) -> None:
    run = lua("""
      local a = Agent.builder():name("st"):model("openai/gpt-4o-mini"):build()
      a:invoke({text = "remember me"})
      a:save_state()
      a:destroy()
      local b = Agent.builder():name("st"):model("openai/gpt-4o-mini"):build()
      local loaded = b:load_state()
      b:invoke({text = "again"})
      b:delete_state()
      return {loaded = loaded, reloaded = b:load_state()}
    """)
    assert run.value == {"loaded": True, "reloaded": False}
    messages = stub.log()[-1]["body"]["messages"]
    assert messages[1]["content"] == "remember me"


def test_provider_global(lua) -> None:
    run = lua("""
      return {list = Provider.list(), get = Provider.get("local"),
              caps = Provider.getCapabilities("local"), yes = Provider.isAvailable("local"),
              no = Provider.isAvailable("nope"), missing = Provider.get("nope")}
    """, config={"providers": {"local": {"provider_type": "ollama", "model": "llama3.1:8b"},
                               "off": {"provider_type": "openai", "enabled": False}}})
    v = run.value
    assert [p["name"] for p in v["list"]] == ["local", "off"]
    assert v["list"][0]["capabilities"]["available_models"] == ["llama3.1:8b"]
    assert v["list"][1]["enabled"] is False
    assert "available_models" not in v["get"]["capabilities"]
    assert v["caps"]["supports_streaming"] is True
    assert v["yes"] is True and v["no"] is False and "missing" not in v


def test_scripts_without_llm_need_no_key(cli, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli("exec", "local b = Agent.builder() return #Agent.list()")
    assert result.returncode == 0 and result.stdout.strip() == "0"


def test_get_config_and_set_state(lua, stub: Stub) -> None:
    key = stub.env()["OPENAI_API_KEY"]
    run = lua("""
      local a = Agent.builder():name("cfg"):model("openai/gpt-4o-mini"):api_key("KEY")
        :system_prompt("Be exact."):temperature(0.1):build()
      a:set_state({history = {{role = "user", content = "earlier question"},
                              {role = "assistant", content = "earlier answer"},
                              {role = "bogus", content = "dropped"}}})
      a:invoke({text = "now"})
      return a:get_config()
    """.replace("KEY", key))
    cfg = run.value
    assert cfg["name"] == "cfg" and cfg["model"]["model_id"] == "gpt-4o-mini"
    assert cfg["model"]["temperature"] == 0.1
    assert cfg["custom_config"] == {"system_prompt": "Be exact."}
    assert key not in repr(cfg)
    messages = stub.log()[-1]["body"]["messages"]
    assert [m["content"] for m in messages] == ["Be exact.", "earlier question",
                                                "earlier answer", "now"]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest",
                                   "ollama/llama3.1:8b"])
def test_images_are_sent_to_the_model(lua, stub: Stub, model: str) -> None:
    run = lua(lua_fmt("""
      local a = Agent.builder():name("eyes"):model("${model}"):build()
      return a:invoke({text = "What is in this picture?",
                        media = {{base64 = "aGVsbG8=", format = "jpeg"},
                                  {format = "png"}}}).text
    """, model=model))
    assert run.value.startswith("[stub ")
    user = stub.log()[-1]["body"]["messages"][-1]
    provider = model.split("/")[0]
    if provider == "openai":
        assert user["content"] == [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGVsbG8="}}]
    elif provider == "anthropic":
        assert user["content"][0] == {"type": "image", "source": {
            "type": "base64", "media_type": "image/jpeg", "data": "aGVsbG8="}}
        assert user["content"][1] == {"type": "text", "text": "What is in this picture?"}
    else:
        assert user["images"] == ["aGVsbG8="]


def test_instance_carries_its_name(lua, stub: Stub) -> None:
    run = lua("""
      local a = Agent.builder():name("named"):model("openai/gpt-4o-mini"):build()
      return {a.name, Agent.get("named").name}
    """)
    assert run.value == ["named", "named"]


def test_agents_by_name_from_worker_threads(lua, stub: Stub) -> None:
    """What workflow steps do: agent_service(rt).get(name).invoke(dict), in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from llmspell.api.agent import agent_service

    rt, _ = lua.runtime()
    try:
        service = agent_service(rt)
        for i in range(3):
            service.create_from_dict({"name": f"w{i}", "model": "openai/gpt-4o-mini"})
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda i: service.get(f"w{i % 3}").invoke(
                {"text": f"task {i}"}), range(9)))
    finally:
        rt.close()
    assert all(o["text"].startswith("[stub gpt-4o-mini ") for o in outs)
    assert all(o["metadata"]["model"] == "gpt-4o-mini" for o in outs)
    assert sum(len(service.get(f"w{i}").history) for i in range(3)) == 18
