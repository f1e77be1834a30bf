"""Odd config values beyond the integer ranges: wrong enum strings, paths that name a
folder where a file belongs (or the reverse), empty paths, lists of the wrong items,
a provider's base_url and retry table. `llmspell validate` refuses each with one line
naming the file and the key (before, `validate` said "valid" and the run failed later
with an internal error, a raw Python message, or silently did something else)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    ('[runtime.state_persistence]\nbackend_type = "mongodb"\n',
     "runtime.state_persistence.backend_type"),
    ('[runtime.sessions]\nstorage_backend = "redis"\n', "runtime.sessions.storage_backend"),
    ('[runtime]\nlog_level = "loud"\n', "runtime.log_level"),
    ('[debug]\nlevel = 5\n', "debug.level"),
    ('[rag.vector_storage]\nbackend = "qdrant"\n', "rag.vector_storage.backend"),
    ('default_engine = "cobol"\n', "default_engine"),
    ('[runtime]\nmodule_paths = ["lib", 5]\n', "runtime.module_paths"),
    ('[runtime.state_persistence]\nbackend_type = "sqlite"\npath = "a_folder"\n',
     "runtime.state_persistence.path"),
    ('[runtime.sessions]\nstorage_backend = "sqlite"\npath = ""\n', "runtime.sessions.path"),
    ('[runtime.state_persistence]\npath = ""\n', "runtime.state_persistence.path"),
    ('[rag.vector_storage]\npersistence_path = "a_file"\n',
     "rag.vector_storage.persistence_path"),
    ('[rag.vector_storage]\npersistence_path = ""\n', "rag.vector_storage.persistence_path"),
    ('[runtime.state_persistence.backup]\nbackup_dir = "a_file"\n',
     "runtime.state_persistence.backup.backup_dir"),
    ('[events.export]\nfile = "a_folder"\n', "events.export.file"),
    ('[providers.openai]\nbase_url = "not a url"\n', "providers.openai.base_url"),
    ('[providers.openai.retry]\ninitial_delay_ms = -100\n',
     "providers.openai.retry.initial_delay_ms"),
    ('[providers.openai.retry]\nbackoff_multiplier = "x"\n',
     "providers.openai.retry.backoff_multiplier"),
    ('[providers.openai.retry]\nbackoff_multiplier = 1e300\n',
     "providers.openai.retry.backoff_multiplier"),
    ('[providers.openai.retry]\nmax_total_ms = nan\n', "providers.openai.retry.max_total_ms"),
]


@pytest.mark.parametrize("toml,key", CASES, ids=[key for _, key in CASES])
def test_validate_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "c.toml").write_text(toml)
    for command in (["validate"], ["exec", "print('ran')"]):
        done = subprocess.run([sys.executable, "-m", "llmspell", "-c", "c.toml", *command],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        line = done.stderr.strip().splitlines()[0]
        assert line.startswith("Error: ") and "c.toml" in line and key in line, line
        assert "Traceback" not in done.stderr and "ran" not in done.stdout


ODD_TOML = {
    "deep arrays": "[debug]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    "deep inline tables": "[providers.openai]\nrate_limit = " + "{a=" * 900 + "1"
                          + "}" * 900 + "\n",
}


@pytest.mark.parametrize("name", sorted(ODD_TOML))
def test_toml_nested_too_deeply_is_one_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "c.toml").write_text(ODD_TOML[name])
    done = subprocess.run([sys.executable, "-m", "llmspell", "-c", "c.toml", "validate"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: c.toml: invalid TOML: arrays or tables nested " \
                                  "too deeply", done.stderr[-500:]


def test_a_huge_bad_value_is_refused_promptly_and_shortened(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[runtime]\nlog_level = "' + "x" * 2_000_000 + '"\n')
    done = subprocess.run([sys.executable, "-m", "llmspell", "-c", "c.toml", "validate"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "runtime.log_level = 'xxx" in done.stderr and len(done.stderr) < 500


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "LLMSPELL_STATE_BACKEND": "mongodb"}
    done = subprocess.run([sys.executable, "-m", "llmspell", "exec", "print('ran')"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and "ran" not in done.stdout
    assert done.stderr.startswith("Error: environment variable LLMSPELL_STATE_BACKEND: "
                                  "runtime.state_persistence.backend_type = 'mongodb'"), \
        done.stderr
