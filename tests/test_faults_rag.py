"""The persisted RAG store under faults, with real processes, files and a full disk.

- a graph file with flipped bytes (header or body) is detected by its checksum and
  rebuilt from SQLite, saying so once; searches neither crash nor go wrong;
- ``save`` on a full disk raises and keeps the previous graph file;
- four processes ingesting into one ``persistence_path`` at once all succeed and lose
  nothing;
- a store on a read-only mount is refused with its path and the reason.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from faults_support import fill, remount_read_only, tmpfs
from lua_text import lua_fmt

from llmspell.rag.store import Record, StoreError, VectorStore, check_index_file

DOCS = 300


def _config(tmp_path: Path, store: Path) -> Path:
    cfg = tmp_path / "rag.toml"
    cfg.write_text("[rag]\nenabled = true\n[rag.embedding]\ndefault_provider = \"hashing\"\n"
                   f"[rag.vector_storage]\ndimensions = 64\npersistence_path = \"{store}\"\n")
    return cfg


def _run(cfg: Path, code: str, *args: str, tmp_path: Path
         ) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"s{abs(hash(code))}.lua"
    script.write_text(code)
    return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                           str(script), "--", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


INGEST = lua_fmt("""
local docs = {}
for i = 1, ${DOCS} do
  docs[#docs + 1] = {id = "d" .. i,
                     content = "record " .. i .. " zebra" .. i .. " quartz" .. (i * 7)}
end
RAG.ingest(docs)
RAG.save()
""", DOCS=DOCS)

FIND_ALL = lua_fmt("""
local found = 0
for i = 1, ${DOCS} do
  local r = RAG.search("record " .. i .. " zebra" .. i .. " quartz" .. (i * 7), {k = 1})
  if r.results[1] and r.results[1].id == "d" .. i then found = found + 1 end
end
print("found " .. found)
""", DOCS=DOCS)


def _index_file(store: Path) -> Path:
    (file,) = (store / "indexes").glob("*.hnsw")
    return file


@pytest.mark.parametrize("where", ["header", "body"])
def test_flipped_bytes_are_detected_and_rebuilt(tmp_path: Path, where: str) -> None:
    store = tmp_path / "store"
    cfg = _config(tmp_path, store)
    made = _run(cfg, INGEST, tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    file = _index_file(store)
    data = bytearray(file.read_bytes())
    at = 48 if where == "header" else len(data) // 2  # 48: maxlevel (a segfault before)
    data[at:at + 8] = bytes(b ^ 0xFF for b in data[at:at + 8])
    file.write_bytes(bytes(data))

    first = _run(cfg, FIND_ALL, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"found {DOCS}" in first.stdout
    assert first.stderr.count("is damaged") == 1, first.stderr
    assert str(file) in first.stderr
    # the rebuilt graph was saved at the end of that run: the next run says nothing
    again = _run(cfg, FIND_ALL, tmp_path=tmp_path)
    assert again.returncode == 0 and f"found {DOCS}" in again.stdout
    assert "damaged" not in again.stderr


def _vectors(n: int, dims: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _records(n: int, start: int = 0) -> list[Record]:
    return [Record(f"r{i}", f"r{i}", f"text {i}") for i in range(start, start + n)]


def test_a_graph_saved_before_checksums_is_still_checked(tmp_path: Path) -> None:
    """No recorded checksum (an older store): a structurally broken file is rebuilt."""
    store = VectorStore(16, path=tmp_path)
    store.add("ns", _records(200), _vectors(200, 16, 1))
    store.close()
    file = _index_file(tmp_path)
    assert check_index_file(file, 16) is None
    with sqlite3.connect(tmp_path / "rag.sqlite3") as db:
        db.execute("DELETE FROM index_files")
    data = bytearray(file.read_bytes())
    data[200:208] = b"\xff" * 8  # inside the first element's neighbour list
    file.write_bytes(bytes(data))
    assert check_index_file(file, 16) is not None
    warnings: list[str] = []
    again = VectorStore(16, path=tmp_path, warn=warnings.append)
    hits = again.search("ns", _vectors(200, 16, 1)[42], k=1)
    assert hits[0].id == "r42"
    assert len(warnings) == 1 and "damaged" in warnings[0]
    again.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk") as disk:
        yield disk


def test_save_on_a_full_disk_raises_and_keeps_the_old_graph(small_disk: Path) -> None:
    store = VectorStore(32, path=small_disk / "rag")
    store.add("ns", _records(300), _vectors(300, 32, 2))
    store.save()
    file = _index_file(small_disk / "rag")
    before = file.read_bytes()
    store.add("ns", _records(300, 300), _vectors(300, 32, 3))  # rows reach SQLite
    filler = fill(small_disk)
    with pytest.raises(StoreError, match="previous index file is kept"):
        store.save()
    assert file.read_bytes() == before
    assert [p.name for p in file.parent.iterdir() if p.name.endswith(".tmp")] == []
    filler.unlink()
    store.close()
    reopened = VectorStore(32, path=small_disk / "rag")
    assert reopened.count("ns") == 600
    assert reopened.search("ns", _vectors(300, 32, 3)[7], k=1)[0].id == "r307"
    reopened.close()


def test_four_processes_share_one_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    cfg = _config(tmp_path, store)
    code = """
