"""`llmspell init` on a full disk: one clear line, and no empty or half-written file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from faults_support import fill, tmpfs


def _init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmspell", "init", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_init_on_a_full_disk_fails_clearly_and_leaves_no_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        fill(disk)
        done = _init(disk, "-o", "llmspell.toml")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "cannot write llmspell.toml" in done.stderr
        assert not (disk / "llmspell.toml").exists()
        assert [p.name for p in disk.iterdir()] == ["filler"]  # no temp file left behind


def test_init_on_a_full_disk_keeps_the_old_file_with_force(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        (disk / "llmspell.toml").write_text("# mine\n")
        fill(disk)
        done = _init(disk, "-o", "llmspell.toml", "--force")
        assert done.returncode == 1, done.stdout + done.stderr
        assert (disk / "llmspell.toml").read_text() == "# mine\n"


def test_init_writes_the_file(tmp_path: Path) -> None:
    done = _init(tmp_path, "-o", "c.toml")
    assert done.returncode == 0, done.stderr
    assert "[runtime" in (tmp_path / "c.toml").read_text()
