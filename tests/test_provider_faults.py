"""Provider faults against the fake LLM server (real HTTP) and damaged cassette files:
cut streams are errors, ``timeout_seconds`` bounds the whole request, a broken cassette
gets one clear line naming the file and the entry."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakellm import FakeLLM

from llmspell import config as config_mod
from llmspell.errors import ProviderError
from llmspell.providers import chat_client
from llmspell.providers.base import ChatRequest

MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-latest"),
          ("ollama", "llama3.1:8b")]


def settings(providers: dict[str, Any] | None = None) -> Any:
    return config_mod.from_dict({"providers": providers or {}}, environ={})


def ask(name: str, model: str, *, stream: bool, providers: dict[str, Any] | None = None,
        chunks: list[str] | None = None) -> Any:
    on_chunk = (chunks if chunks is not None else []).append if stream else None
    return chat_client(settings(providers), name).chat(
        ChatRequest(model=model, messages=[{"role": "user", "content": "tell me"}]),
        on_chunk=on_chunk)


def bounded_call(fn: Any, limit: float) -> tuple[float, BaseException | None, bool]:
    """Run ``fn`` in a thread; (seconds taken, its exception, whether it ended in ``limit``).
    On code without a request deadline the call would hang for minutes: the test fails at
    ``limit`` instead, and the fixture's reset cuts the server off afterwards."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    return time.monotonic() - started, outcome.get("error"), not worker.is_alive()


# -- 4. cut streams ---------------------------------------------------------------------------

TERMINATORS = {"openai": "[DONE]", "anthropic": "message_stop", "ollama": "done"}


@pytest.mark.parametrize("name,model", MODELS)
def test_a_stream_cut_before_its_terminator_is_an_error(fake_llm: FakeLLM, name: str,
                                                        model: str) -> None:
    fake_llm.enqueue(cut_after=5)
    chunks: list[str] = []
    with pytest.raises(ProviderError) as info:
        ask(name, model, stream=True, chunks=chunks)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "stream" in message and "cut off" in message and TERMINATORS[name] in message
    assert fake_llm.log()[-1]["fault"] == "cut after 5"
    assert chunks  # the partial answer did reach the callback; the call still failed


@pytest.mark.parametrize("name,model", MODELS)
def test_a_whole_stream_still_succeeds(fake_llm: FakeLLM, name: str, model: str) -> None:
    chunks: list[str] = []
    reply = ask(name, model, stream=True, chunks=chunks)
    assert reply.text.startswith(f"[stub {model} ") and "".join(chunks) == reply.text


@pytest.mark.parametrize("name,model", MODELS)
def test_a_stream_whose_connection_drops_is_an_error(fake_llm: FakeLLM, name: str,
                                                     model: str) -> None:
    fake_llm.enqueue(drop="body")
    with pytest.raises(ProviderError, match=rf"^{name}: the stream from .* broke off"):
        ask(name, model, stream=True)


