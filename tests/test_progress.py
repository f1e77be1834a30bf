"""Progress of long work: bars on a terminal (never in a pipe), and a RAG ingest that
stops at the run's deadline between batches with what it stored kept and said."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llmspell import config as config_mod
from llmspell import progress
from llmspell.rag.embeddings import minilm
from llmspell.rag.service import IngestStopped, RagService

MINILM = minilm.available()
# steps are sized to a real model's pace; the hashing embedder finishes in one step
NEEDS_MINILM = pytest.mark.skipif(not MINILM, reason="extra 'minilm' not installed")

INGEST = """
local docs = {}
for i = 1, tonumber(ARGS[1]) do
  docs[#docs + 1] = {id = "d" .. i, content = string.rep("note " .. i ..
    " the harbour master logs the tides and the ships that come in ", tonumber(ARGS[2]))}
end
local r = RAG.ingest(docs)
print("stored", r.documents_processed, r.vectors_created)
"""
COUNT = 'local s = RAG.get_stats() print("count", s.total_documents, s.total_vectors)'


def _config(tmp_path: Path, *, local: bool) -> Path:
    provider, dims = ("local", 384) if local else ("hashing", 64)
    cfg = tmp_path / "rag.toml"
    cfg.write_text(f"""
[rag]
enabled = true
[rag.embedding]
default_provider = "{provider}"
[rag.vector_storage]
dimensions = {dims}
persistence_path = "{tmp_path / 'store'}"
""")
    return cfg


def _env() -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", OPENAI_API_KEY="")
    env.pop("NO_COLOR", None)
    return env


def _run_on_pty(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; (status, all output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, cwd=cwd, env=_env(), close_fds=True)
    os.close(slave)
    seen = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), seen.decode("utf-8", "replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ingest_progress_on_a_terminal(tmp_path: Path) -> None:
    script = tmp_path / "ingest.lua"
    script.write_text(INGEST)
    status, out = _run_on_pty(["-c", str(_config(tmp_path, local=False)), "run", str(script),
                               "--", "40", "30"], tmp_path)
    assert status == 0, out
    assert "stored\t40" in out
    assert "\x1b[" in out  # drawn and cleared with terminal control codes
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert re.search(r"RAG\.ingest: chunking .* \d+/40 documents", text), text
    assert re.search(r"RAG\.ingest: embedding .* \d+/40 chunks", text), text


def test_no_progress_in_a_pipe(tmp_path: Path) -> None:
    script = tmp_path / "ingest.lua"
    script.write_text(INGEST)
    proc = subprocess.run([sys.executable, "-m", "llmspell", "-c",
                           str(_config(tmp_path, local=False)), "run", str(script), "--",
                           "40", "30"], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "stored\t40\t80" or proc.stdout.startswith("stored\t40")
    assert "RAG.ingest" not in proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout
    assert proc.stderr == ""


@pytest.mark.skipif(not MINILM, reason="extra 'minilm' not installed")
def test_model_load_shown_on_a_terminal(tmp_path: Path) -> None:
    status, out = _run_on_pty(["-c", str(_config(tmp_path, local=True)), "exec",
                               "RAG.ingest({content = 'a harbour'}) print('ok')"], tmp_path)
    assert status == 0, out
    assert f"Loading {minilm.NAME}" in out


@NEEDS_MINILM
def test_timeout_stops_ingest_between_batches_and_keeps_what_was_stored(
        tmp_path: Path) -> None:
    """A long ingest under --timeout ends with a message saying how much was stored (not
    with the watchdog's 'stuck in one long library call'), and a second run finds it."""
    cfg = _config(tmp_path, local=MINILM)
    script = tmp_path / "ingest.lua"
    script.write_text(INGEST)
    count, reps = ("600", "12") if MINILM else ("20000", "40")
    run = subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                          "--timeout", "6", str(script), "--", count, reps], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "stuck in one long library call" not in run.stderr
    assert "script timed out after 6000 ms" in run.stderr
    found = re.search(r"RAG\.ingest stopped while embedding \(the time limit passed\): "
                      rf"(\d+) of {count} documents \((\d+) chunks\) were stored in 'global' "
                      "and are kept", run.stderr)
    assert found, run.stderr
    docs, chunks = int(found[1]), int(found[2])
    assert 0 < docs < int(count) and chunks >= docs
    again = subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "exec", COUNT],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\n")[0].split("\t") == ["count", str(docs), str(chunks)]


