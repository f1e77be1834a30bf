"""`llmspell tools invoke` calls a tool from the shell: it must hold the same sandbox as a
script's `Tool.invoke` (paths, processes, secrets), widened only by the user's config."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

# a file outside the default roots (the temp dir): the checkout's pyproject.toml, unless
# the checkout itself lies under the temp dir (then it is inside the default roots)
_CHECKOUT = Path(__file__).resolve().parents[2] / "pyproject.toml"
OUTSIDE = (_CHECKOUT if not _CHECKOUT.is_relative_to(Path(tempfile.gettempdir()).resolve())
           else None)


@pytest.mark.skipif(OUTSIDE is None, reason="the checkout is under the temp dir, which the "
                    "file tools may read by default")
def test_a_file_outside_the_allowed_paths_is_refused(cli):
    proc = cli("tools", "invoke", "file_operations",
               "--json", json.dumps({"operation": "read", "path": str(OUTSIDE)}))
    assert proc.returncode == 1
    assert "[project]" not in proc.stdout + proc.stderr
    assert "outside the allowed paths" in proc.stderr


def test_the_users_config_decides_the_folders(cli, tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    for folder, words in ((data, "granted words"), (other, "other words")):
        folder.mkdir()
        (folder / "f.txt").write_text(words)
    (tmp_path / "grant.toml").write_text(
        f'[tools.file_operations]\nallowed_paths = ["{data}"]\n')

    def read(path: Path) -> object:
        return cli("-c", "grant.toml", "tools", "invoke", "file_operations",
                   "-p", "operation=read", "-p", f"path={path}")

    granted = read(data / "f.txt")
    assert granted.returncode == 0, granted.stderr
    assert "granted words" in granted.stdout
    refused = read(other / "f.txt")
    assert refused.returncode == 1
    assert "other words" not in refused.stdout + refused.stderr


def test_processes_stay_off_unless_the_config_allows(cli):
    proc = cli("tools", "invoke", "process_executor", "--json",
               json.dumps({"executable": "id"}))
    assert proc.returncode == 1
    assert "process execution is off" in proc.stderr
    assert "uid=" not in proc.stdout


def test_secret_variables_are_not_shown(cli):
    key = "sk-cli-invoke-secret-0123456789"
    proc = cli("tools", "invoke", "environment_reader", "-p", "operation=get",
               "-p", "variable_name=OPENAI_API_KEY", env={"OPENAI_API_KEY": key})
    listed = cli("tools", "invoke", "environment_reader", "-p", "operation=list",
                 env={"OPENAI_API_KEY": key})
    for done in (proc, listed):
        assert key not in done.stdout + done.stderr


def test_deep_json_is_a_clear_error_not_a_crash(cli):
    deep = "[" * 5000 + "]" * 5000
    proc = cli("tools", "invoke", "json_processor", "--json",
               json.dumps({"operation": "query", "query": ".", "input": "x"})[:-1]
               + f', "extra": {deep}}}')
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(("Error:", "Usage:"))
