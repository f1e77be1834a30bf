"""CLI side of the providers: --record/--playback cassettes, --usage, pretty output, debug
redaction, `llmspell providers` reachability, and the agent cookbook script offline."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakellm import FakeLLM as Stub

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
local a = Agent.builder():name("recorder"):model("openai/gpt-4o-mini"):build()
local r = a:invoke({text = "first question"})
print("one: " .. r.text:sub(1, 40))
local n = 0
a:invokeStream({text = "second question"}, function(c) n = n + 1 end)
print("chunks: " .. n)
local e = Agent.builder():name("embed"):model("ollama/llama3.1:8b"):build()
print("two: " .. e:invoke({text = "third"}).text:sub(1, 40))
return "done"
"""


def dead_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def offline_env() -> dict[str, str]:
    """No keys, and every base URL pointing at a closed port: the network cannot help."""
    url = dead_url()
    return {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "OPENAI_BASE_URL": url + "/v1",
            "ANTHROPIC_BASE_URL": url, "OLLAMA_HOST": url}


def test_record_then_playback_offline(cli, stub: Stub, tmp_path: Path) -> None:
    (tmp_path / "s.lua").write_text(SCRIPT)
    tape = tmp_path / "tape.json"
    recorded = cli("run", "--record", str(tape), "s.lua", env=stub.env())
    assert recorded.returncode == 0, recorded.stderr
    text = tape.read_text()
    data = json.loads(text)
    assert [i["endpoint"] for i in data["interactions"]] == ["chat/completions"] * 2 + [
        "api/chat"]
    assert stub.env()["OPENAI_API_KEY"] not in text
    assert "authorization" not in text.lower() and "bearer" not in text.lower()
    played = cli("run", "--playback", str(tape), "s.lua", env=offline_env())
    assert played.returncode == 0, played.stderr
    assert played.stdout == recorded.stdout
    assert "chunks: " in played.stdout and "chunks: 0" not in played.stdout
    by_env = cli("run", "s.lua", env={**offline_env(), "LLMSPELL_PLAYBACK": str(tape)})
    assert by_env.returncode == 0 and by_env.stdout == recorded.stdout


def test_playback_miss_fails_clearly(cli, stub: Stub, tmp_path: Path) -> None:
    (tmp_path / "s.lua").write_text(SCRIPT)
    tape = tmp_path / "tape.json"
    assert cli("run", "--record", str(tape), "s.lua", env=stub.env()).returncode == 0
    (tmp_path / "other.lua").write_text(SCRIPT.replace("first question", "a new question"))
    missed = cli("run", "--playback", str(tape), "other.lua", env=offline_env())
    assert missed.returncode == 1
    assert "has no recorded reply for POST chat/completions (model gpt-4o-mini)" in \
        missed.stderr
    absent = cli("run", "--playback", str(tmp_path / "nope.json"), "s.lua")
    assert absent.returncode == 1 and "playback cassette not found" in absent.stderr


def test_usage_pretty_and_json(cli, stub: Stub, tmp_path: Path) -> None:
    (tmp_path / "s.lua").write_text(SCRIPT)
    result = cli("run", "--usage", "s.lua", env=stub.env())
    assert result.returncode == 0
    match = re.search(r"Token usage: (\d+) tokens \(prompt (\d+), completion (\d+)\) in 3 "
                      r"provider requests", result.stderr)
    assert match and int(match[1]) == int(match[2]) + int(match[3]) > 0
    assert "openai/gpt-4o-mini" in result.stderr and "ollama/llama3.1:8b" in result.stderr
    assert "Token usage" not in result.stdout
    pretty = cli("--output", "pretty", "run", "s.lua", env=stub.env())
    lines = pretty.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Execution time:"))
    assert lines[at + 1].startswith("Token usage: ") and "in 3 provider requests" in lines[at + 1]
    as_json = cli("--output", "json", "run", "s.lua", env=stub.env())
    assert as_json.stdout.splitlines()[-1] == '"done"'


def test_debug_output_redacts_keys(cli, stub: Stub, tmp_path: Path) -> None:
    (tmp_path / "s.lua").write_text(SCRIPT)
    result = cli("--debug", "run", "s.lua", env=stub.env())
    assert result.returncode == 0
    assert "llmspell[debug] openai POST" in result.stderr
    assert stub.env()["OPENAI_API_KEY"] not in result.stderr + result.stdout
    assert "Bearer test***" in result.stderr


def test_providers_command_reports_reachability(cli, stub: Stub, tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(f"""
[providers.openai]
provider_type = "openai"
api_key_env = "OPENAI_API_KEY"
[providers.local]
provider_type = "ollama"
[providers.down]
provider_type = "ollama"
base_url = "{dead_url()}"
[providers.claude]
provider_type = "anthropic"
api_key_env = "NO_SUCH_KEY_VAR"
""")
    result = cli("-c", "p.toml", "--output", "json", "providers", env=stub.env())
    assert result.returncode == 1, result.stderr  # two configured ones do not answer
    assert "not answering: down, claude" in result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["openai"]["status"] == "reachable"
    assert rows["local"]["status"] == "reachable" and rows["local"]["endpoint"] == stub.url
    assert rows["down"]["status"].startswith("unreachable: cannot connect to")
    assert rows["claude"]["status"] == \
        "no key: set NO_SUCH_KEY_VAR or providers.claude.api_key"
    text = cli("-c", "p.toml", "providers", "--no-check", env=stub.env())
    assert "status=" not in text.stdout and "openai: type=openai" in text.stdout


def test_agent_cookbook_script_runs_offline_from_its_cassette(cli) -> None:
    result = cli("run", "--playback", str(ROOT / "cookbook/cassettes/agent_basics.json"),
                 str(ROOT / "cookbook/agent_basics.lua"), env=offline_env())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "model: gpt-4o-mini, tokens: " in out
    assert re.search(r"chunks received: (\d+) \(callback saw \1\)", out)
    assert "unknown provider caught: true" in out
    assert "lua_tutor, release_reviewer, release_writer" in out
    summary = json.loads(out.splitlines()[-1])
    assert summary == {"agents": 3, "error_caught": True, "pipeline": True, "replies": 4,
                       "stream_chunks": summary["stream_chunks"]}
    assert summary["stream_chunks"] >= 2