def test_invoke_stream_of_a_cut_stream_raises_in_lua(lua, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(cut_after=2)
    run = lua("""
        local a = Agent.builder():name("w"):model("anthropic/claude-3-5-haiku-latest"):build()
        local got = 0
        local ok, err = pcall(a.invokeStream, a, {text = "hi"}, function() got = got + 1 end)
        return {ok = ok, err = tostring(err), got = got}
    """)
    assert run.value["ok"] is False
    assert "anthropic: the stream from" in run.value["err"]
    assert "cut off" in run.value["err"]


# -- 5. timeout_seconds bounds the whole request ------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("name,model", MODELS)
def test_a_trickled_reply_ends_at_timeout_seconds(fake_llm: FakeLLM, name: str, model: str,
                                                  stream: bool) -> None:
    fake_llm.enqueue(trickle=0.2)  # one byte every 0.2 s: every single read is quick
    providers = {name: {"timeout_seconds": 1, "max_retries": 3,
                        "retry": {"initial_delay_ms": 1}}}
    took, error, ended = bounded_call(
        lambda: ask(name, model, stream=stream, providers=providers), 6)
    assert ended, "the call outlived its 1 s timeout_seconds by far"
    assert isinstance(error, ProviderError)
    assert str(error).startswith(f"{name}: ") and "timed out after 1s" in str(error)
    assert took < 3  # 1 s deadline, no retry after it, some slack for a loaded machine
    assert len(fake_llm.log()) == 1  # a timed-out request is not sent again past its deadline


def test_delayed_headers_end_at_timeout_seconds(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(delay=4)
    took, error, ended = bounded_call(
        lambda: ask("openai", "gpt-4o-mini", stream=False,
                    providers={"openai": {"timeout_seconds": 1}}), 6)
    assert ended and isinstance(error, ProviderError) and took < 3
    assert "openai: request to" in str(error) and "timed out after 1s" in str(error)


def test_the_scripts_time_limit_bounds_a_trickled_reply(lua, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(trickle=0.2)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["run"] = lua("""
                local a = Agent.builder():name("w"):model("openai/gpt-4o-mini"):build()
                local ok, err = pcall(a.invoke, a, {text = "hi"})
                return tostring(err)
            """, timeout=1.5)
        except Exception as exc:  # noqa: BLE001 - a script timeout is an acceptable end
            outcome["error"] = exc

    took, _, ended = bounded_call(run, 8)
    assert ended and took < 4, "the script's own time limit did not bound the request"


def test_a_dropped_connection_is_retried(fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(drop="headers")
    reply = ask("openai", "gpt-4o-mini", stream=False,
                providers={"openai": {"retry": {"initial_delay_ms": 1}}})
    assert reply.text.startswith("[stub gpt-4o-mini ")
    assert [e["fault"] for e in fake_llm.log()] == ["drop", None]


# -- 10. damaged cassettes ----------------------------------------------------------------------

GOOD = {"provider": "openai", "endpoint": "chat/completions", "method": "POST",
        "request": {"model": "m"}, "status": 200, "content_type": "application/json",
        "response": {"choices": []}}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DAMAGED = {
    "no-provider": ({"version": 1, "interactions": [GOOD, {k: v for k, v in GOOD.items()
                                                           if k != "provider"}]},
                    "interaction #2: 'provider' is missing"),
    "not-an-object": ({"version": 1, "interactions": [GOOD, "chat"]},
                      "interaction #2: expected an object, got a string"),
    "numeric-endpoint": ({"version": 1, "interactions": [{**GOOD, "endpoint": 7}]},
                         "interaction #1: 'endpoint' must be a string, got a number"),
    "bad-status": ({"version": 1, "interactions": [{**GOOD, "status": "ok"}]},
                   "interaction #1: 'status' must be an HTTP status code"),
    "interactions-not-a-list": ({"version": 1, "interactions": {"a": 1}},
                                "has no 'interactions' list"),
    "deep-nesting": ('{"version": 1, "interactions": [{"provider": "openai", "endpoint": "x",'
                     f' "request": {nested(100000)}}}]}}', "nested too deeply"),
    "deep-request": ({"version": 1, "interactions": [
        {**GOOD, "request": json.loads(nested(900))}]}, "interaction #1: 'request' is "
                                                          "nested too deeply"),
    "invalid-json": ('{"version": 1, "interactions": [', "is not valid JSON"),
    "not-utf8": (b'{"version": 1, "interactions": ["\xff\xfe"]}', "is not UTF-8"),
}


def write_cassette(path: Path, content: Any) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))


SCRIPT = """
local a = Agent.builder():name("w"):model("openai/gpt-4o-mini"):build()
return a:invoke({text = "hi"}).text
"""


def assert_one_clear_line(proc: Any, tape: Path, expected: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(tape) in lines[0] and expected in lines[0], lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_cassette_is_one_clear_line(cli, tmp_path: Path, case: str) -> None:
    content, expected = DAMAGED[case]
    tape = tmp_path / f"{case}.json"
    write_cassette(tape, content)
    (tmp_path / "s.lua").write_text(SCRIPT)
    assert_one_clear_line(cli("run", "--playback", str(tape), "s.lua"), tape, expected)


def test_a_damaged_cassette_from_the_environment(cli, tmp_path: Path) -> None:
    content, expected = DAMAGED["no-provider"]
    tape = tmp_path / "env.json"
    write_cassette(tape, content)
    (tmp_path / "s.lua").write_text(SCRIPT)
    proc = cli("run", "s.lua", env={"LLMSPELL_PLAYBACK": str(tape)})
    assert proc.returncode == 1 and str(tape) in proc.stderr and expected in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_folder_as_cassette(cli, tmp_path: Path) -> None:
    folder = tmp_path / "tapes"
    folder.mkdir()
    (tmp_path / "s.lua").write_text(SCRIPT)
    assert_one_clear_line(cli("run", "--playback", str(folder), "s.lua"), folder,
                          "is a directory")
    assert_one_clear_line(cli("run", "--record", str(folder), "s.lua"), folder,
                          "is a directory")
