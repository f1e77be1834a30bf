"""Damaged database files (real files, real processes): a truncated, emptied or garbled
state, sessions or RAG database gets one clear line naming the file and what to do,
never a silent empty store, never a bare "database disk image is malformed"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """[runtime.state_persistence]
backend_type = "sqlite"
path = "{d}/state.db"
[runtime.sessions]
enabled = true
storage_backend = "sqlite"
path = "{d}/sessions.db"
[rag]
enabled = true
[rag.vector_storage]
dimensions = 64
persistence_path = "{d}/rag"
[rag.embedding]
default_provider = "hashing"
"""

FILL = """
for i = 1, 200 do State.save('global', 'k' .. i, string.rep('v', 200) .. i) end
local s = Session.create({name = 'x'})
for i = 1, 40 do Artifact.store(s, 'tool_result', 'a' .. i .. '.txt', string.rep('c', 300) .. i) end
Session.save(s)
for i = 1, 60 do RAG.ingest({content = 'document number ' .. i .. ' about topic ' .. (i % 7)}) end
RAG.save()
"""


def run(d: Path, code: str) -> subprocess.CompletedProcess[str]:
    (d / "s.lua").write_text(code)
    return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(d / "c.toml"), "run",
                           str(d / "s.lua")], cwd=d, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("filled")
    (d / "c.toml").write_text(CONFIG.format(d=d))
    done = run(d, FILL)
    assert done.returncode == 0, done.stderr
    return d


def copy_of(filled: Path, tmp_path: Path) -> Path:
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(filled, d)
    (d / "c.toml").write_text(CONFIG.format(d=d))
    for wal in list(d.rglob("*-wal")) + list(d.rglob("*-shm")):
        wal.unlink()
    return d


def first_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr.splitlines()[0]


@pytest.mark.parametrize("name,code", [
    ("state.db", "print(State.load('global', 'k7'))"),
    ("sessions.db", "print(#Session.list())"),
])
def test_an_emptied_database_is_refused_not_read_as_empty(filled: Path, tmp_path: Path,
                                                          name: str, code: str) -> None:
    d = copy_of(filled, tmp_path)
    (d / name).write_bytes(b"")
    line = first_error(run(d, code))
    assert str(d / name) in line and "empty (0 bytes)" in line, line
    assert (d / name).stat().st_size == 0  # never written to


def test_a_new_database_is_made_whole_and_leaves_no_temp_files(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(CONFIG.format(d=tmp_path))
    procs = [subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(tmp_path / "c.toml"),
                               "exec", f"State.save('global', 'p{i}', {i}) "
                               "Session.create({name = 'n'})"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    outcomes = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in outcomes), outcomes
    done = run(tmp_path, "local n = 0 for i = 0, 3 do n = n + State.load('global', 'p' .. i) "
                         "end print(n, #Session.list())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["6", "4"], done.stdout
    assert not list(tmp_path.glob(".*.init-*")), list(tmp_path.iterdir())


def garble_tail(path: Path, pages: int = 2) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-4096 * pages] + b"\x5a" * (4096 * pages))


@pytest.mark.parametrize("name,code", [
    ("state.db", "for i = 1, 200 do State.load('global', 'k' .. i) end"),
    ("sessions.db", "local s = Session.list()[1].id for _, a in ipairs(Artifact.list(s)) do "
                    "Artifact.get(s, a.id) end"),
])
def test_a_damaged_page_says_the_file_is_damaged_and_what_to_do(filled: Path, tmp_path: Path,
                                                                name: str, code: str) -> None:
    d = copy_of(filled, tmp_path)
    garble_tail(d / name)
    line = first_error(run(d, code))
    assert name in line and "malformed" in line, line
    assert "damaged" in line and "restore it" in line, line


def test_a_garbled_rag_database_is_named_at_open(filled: Path, tmp_path: Path) -> None:
    d = copy_of(filled, tmp_path)
    db = d / "rag" / "rag.sqlite3"
    data = db.read_bytes()
    db.write_bytes(data[:4096] + b"\xa5" * 4096 + data[8192:])
    line = first_error(run(d, "print(#RAG.search('document number 5', {k = 3}))"))
    assert str(db) in line and "damaged" in line, line


def test_a_garbled_rag_page_is_named_at_search(filled: Path, tmp_path: Path) -> None:
    d = copy_of(filled, tmp_path)
    garble_tail(d / "rag" / "rag.sqlite3", pages=4)
    line = first_error(run(d, "for i = 1, 60 do RAG.search('document number ' .. i, "
                              "{k = 60}) end"))
    assert "s.lua:1: RAG.search: " in line, line
    assert str(d / "rag" / "rag.sqlite3") in line and "damaged" in line, line


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_rag_rows_lost_beside_their_indexes_are_refused(filled: Path, tmp_path: Path,
                                                        how: str) -> None:
    d = copy_of(filled, tmp_path)
    db = d / "rag" / "rag.sqlite3"
    if how == "emptied":
        db.write_bytes(b"")
    else:
        db.unlink()
    indexes = sorted((d / "rag" / "indexes").glob("*.hnsw"))
    before = [f.read_bytes() for f in indexes]
    line = first_error(run(d, "print(#RAG.search('document number 5', {k = 3}))"))
    assert str(db) in line and "holds indexes" in line, line
    assert [f.read_bytes() for f in indexes] == before  # the indexes are not emptied


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_new_store_on_a_full_or_read_only_disk_is_a_clear_error(tmp_path: Path,
                                                                  fault: str) -> None:
    from faults_support import fill, remount_read_only, tmpfs

    with tmpfs(tmp_path / "disk") as disk:
        if fault == "full":
            fill(disk)
        else:
            remount_read_only(disk)
        (tmp_path / "c.toml").write_text(CONFIG.format(d=disk))
        for code, name in (("State.save('global', 'a', 1)", "state.db"),
                           ("Session.create({name = 'x'})", "sessions.db")):
            line = first_error(run(tmp_path, code))
            assert f"{disk / name}: cannot create database" in line, line
            assert ("is full" if fault == "full" else "read-only file system") in line, line
            assert "Errno" not in line
        assert sorted(p.name for p in disk.iterdir()) == (["filler"] if fault == "full"
                                                          else [])
