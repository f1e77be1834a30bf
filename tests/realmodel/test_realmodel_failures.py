"""Record/playback with the server gone, a killed server, wrong URLs, key handling."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from realmodel_support import MODEL, LlamaServer, RunScript, free_port, provider_toml

from llmspell import config as config_mod
from llmspell.errors import ProviderError
from llmspell.providers import chat_client
from llmspell.providers.base import ChatRequest

CONVERSATION = f"""
local a = Agent.builder():name("taper"):model("local/{MODEL}")
  :system_prompt("Answer briefly."):temperature(0):max_tokens(12):build()
local out = {{}}
out[#out + 1] = a:invoke({{text = "Name a fruit."}}).text
for i, q in ipairs({{"Name a colour.", "Name an animal.", "Name a city.", "Name a tree."}}) do
  local pieces = {{}}
  local r = a:invokeStream({{text = q}}, function(c) pieces[#pieces + 1] = c.text or c end)
  out[#out + 1] = table.concat(pieces) .. " |" .. r.chunks_received
end
return out
"""


def test_record_then_playback_with_the_server_stopped(own_server: LlamaServer,
                                                      run_script: RunScript,
                                                      tmp_path: Path) -> None:
    tape = tmp_path / "tape.json"
    config = provider_toml("local", own_server.base_url)
    recorded = run_script(CONVERSATION, config, "--record", str(tape)).value
    own_server.stop()
    assert len(recorded) == 5 and all(r.strip() for r in recorded)
    interactions = json.loads(tape.read_text())["interactions"]
    streamed = [i for i in interactions if i["request"].get("stream")]
    # every streamed reply is kept whole, up to the end of the event stream
    assert len(streamed) == 4
    assert all("data: [DONE]" in i.get("response_text", "") for i in streamed), streamed
    played = run_script(CONVERSATION, config, "--playback", str(tape)).value
    assert played == recorded


KEY_LIKE_WORD = "anything"  # a local server's placeholder key that is also a word
# SmolLM2 answers the question below with "... I can provide a wide range of ..." (at
# temperature 0 on these builds): a key that happens to be text of the reply.
KEY_IN_REPLY = "a wide range"


def test_recording_keeps_replies_that_contain_a_key_like_word(chat_server: LlamaServer,
                                                              run_script: RunScript,
                                                              tmp_path: Path) -> None:
    """Bodies are recorded as sent and received, not with the key's text replaced (a
    reply read "help with ***" and playback no longer matched)."""
    tape = tmp_path / "tape.json"
    code = f"""
        local a = Agent.builder():name("helper"):model("local/{MODEL}")
          :system_prompt("Answer briefly."):temperature(0):max_tokens(16):build()
        return a:invoke({{text = "Is there something you cannot do?"}}).text
    """
    config = provider_toml("local", chat_server.base_url, api_key=KEY_IN_REPLY)
    recorded = run_script(code, config, "--record", str(tape)).value
    assert "***" not in tape.read_text()
    assert run_script(code, config, "--playback", str(tape)).value == recorded


def test_a_prompt_that_carries_the_key_is_not_recorded(chat_server: LlamaServer,
                                                       run_script: RunScript,
                                                       tmp_path: Path) -> None:
    tape = tmp_path / "tape.json"
    run = run_script(f"""
        local a = Agent.builder():name("echo"):model("local/{MODEL}"):max_tokens(4):build()
        return a:invoke({{text = "Tell me {KEY_LIKE_WORD}."}}).text
    """, provider_toml("local", chat_server.base_url, api_key=KEY_LIKE_WORD),
        "--record", str(tape))
    assert run.returncode == 1
    assert "not recording this request" in run.stderr and "API key" in run.stderr
    assert not tape.exists() or KEY_LIKE_WORD not in tape.read_text()


def test_cassette_never_holds_the_key(chat_server: LlamaServer, run_script: RunScript,
                                      tmp_path: Path) -> None:
    tape = tmp_path / "tape.json"
    key = "sk-local-5b1e9c0d7a3f4e21"
    config = provider_toml("local", chat_server.base_url, api_key=key)
    run_script(f"""
        local a = Agent.builder():name("k"):model("local/{MODEL}"):max_tokens(4):build()
        return a:invoke({{text = "Hi"}}).text
    """, config, "--record", str(tape)).value  # noqa: B018  (asserts success)
    assert tape.is_file() and key not in tape.read_text()


def test_killed_server_mid_stream_is_a_clear_error(own_server: LlamaServer) -> None:
    settings = config_mod.from_dict({"providers": {"local": {
        "provider_type": "openai_compatible", "base_url": own_server.base_url}}}, environ={})
    client = chat_client(settings, "local")
    seen: list[str] = []

    def kill_on_first(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 1:
            assert own_server.proc is not None
            os.kill(own_server.proc.pid, signal.SIGKILL)

    with pytest.raises(ProviderError) as err:
        client.chat(ChatRequest(model=MODEL, max_tokens=200, temperature=0,
                                messages=[{"role": "user", "content": "Count to a hundred."}]),
                    on_chunk=kill_on_first)
    message = str(err.value)
    assert message.startswith("local: ") and own_server.url in message
    assert len(seen) >= 1
    client.http.close()


def test_stopped_server_is_a_clear_error_from_the_cli(run_script: RunScript) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    run = run_script(f"""
        return Agent.builder():model("local/{MODEL}"):build():invoke({{text = "hi"}}).text
    """, provider_toml("local", url))
    assert run.returncode == 1
    assert "connection refused" in run.stderr and url in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("what", ["chat", "embeddings"])
def test_base_url_without_v1_names_the_url_not_the_model(chat_server: LlamaServer,
                                                         embed_server: LlamaServer,
                                                         run_script: RunScript,
                                                         what: str) -> None:
    if what == "chat":
        url = chat_server.url
        code = f'return Agent.builder():model("local/{MODEL}"):build():invoke({{text="hi"}})'
        config = provider_toml("local", url)
        endpoint = "/chat/completions"
    else:
        url = embed_server.url
        code = 'RAG.ingest({content = "x"}) return 1'
        config = provider_toml("llama", url) + f"""
[rag]
enabled = true
[rag.vector_storage]
dimensions = 576
[rag.embedding]
default_provider = "llama"
model = "{MODEL}"
"""
        endpoint = "/embeddings"
    run = run_script(code, config)
    assert run.returncode == 1
    assert "unknown model" not in run.stderr
    assert f"{url}{endpoint}" in run.stderr and "404" in run.stderr
    assert "/v1" in run.stderr  # the hint: OpenAI-compatible servers answer under /v1


def test_providers_shows_where_the_key_comes_from(chat_server: LlamaServer, cli,
                                                  tmp_path: Path) -> None:
    """A provider of type openai under another name uses OPENAI_API_KEY: say so."""
    (tmp_path / "config.toml").write_text(f"""
[providers.llama]
provider_type = "openai"
base_url = "{chat_server.base_url}"
default_model = "{MODEL}"
""")
    done = cli("-c", str(tmp_path / "config.toml"), "providers",
               env={"OPENAI_API_KEY": "sk-test-0123456789abcdef", "NO_PROXY": "127.0.0.1"})
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("llama:"))
    assert "key=none" not in line and "OPENAI_API_KEY" in line, line
    assert "sk-test" not in done.stdout
    assert "status=reachable" in line