local me = ARGS[1]
for batch = 1, 10 do
  local docs = {}
  for j = 1, 5 do
    local n = (batch - 1) * 5 + j
    local text = "writer " .. me .. " note " .. n .. " kiwi" .. me .. n
    docs[j] = {id = me .. "-" .. n, content = text}
  end
  RAG.ingest(docs)
end
RAG.save()
"""
    script = tmp_path / "writer.lua"
    script.write_text(code)
    procs = [subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                               str(script), "--", f"w{i}"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    results = [(p, *p.communicate(timeout=180)) for p in procs]
    for p, _out, err in results:
        assert p.returncode == 0, err
    check = _run(cfg, """
local found = 0
for w = 0, 3 do
  for n = 1, 50 do
    local me = "w" .. w
    local r = RAG.search("writer " .. me .. " note " .. n .. " kiwi" .. me .. n, {k = 1})
    if r.results[1] and r.results[1].id == me .. "-" .. n then found = found + 1 end
  end
end
print("found " .. found .. " of " .. RAG.get_stats().total_vectors)
""", tmp_path=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "found 200 of 200" in check.stdout


def test_a_store_on_a_read_only_mount_names_its_path(small_disk: Path, tmp_path: Path
                                                    ) -> None:
    store = small_disk / "rag"
    cfg = _config(tmp_path, store)
    made = _run(cfg, "RAG.ingest({content = 'hello'})", tmp_path=tmp_path)
    assert made.returncode == 0, made.stderr
    remount_read_only(small_disk)
    script = "local a = 1\nlocal r = RAG.search('hello')\n"
    done = _run(cfg, script, tmp_path=tmp_path)
    assert done.returncode == 1
    assert str(store / "rag.sqlite3") in done.stderr
    assert "read-only" in done.stderr
    assert ":2:" in done.stderr and "llmspell:" not in done.stderr.split("\n")[0]


def test_a_full_disk_at_exit_is_reported_and_loses_nothing(small_disk: Path,
                                                           tmp_path: Path) -> None:
    store = small_disk / "rag"
    cfg = _config(tmp_path, store)
    script = tmp_path / "ingest.lua"
    script.write_text(INGEST.replace("RAG.save()", "print('ingested')\nio.read()"))
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                             str(script)], cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ingested"
    filler = fill(small_disk)
    out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    assert "cannot save the index" in err and "rebuilt" in err, err
    assert "Traceback" not in err
    filler.unlink()
    found = _run(cfg, FIND_ALL, tmp_path=tmp_path)
    assert found.returncode == 0, found.stderr
    assert f"found {DOCS}" in found.stdout


def test_a_save_killed_before_the_replace_is_not_damage(tmp_path: Path) -> None:
    """Killed after recording the new checksum, before the rename: the old file still
    matches (the previous checksum is kept), and nothing ingested is lost."""
    store = tmp_path / "store"
    cfg = _config(tmp_path, store)
    first = _run(cfg, INGEST.replace(f"for i = 1, {DOCS}", "for i = 1, 100"), tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    script = tmp_path / "more.lua"
    script.write_text(INGEST)
    env = {**os.environ, "LLMSPELL_FAULT_POINT": "rag.save.before_replace"}
    killed = subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                             str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    found = _run(cfg, FIND_ALL, tmp_path=tmp_path)
    assert found.returncode == 0, found.stderr
    assert f"found {DOCS}" in found.stdout
    assert "damaged" not in found.stderr
