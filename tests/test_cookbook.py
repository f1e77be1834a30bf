"""Every script in cookbook/ runs through the real CLI; our plain-Lua ones print known values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COOKBOOK = ROOT / "cookbook"

# Extra CLI arguments a script needs, e.g. {"rag_basics.lua": ["-c", "configs/rag-local.toml"]}.
# Global options (-c/--config, --debug, --output, -v) go before `run`, the rest (--rag,
# --timeout, ...) after it. Config paths are relative to the repository root; a script whose
# config file does not exist yet is skipped. Scripts not listed run with no extra arguments.
SCRIPT_ARGS: dict[str, list[str]] = {
    "file_io.lua": ["-c", "configs/local-files.toml"],
    "rag_basics.lua": ["-c", "configs/rag-local.toml"],
    "state_sessions.lua": ["-c", "configs/state-sqlite.toml"],
    "team_knowledge.lua": ["-c", "configs/postgres.toml"],
}

# Extra environment variables a script needs (e.g. a cassette path), by script name.
SCRIPT_ENV: dict[str, dict[str, str]] = {
    "agent_basics.lua": {"LLMSPELL_PLAYBACK": str(COOKBOOK / "cassettes" / "agent_basics.json")},
}

# Environment variables whose value is a fixture's (e.g. the test PostgreSQL server's URL).
SCRIPT_FIXTURE_ENV: dict[str, dict[str, str]] = {
    "team_knowledge.lua": {"LLMSPELL_POSTGRES_URL": "postgres_url"},
}

GLOBAL_OPTIONS = {"-c", "--config", "--debug", "--output", "-v", "--verbose"}
OPTIONS_WITH_VALUE = {"-c", "--config", "--output", "--timeout", "--rag-config", "--rag-dims",
                      "--rag-backend"}
PATH_OPTIONS = {"-c", "--config", "--rag-config"}


def build_command(script: Path, extra: list[str]) -> tuple[list[str], list[Path]]:
    """Split extra args around `run`; return the argv and the config files it needs."""
    before: list[str] = []
    after: list[str] = []
    needed: list[Path] = []
    i = 0
    while i < len(extra):
        option = extra[i]
        group = before if option in GLOBAL_OPTIONS else after
        group.append(option)
        if option in OPTIONS_WITH_VALUE and i + 1 < len(extra):
            value = extra[i + 1]
            if option in PATH_OPTIONS:
                path = Path(value) if Path(value).is_absolute() else ROOT / value
                needed.append(path)
                value = str(path)
            group.append(value)
            i += 1
        i += 1
    return [*before, "run", *after, str(script)], needed


def cookbook_scripts() -> list[str]:
    return sorted(p.name for p in COOKBOOK.glob("*.lua"))


def run_script(cli, name: str, *script_args: str, request=None):
    argv, needed = build_command(COOKBOOK / name, SCRIPT_ARGS.get(name, []))
    missing = [str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
               for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}, which does not exist yet")
    if script_args:
        argv += ["--", *script_args]
    env = dict(SCRIPT_ENV.get(name, {}))
    for var, fixture in SCRIPT_FIXTURE_ENV.get(name, {}).items():
        env[var] = request.getfixturevalue(fixture)
    return cli(*argv, env=env)


def returned(stdout: str):
    """The CLI prints the script's return value as compact JSON on the last line."""
    return json.loads(stdout.rstrip("\n").rsplit("\n", 1)[-1])


@pytest.mark.parametrize("name", cookbook_scripts())
def test_every_cookbook_script_runs(cli, name, request):
    proc = run_script(cli, name, request=request)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr}"
    assert "Error:" not in proc.stderr
    assert proc.stdout.strip(), f"{name} printed nothing"


