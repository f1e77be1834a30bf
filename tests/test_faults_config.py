"""Extreme config values are refused by `llmspell validate` and before `run`, with one
line naming the file, the key and the allowed range (no abort, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    ("[runtime.security]\nmax_memory_bytes = 1000\n", "runtime.security.max_memory_bytes"),
    ("[runtime.security]\nmax_memory_bytes = 100000\n", "runtime.security.max_memory_bytes"),
    ("[runtime.sessions]\nenabled = true\nsession_timeout_seconds = 9223372036854775807\n",
     "runtime.sessions.session_timeout_seconds"),
    ("[rag]\nenabled = true\n[rag.vector_storage.hnsw]\nm = -3\n",
     "rag.vector_storage.hnsw.m"),
    ("[rag]\nenabled = true\n[rag.vector_storage]\ndimensions = 100000000000\n",
     "rag.vector_storage.dimensions"),
    ("[rag.vector_storage.hnsw]\nef_search = 0\n", "rag.vector_storage.hnsw.ef_search"),
    ("[rag.vector_storage.hnsw]\nseed = -1\n", "rag.vector_storage.hnsw.seed"),
    ("[runtime]\nmax_concurrent_scripts = -5\n", "runtime.max_concurrent_scripts"),
    ("[providers.local]\nprovider_type = \"ollama\"\ntimeout_seconds = -1\n",
     "providers.local.timeout_seconds"),
    ("[runtime.state_persistence.backup]\ncompression_level = 42\n",
     "runtime.state_persistence.backup.compression_level"),
    ("[runtime.state_persistence.backup]\nmax_backups = -1\n",
     "runtime.state_persistence.backup.max_backups"),
]

SCRIPT = """
Session.create({name = 'x'})
RAG.ingest({content = 'hello'})
print('ran')
"""


def _llmspell(*args: str, cwd: Path, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmspell", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env=env or os.environ.copy())


def _clean_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "PANIC" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("text", "key"), CASES)
def test_out_of_range_values_are_refused(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "extreme.toml"
    cfg.write_text(text)
    (tmp_path / "s.lua").write_text(SCRIPT)
    _clean_error(_llmspell("validate", "-c", str(cfg), cwd=tmp_path),
                 str(cfg), key, "allowed")
    _clean_error(_llmspell("-c", str(cfg), "run", "s.lua", cwd=tmp_path),
                 str(cfg), key, "allowed")


def test_an_environment_override_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "LLMSPELL_MAX_MEMORY_BYTES": "1000"}
    _clean_error(_llmspell("validate", cwd=tmp_path, env=env),
                 "LLMSPELL_MAX_MEMORY_BYTES", "runtime.security.max_memory_bytes", "allowed")


def test_a_byte_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "binary.toml"
    cfg.write_bytes(b'[runtime]\nlog_level = "info\xff"\n')
    _clean_error(_llmspell("validate", "-c", str(cfg), cwd=tmp_path), str(cfg), "UTF-8")


@pytest.mark.parametrize(("text", "key"), [
    ("[rag.vector_storage.hnsw]\nmetric = \"manhattan\"\n", "rag.vector_storage.hnsw.metric"),
    ("[rag.chunking]\nstrategy = \"paragraphs\"\n", "rag.chunking.strategy"),
    ("[runtime.state_persistence.backup]\ncompression_level = \"max\"\n",
     "runtime.state_persistence.backup.compression_level"),
])
def test_unknown_choices_and_backup_types_are_refused(tmp_path: Path, text: str,
                                                      key: str) -> None:
    cfg = tmp_path / "choice.toml"
    cfg.write_text(text)
    _clean_error(_llmspell("validate", "-c", str(cfg), cwd=tmp_path), str(cfg), key)


def test_a_wrong_type_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "typed.toml"
    cfg.write_text("[rag.vector_storage.hnsw]\nm = \"sixteen\"\n")
    _clean_error(_llmspell("validate", "-c", str(cfg), cwd=tmp_path),
                 str(cfg), "rag.vector_storage.hnsw.m", "expected an integer")


def test_limits_at_the_edges_still_work(tmp_path: Path) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text("[runtime.security]\nmax_memory_bytes = 4_000_000\n"
                   "[runtime.sessions]\nenabled = true\nsession_timeout_seconds = 3_153_600_000\n"
                   "[rag]\nenabled = true\n[rag.embedding]\ndefault_provider = \"hashing\"\n"
                   "[rag.vector_storage]\ndimensions = 32\n[rag.vector_storage.hnsw]\nm = 2\n")
    (tmp_path / "s.lua").write_text(SCRIPT)
    done = _llmspell("-c", str(cfg), "run", "s.lua", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ran" in done.stdout