# -- the service without Lua ----------------------------------------------------------


def _service(stop_after: int | None) -> tuple[RagService, list[str]]:
    settings = config_mod.from_dict({"rag": {
        "enabled": True, "embedding": {"default_provider": "hashing", "batch_size": 4},
        "vector_storage": {"dimensions": 32},
        "chunking": {"chunk_size": 16, "overlap": 0, "min_chunk_size": 1}}}, environ={})
    calls = {"n": 0}

    def stop() -> str | None:
        calls["n"] += 1
        return "the time limit passed" if stop_after is not None and \
            calls["n"] > stop_after else None

    notes: list[str] = []
    return RagService(settings, notes.append, stop_reason=stop), notes


def _docs(n: int, words: int) -> list[dict[str, Any]]:
    return [{"id": f"d{i}", "content": " ".join(f"w{i}x{j}" for j in range(words))}
            for i in range(n)]


@NEEDS_MINILM
def test_ingest_in_steps_stores_whole_documents() -> None:
    svc, notes = _service(None)
    out = svc.ingest(_docs(10, 50))  # several chunks per document, steps cut across them
    assert out["documents_processed"] == 10 and out["vectors_created"] > 20
    assert svc.store.count("global") == out["vectors_created"]
    hits = svc.search("w3x10", k=1)["results"]
    assert hits[0]["doc_id"] == "d3"
    assert notes == []


@NEEDS_MINILM
def test_stop_between_steps_keeps_whole_documents_only() -> None:
    svc, notes = _service(stop_after=10 + 6)  # past the chunking checks, then 6 steps
    with pytest.raises(IngestStopped, match=r"the time limit passed\): (\d+) of 10 docu"):
        svc.ingest(_docs(10, 50))
    rows = svc.store.db.execute(
        "SELECT doc_id, COUNT(*) FROM vectors GROUP BY doc_id").fetchall()
    stored = {doc: n for doc, n in rows}
    assert 0 < len(stored) < 10
    svc.stop_reason = lambda: None
    full, _n, _b = svc._chunk_all([(f"d{i}", d["content"], {}) for i, d in
                                   enumerate(_docs(10, 50))], svc._chunk_config(None), None)
    for i, records in enumerate(full):  # every stored document has all its chunks
        if f"d{i}" in stored:
            assert stored[f"d{i}"] == len(records)
    assert len(notes) == 1 and f"{len(stored)} of 10 documents" in notes[0]


def test_stop_while_chunking_stores_nothing() -> None:
    svc, notes = _service(stop_after=0)
    with pytest.raises(IngestStopped, match="while chunking .*nothing was stored"):
        svc.ingest(_docs(3, 10))
    assert svc.store.count("global") == 0


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def start(self, description: str, total: int | None, unit: str) -> progress.Task:
        self.events.append(("start", (description, total, unit)))
        recorder = self

        class T:
            def advance(self, amount: int = 1) -> None:
                recorder.events.append(("advance", amount))

            def update(self, *, description: str | None = None,
                       total: int | None = None) -> None:
                pass

        return T()

    def finish(self, task: progress.Task) -> None:
        self.events.append(("finish", None))


def test_services_report_through_the_installed_reporter() -> None:
    recorder = _Recorder()
    previous = progress.install(recorder)
    try:
        svc, _ = _service(None)
        out = svc.ingest(_docs(5, 40))
    finally:
        progress.install(previous)
    starts = [e[1] for e in recorder.events if e[0] == "start"]
    assert ("RAG.ingest: chunking", 5, "documents") in starts
    assert ("RAG.ingest: embedding", out["vectors_created"], "chunks") in starts
    advanced = sum(a for kind, a in recorder.events if kind == "advance")
    assert advanced == 5 + out["vectors_created"]
    assert sum(1 for e in recorder.events if e[0] == "finish") == len(starts)


