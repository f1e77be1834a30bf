"""docs/cli.md is what `make docs` renders from the commands' own --help (CI runs this)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llmspell.cli import reference

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_the_cli_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == reference.render(), \
        "docs/cli.md is out of date: run `make docs`"


def test_the_page_holds_what_help_prints(tmp_path, isolated_home):
    for path in (["run"], ["tools", "invoke"]):
        proc = subprocess.run([sys.executable, Path(sys.executable).parent / "llmspell",
                               *path, "--help"], capture_output=True, text=True,
                              cwd=tmp_path, env={**os.environ, "COLUMNS": "80"}, timeout=60)
        assert proc.returncode == 0
        block = f"### `llmspell {' '.join(path)}`\n\n```text\n{proc.stdout.rstrip()}\n```\n"
        assert block in PAGE.read_text(encoding="utf-8"), proc.stdout


def test_check_mode_spots_a_stale_page(tmp_path):
    stale = tmp_path / "cli.md"
    stale.write_text(PAGE.read_text(encoding="utf-8").replace("--stream", "--strem"))
    check = [sys.executable, "-m", "llmspell.cli.reference", "--check"]
    assert subprocess.run([*check, str(PAGE)], capture_output=True).returncode == 0
    done = subprocess.run([*check, str(stale)], capture_output=True, text=True)
    assert done.returncode == 1 and "make docs" in done.stderr
