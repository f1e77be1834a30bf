"""Red team: a time limit that expires inside a blocking call ends the run.

Blocking calls (``file_watcher``, ``Event.receive``, ...) are clipped to the script's
deadline; when they returned there the script went on (``after`` printed) and the run
ended with status 0, as if no limit had been hit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tools_helpers import run_cli

CALLS = {
    "file_watcher": 'Tool.invoke("file_watcher", {operation = "watch", input = {WATCH}, '
                    "timeout_seconds = 300})",
    "event_receive": 'Event.receive(Event.subscribe("never.*"), 300000)',
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_deadline_reached_inside_a_blocking_call_ends_the_run(tmp_path: Path,
                                                                call: str) -> None:
    watch = tmp_path / "watched"
    watch.mkdir()
    script = f"""
        print("before")
        pcall(function() return {CALLS[call].replace("WATCH", '"' + str(watch) + '"')} end)
        print("after")
    """
    done = run_cli(script, tmp_path, "--timeout", "1", timeout=30)
    assert done.code == 1 and "timed out" in done.stderr, (done.code, done.stdout,
                                                           done.stderr)
    assert "after" not in done.stdout, done.stdout
