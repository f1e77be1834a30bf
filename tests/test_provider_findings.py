"""What a real model server found (issue 16), pinned down against the fake LLM server:
cassettes keep bodies intact and never hold a key, tool turns that compatible servers
accept, 404s that name the URL, a local 500 that is not retried, where a key comes from.

The same findings are shown against a real llama.cpp server in tests/realmodel/.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakellm import OPENAI_KEY, FakeLLM

from llmspell import config as config_mod
from llmspell.errors import ProviderError
from llmspell.providers import chat_client
from llmspell.providers.base import ChatRequest
from llmspell.providers.cassette import Cassette

ASK = """
local a = Agent.builder():name("rec"):model("openai/gpt-4o-mini"):build()
return a:invoke({text = ARGS[1] or "hello"}).text
"""


def record_and_play(cli: Any, fake_llm: FakeLLM, tmp_path: Path, *args: str
                    ) -> tuple[Any, Any, str]:
    (tmp_path / "s.lua").write_text(ASK)
    tape = tmp_path / "tape.json"
    recorded = cli("run", "--record", str(tape), "s.lua", *args, env=fake_llm.env())
    played = cli("run", "--playback", str(tape), "s.lua", *args,
                 env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    return recorded, played, tape.read_text() if tape.exists() else ""


def test_a_reply_containing_the_keys_text_is_kept_as_sent(cli, fake_llm: FakeLLM,
                                                         tmp_path: Path) -> None:
    fake_llm.enqueue(text=f"I can help with {OPENAI_KEY} and more")
    recorded, played, tape = record_and_play(cli, fake_llm, tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.strip() == f"I can help with {OPENAI_KEY} and more"
    assert played.returncode == 0, played.stderr
    assert played.stdout == recorded.stdout
    assert "***" not in tape


def test_a_request_carrying_the_key_is_refused_not_recorded(cli, fake_llm: FakeLLM,
                                                            tmp_path: Path) -> None:
    recorded, _, tape = record_and_play(cli, fake_llm, tmp_path, f"my key is {OPENAI_KEY}")
    assert recorded.returncode == 1
    assert "not recording this request" in recorded.stderr
    assert OPENAI_KEY not in tape and OPENAI_KEY not in recorded.stderr
    assert fake_llm.log() == []  # refused before anything was sent


def test_an_error_reply_echoing_the_key_is_recorded_without_it(cli, fake_llm: FakeLLM,
                                                               tmp_path: Path) -> None:
    fake_llm.enqueue(status=400, message=f"key {OPENAI_KEY} may not use this model")
    recorded, _, tape = record_and_play(cli, fake_llm, tmp_path)
    assert recorded.returncode == 1
    interactions = json.loads(tape)["interactions"]
    assert [i["status"] for i in interactions] == [400]
    assert OPENAI_KEY not in tape and "key *** may not use" in tape


def test_credential_fields_are_masked_and_still_match(tmp_path: Path) -> None:
    from llmspell.providers.cassette import request_text

    body = {"model": "m", "api_key": "sk-live-0123456789", "options": {"token": "t-123456"},
            "max_tokens": 5, "messages": [{"role": "user", "content": "the key word"}]}
    masked = json.loads(request_text(json.dumps(body)))
    assert masked["api_key"] == "***" and masked["options"]["token"] == "***"
    assert masked["max_tokens"] == 5 and masked["messages"] == body["messages"]
    tape = tmp_path / "tape.json"
    rec = Cassette(tape, "record")
    rec.record("p", "chat", "POST", json.dumps(body).encode(), 200, "application/json",
               b'{"ok": true}')
    assert "sk-live" not in tape.read_text()
    other_key = dict(body, api_key="sk-live-9999999999")
    play = Cassette(tape, "playback")
    assert play.lookup("p", "chat", "POST", json.dumps(other_key).encode())["response"] == \
        {"ok": True}


def test_a_tool_turn_sends_tool_choice_and_a_string_content(lua, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(tool_calls=[{"name": "calculator", "arguments": {"input": "1+2"}}])
    fake_llm.enqueue(text="It is 3.")
    run = lua("""
        local a = Agent.builder():name("calc"):model("openai/gpt-4o-mini")
          :allow_tool("calculator"):build()
        local r = a:invoke({text = "1+2?"})
        return {text = r.text, n = #r.metadata.tool_calls}
    """)
    assert run.value == {"text": "It is 3.", "n": 1}
    first, second = (entry["body"] for entry in fake_llm.log())
    assert first["tool_choice"] == "auto" and second["tool_choice"] == "auto"
    turn = next(m for m in second["messages"] if m.get("tool_calls"))
    assert turn["role"] == "assistant" and turn["content"] == ""


def settings(providers: dict[str, Any]) -> Any:
    return config_mod.from_dict({"providers": providers}, environ={})


def ask(base_url: str, model: str = "gpt-4o-mini") -> str:
    s = settings({"compat": {"provider_type": "openai_compatible", "base_url": base_url,
                             "api_key_env": "OPENAI_API_KEY"}})
    with pytest.raises(ProviderError) as err:
        chat_client(s, "compat").chat(ChatRequest(model=model, messages=[
            {"role": "user", "content": "hi"}]))
    return str(err.value)


def test_a_404_not_found_names_the_url_not_the_model(fake_llm: FakeLLM) -> None:
    """A web framework's bare "Not Found" (llama.cpp's server: {"detail": "Not Found"})
    is about the URL, not the model."""
    fake_llm.enqueue(status=404, message="Not Found")
    message = ask(fake_llm.url + "/v1")
    assert "unknown model" not in message
    assert f"{fake_llm.url}/v1/chat/completions not found (HTTP 404)" in message


def test_a_404_for_a_path_without_v1_says_where_to_look(fake_llm: FakeLLM) -> None:
    message = ask(fake_llm.url + "/openai")
    assert f"{fake_llm.url}/openai/chat/completions not found (HTTP 404)" in message
    assert "providers.compat.base_url" in message and "under /v1" in message


def test_a_404_that_names_the_model_is_an_unknown_model(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(status=404, message="The model `gpt-9` does not exist")
    assert ask(fake_llm.url + "/v1", "gpt-9").startswith("compat: unknown model 'gpt-9'")


def test_a_500_from_a_server_on_this_machine_is_not_retried(fake_llm: FakeLLM) -> None:
    for _ in range(4):
        fake_llm.enqueue(status=500, message="model must be created with embedding=True")
    message = ask(fake_llm.url + "/v1")
    assert "server error (HTTP 500): model must be created with embedding=True" in message
    assert "attempt" not in message
    assert len(fake_llm.log()) == 1


def test_providers_names_the_variable_a_key_comes_from(cli, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[providers.llama]\nprovider_type = "openai"\n'
                                     'base_url = "http://127.0.0.1:9/v1"\n'
                                     '[providers.bare]\nprovider_type = "openai_compatible"\n'
                                     'base_url = "http://127.0.0.1:9/v1"\n')
    done = cli("-c", str(tmp_path / "c.toml"), "providers", "--no-check",
               env={"OPENAI_API_KEY": "sk-test-0123456789"})
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert "key=env OPENAI_API_KEY" in lines["llama"], done.stdout
    assert "key=none" in lines["bare"]
    assert "sk-test" not in done.stdout


# -- the first call of a run: no httpx CLI, no CA bundle for http:// ----------------------------

def test_providers_do_not_load_the_httpx_command_line_client() -> None:
    code = ("import sys, llmspell.providers.http, httpx\n"
            "print(hasattr(sys.modules['httpx._main'], '__file__'),"
            " 'rich.progress' in sys.modules, 'pygments' in sys.modules)\n"
            "httpx.main(['--help'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    first, _, rest = done.stdout.partition("\n")
    assert first == "False False False", done.stdout + done.stderr
    if importlib.util.find_spec("click") is None:  # httpx's CLI needs its `cli` extra
        assert "No module named 'click'" in done.stderr, done.stderr
    else:
        assert done.returncode == 0 and "HTTPX" in rest  # the real CLI when asked for


def _ssl_context(http: Any) -> ssl.SSLContext:
    return http.client._transport.ssl_context  # netguard.GuardedTransport


def test_a_plain_http_provider_loads_no_certificates() -> None:
    from llmspell.providers.http import Http

    plain = Http("local", base_url="http://127.0.0.1:8080/v1")
    tls = Http("openai", base_url="https://api.openai.com/v1")
    try:
        assert _ssl_context(plain).get_ca_certs() == []
        assert _ssl_context(plain).verify_mode == ssl.CERT_REQUIRED  # TLS would fail closed
        assert _ssl_context(tls).get_ca_certs()
    finally:
        plain.close()
        tls.close()
