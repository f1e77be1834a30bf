"""The model-call log through the real CLI: every agent and embedding call of a run in
<data dir>/logs.db, read back with `llmspell logs`; `--no-log`, `[logging] model_calls`
and `logs off/on` turn it off and on. Runs against the project's fake LLM server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakellm import FakeLLM

ASK = """
local a = Agent.builder():model(ARGS.model or "openai/gpt-4o-mini")
  :system_prompt("Answer in one line."):build()
print(a:invoke({text = ARGS[1] or "what is a haiku?"}).text)
"""


@pytest.fixture
def ask(tmp_path: Path) -> Path:
    (tmp_path / "ask.lua").write_text(ASK)
    return tmp_path / "ask.lua"


def log_db(home: Path) -> Path:
    return home / "xdg_data_home" / "llmspell" / "logs.db"


def rows(cli, *args: str) -> list[dict]:
    done = cli("logs", "--json", "-n", "0", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_agent_call_is_logged_with_what_was_asked_and_answered(
        cli, fake_llm: FakeLLM, ask: Path, isolated_home: Path) -> None:
    done = cli("run", "ask.lua", "--", "name a colour")
    assert done.returncode == 0, done.stderr
    [row] = rows(cli)
    assert row["kind"] == "chat" and row["provider"] == "openai"
    assert row["model"] == "gpt-4o-mini"
    assert row["prompt"] == "name a colour" and row["system"] == "Answer in one line."
    assert row["response"] == done.stdout.splitlines()[0]
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["duration_ms"] > 0 and row["error"] is None
    assert row["script"] == str(ask) and row["run_id"] and row["datetime_utc"].startswith("20")
    assert cli("logs", "path").stdout.strip() == str(log_db(isolated_home))
    text = cli("logs").stdout
    assert "## Prompt" in text and "name a colour" in text and row["run_id"] in text


def test_filters_by_run_model_and_count(cli, fake_llm: FakeLLM, ask: Path) -> None:
    assert cli("run", "ask.lua", "--", "one").returncode == 0
    assert cli("run", "ask.lua", "--", "two", "--model", "anthropic/claude-x").returncode == 0
    assert cli("exec", 'return Agent.builder():model("ollama/llama3"):build()'
                       ':invoke({text = "three"}).text').returncode == 0
    everything = rows(cli)
    assert [r["prompt"] for r in everything] == ["one", "two", "three"]
    assert len({r["run_id"] for r in everything}) == 3
    assert [r["prompt"] for r in rows(cli, "--run", everything[1]["run_id"])] == ["two"]
    assert [r["prompt"] for r in rows(cli, "--model", "claude-x")] == ["two"]
    assert [r["prompt"] for r in rows(cli, "--model", "ollama/llama3")] == ["three"]
    assert everything[2]["script"] == "exec"
    newest = json.loads(cli("logs", "--json", "-n", "2").stdout)
    assert [r["prompt"] for r in newest] == ["two", "three"]


def test_a_failed_call_is_logged_with_its_error(cli, fake_llm: FakeLLM, ask: Path) -> None:
    fake_llm.enqueue(status=400, message="context too long")
    done = cli("run", "ask.lua", "--", "too much")
    assert done.returncode == 1
    [row] = rows(cli)
    assert row["prompt"] == "too much" and row["response"] is None
    assert "context too long" in row["error"]


def test_embedding_calls_are_logged(cli, fake_llm: FakeLLM, tmp_path: Path) -> None:
    (tmp_path / "rag.toml").write_text(
        '[rag]\nenabled = true\n[rag.vector_storage]\ndimensions = 64\n'
        '[rag.embedding]\ndefault_provider = "openai"\n')
    done = cli("-c", "rag.toml", "exec",
               'RAG.ingest({{content = "lighthouses warn ships"}, {content = "bees"}})\n'
               'return RAG.search("ships", {limit = 1}).total')
    assert done.returncode == 0, done.stderr
    logged = rows(cli)
    assert logged and all(r["kind"] == "embedding" for r in logged)
    assert logged[0]["provider"] == "openai" and logged[0]["model"] == "text-embedding-3-small"
    assert "lighthouses warn ships" in logged[0]["prompt"]
    assert "vector(s) of 64 dimensions" in logged[0]["response"]


def test_no_log_flag_config_switch_and_logs_off_turn_it_off(
        cli, fake_llm: FakeLLM, ask: Path, tmp_path: Path, isolated_home: Path) -> None:
    assert cli("--no-log", "run", "ask.lua").returncode == 0
    (tmp_path / "quiet.toml").write_text("[logging]\nmodel_calls = false\n")
    assert cli("-c", "quiet.toml", "run", "ask.lua").returncode == 0
    assert not log_db(isolated_home).exists()
    assert cli("logs", "off").returncode == 0
    assert "OFF" in cli("logs", "status").stdout
    assert cli("run", "ask.lua").returncode == 0
    assert not log_db(isolated_home).exists()
    assert cli("logs", "on").returncode == 0
    assert cli("run", "ask.lua").returncode == 0
    assert len(rows(cli)) == 1
    status = cli("logs", "status").stdout
    assert "ON" in status and "Number of calls logged: 1" in status


def test_logs_with_no_database_yet(cli, isolated_home: Path) -> None:
    done = cli("logs")
    assert done.returncode == 0 and "No model calls logged yet" in done.stderr
    assert json.loads(cli("logs", "--json").stdout) == []
    assert not log_db(isolated_home).exists()


def test_a_library_runtime_logs_nothing(lua, fake_llm: FakeLLM, isolated_home: Path) -> None:
    """Only the CLI starts a log: tests and embedders never write the user's data dir."""
    lua('return Agent.builder():model("openai/gpt-4o-mini"):build():invoke({text = "x"})')
    assert not log_db(isolated_home).exists()


def test_a_slow_call_is_written_at_once_and_fast_ones_by_the_runs_end(
        isolated_home: Path) -> None:
    import time

    from llmspell import calllog, config
    from llmspell.providers.base import ChatRequest, ChatResponse

    settings = config.from_dict({}, environ={})
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    reply = ChatResponse(text="hello", model="m")
    log = calllog.begin_run(settings, "unit")
    assert log is not None
    try:
        calllog.record_chat("openai", request, reply, time.perf_counter())  # a fast call
        assert calllog.count(log.path) == 0  # kept for the next write
        slow_start = time.perf_counter() - calllog.CallLog.SLOW_CALL_MS / 1000
        calllog.record_chat("openai", request, reply, slow_start)
        assert calllog.count(log.path) == 2  # written when it ended, with the fast one
        calllog.record_chat("openai", request, reply, time.perf_counter())
    finally:
        calllog.end_run()
    assert calllog.count(log.path) == 3
    assert calllog.begin_run(settings, "unit", enabled=False) is None


def test_a_log_that_cannot_be_written_warns_once_and_the_run_goes_on(
        cli, fake_llm: FakeLLM, ask: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the data dir would have to be inside a file
    done = cli("run", "ask.lua", env={"XDG_DATA_HOME": str(blocker)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[stub gpt-4o-mini")
    assert done.stderr.count("model-call log off for this run") == 1
    assert "Traceback" not in done.stderr
