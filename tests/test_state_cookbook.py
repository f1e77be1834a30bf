"""cookbook/state_sessions.lua on the durable backend: the second run sees the first's data."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "cookbook" / "state_sessions.lua"
CONFIG = ROOT / "configs" / "state-sqlite.toml"


def run(cli) -> tuple[dict, str]:
    proc = cli("-c", str(CONFIG), "run", str(SCRIPT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]), proc.stdout


def test_second_run_sees_the_first(cli, tmp_path: Path) -> None:
    first, out1 = run(cli)
    assert first["run"] == 1 and first["notes"] == 1 and first["backups"] == 1
    assert first["first_note"] == "Notes written by run 1"
    assert "no preferences yet" in out1 and "created session cookbook-chat" in out1
    assert "identical content gives one hash: true" in out1
    assert "storing a function fails: true" in out1

    second, out2 = run(cli)
    assert second["run"] == 2
    assert second["session_id"] == first["session_id"]
    assert second["notes"] == 2 and second["backups"] == 2
    assert second["first_note"] == "Notes written by run 1"
    assert "preferences saved by an earlier run: theme=dark, languages=lua,python" in out2
    assert "found the session from an earlier run: cookbook-chat (suspended)" in out2
    assert "agent summariser has been called 2 time(s)" in out2
    assert "created an incremental backup" in out2

    data = tmp_path / "llmspell-data"  # the config's relative paths, from the cwd
    for name in ("state.db", "sessions.db"):
        conn = sqlite3.connect(data / name)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    conn = sqlite3.connect(data / "sessions.db")
    status = conn.execute("SELECT status FROM sessions WHERE id = ?",
                          (first["session_id"],)).fetchone()[0]
    conn.close()
    assert status == "suspended"
    assert len(list((data / "backups").iterdir())) == 2