# For our plain-Lua scripts: lines the script must print, and the table it returns.
EXPECTED: dict[str, tuple[list[str], dict]] = {
    "hello.lua": (
        ["Hello, world! This is llmspell running Lua 5.1.",
         'JSON.stringify: {"language":"lua","tags":["cookbook","hello"],"version":1}',
         "JSON.parse: language=lua, tags=2, second tag=hello"],
        {"greeted": "world", "json_bytes": 58},
    ),
    "caching.lua": (
        ["after set(d):         d a c  (evicted: b)",
         "t=+15s  quote:EUR -> nil (10 s TTL passed)",
         "sum of squares(100) = 338350",
         "loader calls: 5 of 9 requests, hit rate 44.4%"],
        {"hit_rate": 44.4, "loader_calls": 5, "lru_evicted": "b", "ttl_expired": 3},
    ),
    "rate_limiting.lua": (
        ["t=0.0  burst of 7: ok, ok, ok, ok, ok, wait 0.5s, wait 0.5s",
         "t=13.0  rejected (retry in 1.0s)",
         "sliding window accepted 6 of 9",
         "alice (premium) served 4, bob (free) served 2"],
        {"bucket_allowed": 7, "bucket_denied": 3, "window_accepted": 6, "premium_served": 4,
         "free_served": 2},
    ),
    "webhook_handling.lua": (
        ["tampered body   -> 401 bad signature",
         "replayed d-1    -> 200 duplicate ignored",
         "stale (1h old)  -> 401 stale timestamp",
         "t+3s out-1 attempt 3 -> 200"],
        {"accepted": 2, "rejected": 3, "duplicates": 1, "revenue": 4200, "delivered": 2,
         "dead_letters": 1},
    ),
    "performance_monitoring.lua": (
        ["count=40 mean=135.6ms p50=101ms p95=250ms p99=890ms max=890ms",
         "both produce 13893 characters: true",
         "ALERT: error rate 7.5% exceeds 5.0%"],
        {"p50_ms": 101, "p95_ms": 250, "p99_ms": 890, "alerts": 2, "timed_runs": 10},
    ),
    "security_patterns.lua": (
        ["html:  &lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; thanks",
         "../../etc/passwd       -> blocked (escapes the base folder)",
         "key=sk-**** card 4111-****-****-1234 password: ****",
         "c0rrect-H0rse-battery  score 6/6 excellent"],
        {"valid_inputs": 1, "blocked_paths": 2, "redactions": 3, "strongest_score": 6},
    ),
    "state_management.lua": (
        ["v4 (rollback to v2): model=small temperature=0.7 users=0",
         "bad budget          -> rolled back: budget must not be negative",
         "events=5 balance=400 (replayed 2 events after the snapshot)",
         'log as JSON: {"amount":500,"kind":"deposited","seq":2}'],
        {"versions": 5, "users": 2, "balance": 400, "balance_at_3": 380, "events": 5},
    ),
}


def test_our_scripts_exist():
    assert set(EXPECTED) <= set(cookbook_scripts())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cookbook_script_output(cli, name):
    lines, value = EXPECTED[name]
    proc = run_script(cli, name)
    assert proc.returncode == 0, proc.stderr
    assert "Error:" not in proc.stderr
    printed = proc.stdout.splitlines()
    for line in lines:
        assert any(line in p for p in printed), f"{name}: missing {line!r}"
    assert returned(proc.stdout) == value


def test_hello_shows_script_arguments(cli):
    proc = run_script(cli, "hello.lua", "Ada", "extra", "--greeting", "Hi", "--loud")
    assert proc.returncode == 0, proc.stderr
    assert "Hi, Ada! This is llmspell" in proc.stdout
    assert "script: hello.lua" in proc.stdout
    assert "positional args: Ada, extra" in proc.stdout
    assert "named args: greeting=Hi, loud=true" in proc.stdout
    assert returned(proc.stdout) == {"greeted": "Ada", "json_bytes": 58}


def test_build_command_places_options():
    argv, needed = build_command(COOKBOOK / "x.lua",
                                 ["-c", "configs/none.toml", "--rag", "--timeout", "5"])
    assert argv == ["-c", str(ROOT / "configs/none.toml"), "run", "--rag", "--timeout", "5",
                    str(COOKBOOK / "x.lua")]
    assert needed == [ROOT / "configs/none.toml"]


def test_missing_config_is_skipped_with_reason(cli, monkeypatch):
    monkeypatch.setitem(SCRIPT_ARGS, "hello.lua", ["-c", "configs/not-written-yet.toml"])
    with pytest.raises(pytest.skip.Exception, match="needs configs/not-written-yet.toml"):
        run_script(cli, "hello.lua")


def test_file_io_uses_the_sandboxed_io(cli):
    proc = run_script(cli, "file_io.lua")
    assert "wrote and read back 3 lines from a temp file" in proc.stdout
    assert "reading /etc/passwd allowed: false" in proc.stdout
    assert returned(proc.stdout) == {"file_access": True, "lines": 3}
