"""`llmspell store copy` between SQLite files and a real PostgreSQL server, both ways,
through the CLI: what a script wrote is what a script reads after the move."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from stores import write_config

LUA = Path(__file__).parent / "lua"


def sqlite_config(tmp_path: Path, folder: Path) -> Path:
    path = tmp_path / f"sqlite-{folder.name}.toml"
    path.write_text(textwrap.dedent(f"""\
        [runtime.state_persistence]
        backend_type = "sqlite"
        path = "{folder / 'state.db'}"
        [runtime.sessions]
        enabled = true
        storage_backend = "sqlite"
        path = "{folder / 'sessions.db'}"
        [rag]
        enabled = true
        [rag.vector_storage]
        persistence_path = "{folder / 'rag'}"
        [rag.embedding]
        default_provider = "hashing"
        """))
    return path


def run_lua(cli: Any, config: Path, script: str) -> str:
    result = cli("-c", str(config), "run", str(LUA / script))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_copy_to_postgres_and_back(cli: Any, tmp_path: Path, postgres_url: str) -> None:
    local = tmp_path / "local"
    local.mkdir()
    run_lua(cli, sqlite_config(tmp_path, local), "store_fill.lua")
    expected = run_lua(cli, sqlite_config(tmp_path, local), "store_check.lua")
    assert expected.split()[:2] == ["hello", "42"]

    up = cli("--output", "json", "store", "copy", "--from", f"sqlite:{local}",
             "--to", f"postgres:{postgres_url}")
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["state"]["copied"] == 3 and report["sessions"]["artifacts"] == 2
    assert report["rag"]["copied"] == 2 and all(p["matches"] for p in report.values())
    pg = write_config(tmp_path, postgres_url)
    assert run_lua(cli, pg, "store_check.lua") == expected.replace("true\n", "true\n")

    again = cli("store", "copy", "--from", f"sqlite:{local}", "--to",
                f"postgres:{postgres_url}")
    assert again.returncode == 0, again.stderr
    assert "matches the source" in again.stdout

    back = tmp_path / "back"
    down = cli("store", "copy", "--from", f"postgres:{postgres_url}", "--to",
               f"sqlite:{back}")
    assert down.returncode == 0, down.stderr
    assert run_lua(cli, sqlite_config(tmp_path, back), "store_check.lua").split()[:7] == \
        expected.split()[:7]


def test_bad_endpoints_are_clear(cli: Any, tmp_path: Path) -> None:
    result = cli("store", "copy", "--from", "mysql:x", "--to", "sqlite:y")
    assert result.returncode == 1
    assert "sqlite:FOLDER or postgres:URL" in result.stderr and "Traceback" not in result.stderr
    missing = cli("store", "copy", "--from", f"sqlite:{tmp_path / 'nope'}", "--to",
                  f"sqlite:{tmp_path / 'dst'}")
    assert missing.returncode == 1 and "is not a folder" in missing.stderr


def test_progress_shows_on_a_terminal_only(tmp_path: Path, postgres_url: str) -> None:
    local = tmp_path / "local"
    local.mkdir()
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "llmspell", "store", "copy", "--only", "state",
           "--from", f"sqlite:{local}", "--to", f"postgres:{postgres_url}"]
    subprocess.run([sys.executable, "-m", "llmspell", "-c",
                    str(sqlite_config(tmp_path, local)), "run", str(LUA / "store_fill.lua")],
                   check=True, capture_output=True, env=env)
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and "copying" not in piped.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=follower, stdout=subprocess.PIPE, stderr=follower,
                            env={**env, "COLUMNS": "100"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    assert b"copying state" in seen