def test_backup_progress_on_a_terminal_not_in_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "llmspell.toml").write_text(
        "[runtime.state_persistence]\n"
        'backend_type = "sqlite"\n'
        f'path = "{tmp_path / "state.db"}"\n'
        "[runtime.state_persistence.backup]\n"
        f'backup_dir = "{tmp_path / "backups"}"\n')
    status, out = _run_on_pty(["exec", 'State.set("a", 1) State.set("b", 2)'], tmp_path)
    assert status == 0, out
    status, out = _run_on_pty(["backup", "create"], tmp_path)
    assert status == 0, out
    assert "Backup: " in out and "Created" in out
    piped = subprocess.run([sys.executable, "-m", "llmspell", "backup", "create"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True,
                           timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "Backup: " not in piped.stdout + piped.stderr


def test_ctrl_c_stops_ingest_and_keeps_what_was_stored(tmp_path: Path) -> None:
    import signal
    import sqlite3

    cfg = _config(tmp_path, local=MINILM)
    script = tmp_path / "ingest.lua"
    script.write_text(INGEST)
    count = "600" if MINILM else "40000"
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(cfg), "run",
                             str(script), "--", count, "12"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "store" / "rag.sqlite3"
    try:
        end = time.monotonic() + 60
        stored = 0
        while time.monotonic() < end and proc.poll() is None and stored == 0:
            time.sleep(0.2)
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as conn:
                        stored = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
                except sqlite3.Error:
                    pass
        assert stored > 0 and proc.poll() is None, "the ingest ended before it was stopped"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    found = re.search(r"RAG\.ingest stopped while embedding \(interrupted\): (\d+) of "
                      rf"{count} documents \((\d+) chunks\) were stored", err)
    assert found, err
    again = subprocess.run([sys.executable, "-m", "llmspell", "-c", str(cfg), "exec", COUNT],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    _label, docs, chunks = again.stdout.split("\n")[0].split("\t")
    assert int(docs) >= int(found[1]) > 0 and int(chunks) >= int(found[2])


def test_semantic_chunking_embeds_in_stoppable_steps() -> None:
    svc, notes = _service(stop_after=3)  # the document check, 2 of its 3 steps
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
    with pytest.raises(IngestStopped, match="while chunking .*nothing was stored"):
        svc.ingest([{"id": "long", "content": text}], chunking={"strategy": "semantic"})
    assert svc.store.count("global") == 0 and len(notes) == 1
    whole, _ = _service(None)
    out = whole.ingest([{"id": "long", "content": text}], chunking={"strategy": "semantic"})
    assert out["vectors_created"] >= 1


def test_steps_start_at_one_chunk_and_at_most_double() -> None:
    from llmspell.rag.embeddings.hashing import HashingEmbedder

    class Recording(HashingEmbedder):
        def __init__(self) -> None:
            super().__init__(32)
            self.calls: list[int] = []

        def embed(self, texts: list[str]) -> Any:
            self.calls.append(len(texts))
            return super().embed(texts)

    inner = Recording()
    settings = config_mod.from_dict({"rag": {"enabled": True,
                                             "vector_storage": {"dimensions": 32}}},
                                    environ={})
    svc = RagService(settings, embedder=inner)
    docs = [{"id": f"d{i}", "content": f"short note {i}"} for i in range(3000)]
    svc.ingest(docs)
    assert inner.calls[0] == 1 and sum(inner.calls) == 3000
    assert all(b <= 2 * a for a, b in zip(inner.calls, inner.calls[1:], strict=False))
    assert max(inner.calls) <= 1024
    inner.calls.clear()
    again = [{"id": f"n{i}", "content": f"another note {i}"} for i in range(3)]
    svc.ingest(docs[:2000] + again)  # 2000 cache hits, then 3 new texts
    assert sum(inner.calls) == 3 and max(inner.calls) <= 2  # hits did not grow the steps
