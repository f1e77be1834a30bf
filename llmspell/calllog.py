"""The model-call log (``llmspell logs``): every chat completion and embedding request a
run makes through a provider, one row each, in ``<data dir>/logs.db`` (SQLite).

A row holds the provider, model, the call's new input (``prompt``: the last message
sent), the system prompt, the reply (or the error), token counts, duration, the script
and the run's id. Every text goes through the secret filter first, so no key is written.

On by default for ``llmspell run``/``exec``/``repl``; off with ``--no-log``,
``[logging] model_calls = false`` or ``llmspell logs off`` (a ``logs-off`` file in the
config folder, where scripts cannot write). Only the CLI starts a log (``begin_run``):
library use and tests that build a ``Runtime`` themselves log nothing.

Cost: the database opens on the first write of a run (one connection per run, WAL,
``synchronous = NORMAL``). A real model call's row is written when the call ends (a
fraction of a millisecond beside the call); rows of very fast calls are batched (see
``CallLog``). A failure to write turns the log off for the run with one warning; it
never fails the script. Scripts may not read the
file (``config.protected_paths``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths, secret_filter

if TYPE_CHECKING:
    import sqlite3

FILE_NAME = "logs.db"
OFF_MARKER = "logs-off"
SCHEMA_VERSION = 1
# Embedding inputs can be whole document sets: the log keeps this much of their text.
EMBED_TEXT_LIMIT = 4000

CREATE = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    datetime_utc TEXT NOT NULL,
    kind TEXT NOT NULL,
    provider TEXT,
    model TEXT,
    system TEXT,
    prompt TEXT,
    response TEXT,
    tool_calls TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    duration_ms REAL,
    error TEXT,
    script TEXT
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id);
CREATE INDEX IF NOT EXISTS calls_model ON calls (model);
"""
COLUMNS = ("run_id", "datetime_utc", "kind", "provider", "model", "system", "prompt",
           "response", "tool_calls", "prompt_tokens", "completion_tokens", "duration_ms",
           "error", "script")
INSERT = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def log_path(environ: Mapping[str, str] | None = None) -> Path:
    return paths.data_dir(environ) / FILE_NAME


def off_marker(environ: Mapping[str, str] | None = None) -> Path:
    return paths.config_dir(environ) / OFF_MARKER


def switched_off(environ: Mapping[str, str] | None = None) -> bool:
    """True after `llmspell logs off` (until `llmspell logs on`)."""
    return off_marker(environ).exists()


def protected_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The log database and its WAL companions (no script may read or replace them)."""
    db = log_path(environ)
    return [db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def new_run_id() -> str:
    """Sortable and short: ``20261204T213000-1a2b3c``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the log database for writing."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    # prompts and replies are the user's own: the file (and SQLite's -wal/-shm, which take
    # its mode) is private from the start
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=2.0, check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        conn.executescript(CREATE)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return conn


class CallLog:
    """The log of one run. A call that took SLOW_CALL_MS or more (any real model call) is
    written when it ends; faster ones (a local server, a cache) are kept in memory and
    written together, in one transaction, once FLUSH_SECONDS have passed since the last
    write, every FLUSH_ROWS calls and when the run ends. The database opens at the first
    write."""

    SLOW_CALL_MS = 25.0
    FLUSH_SECONDS = 1.0
    FLUSH_ROWS = 100

    def __init__(self, path: Path, run_id: str, script: str | None) -> None:
        self.path = path
        self.run_id = run_id
        self.script = script
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, ...]] = []
        self._flushed = time.monotonic()
        self._broken = False

    def write(self, row: dict[str, Any]) -> None:
        if self._broken:
            return
        row = {**row, "run_id": self.run_id, "script": self.script,
               "datetime_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}
        with self._lock:
            self._pending.append(tuple(row.get(c) for c in COLUMNS))
            if (row.get("duration_ms") or 0) >= self.SLOW_CALL_MS or \
                    len(self._pending) >= self.FLUSH_ROWS or \
                    time.monotonic() - self._flushed >= self.FLUSH_SECONDS:
                self._flush()

    def _flush(self) -> None:
        """Write the pending rows (the lock is held)."""
        self._flushed = time.monotonic()
        if not self._pending or self._broken:
            return  # a run without model calls never loads sqlite3
        import sqlite3

        rows, self._pending = self._pending, []
        try:
            if self._conn is None:
                self._conn = connect(self.path)
            with self._conn:
                self._conn.execute("BEGIN")
                self._conn.executemany(INSERT, rows)
        except (sqlite3.Error, OSError) as exc:
            self._broken = True
            sys.stderr.write(f"Warning: model-call log off for this run: cannot write "
                             f"{self.path}: {exc}\n")

    def close(self) -> None:
        """Write what is pending and close the database."""
        with self._lock:
            self._flush()
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_current: CallLog | None = None
_exit_hook = False


def begin_run(settings: Any, script: str | None, enabled: bool = True) -> CallLog | None:
    """Start the log for this process's run (the CLI calls it); None when logging is off
    (``--no-log``, ``[logging] model_calls = false`` or ``llmspell logs off``)."""
    global _current
    end_run()
    if not enabled or not settings.get("logging.model_calls") or switched_off():
        return None
    _current = CallLog(log_path(), new_run_id(), script)
    global _exit_hook
    if not _exit_hook:  # a run that ends by sys.exit still writes its last rows
        import atexit

        atexit.register(end_run)
        _exit_hook = True
    return _current


def end_run() -> None:
    global _current
    if _current is not None:
        _current.close()
    _current = None


def active() -> CallLog | None:
    return _current


# -- what the provider clients call (providers/checked.py) ------------------------------

def _text(content: Any) -> str:
    """A message's content as text (parts joined; images named, not copied)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(part.get("text") if isinstance(part, dict) else part)
                         for part in content)
    return str(content)


def _redact(text: str | None, values: tuple[str, ...]) -> str | None:
    return secret_filter.redact_text(text, values) if text else text


def record_chat(provider: str, request: Any, reply: Any, started: float,
                error: BaseException | None = None) -> None:
    """One chat completion (``request``: a ChatRequest; ``reply``: its ChatResponse)."""
    log = _current
    if log is None:
        return
    duration = (time.perf_counter() - started) * 1000
    messages = request.messages or []
    system = next((_text(m.get("content")) for m in messages if m.get("role") == "system"),
                  None)
    last = messages[-1] if messages else {}
    prompt = _text(last.get("content"))
    if last.get("images"):
        prompt += f"\n[{len(last['images'])} image(s)]"
    secrets = secret_filter.current_values()
    row: dict[str, Any] = {
        "kind": "chat", "provider": provider, "model": request.model,
        "system": _redact(system, secrets), "prompt": _redact(prompt, secrets),
        "duration_ms": duration,
    }
    if reply is not None:
        row["response"] = _redact(reply.text, secrets)
        if reply.tool_calls:
            row["tool_calls"] = _redact(json.dumps(reply.tool_calls, ensure_ascii=False,
                                                   default=str), secrets)
        row["prompt_tokens"] = reply.prompt_tokens
        row["completion_tokens"] = reply.completion_tokens
    if error is not None:
        row["error"] = _redact(f"{type(error).__name__}: {error}", secrets)
    log.write(row)


def record_embedding(provider: str, model: str | None, texts: list[str],
                     vectors: list[list[float]] | None, started: float,
                     error: BaseException | None = None) -> None:
    """One embedding request (its texts kept up to EMBED_TEXT_LIMIT characters)."""
    log = _current
    if log is None:
        return
    duration = (time.perf_counter() - started) * 1000
    joined = "\n---\n".join(t if isinstance(t, str) else str(t) for t in texts)
    if len(joined) > EMBED_TEXT_LIMIT:
        joined = joined[:EMBED_TEXT_LIMIT] + f"\n... ({len(joined)} characters in all)"
    secrets = secret_filter.current_values()
    row: dict[str, Any] = {
        "kind": "embedding", "provider": provider, "model": model,
        "prompt": _redact(f"[{len(texts)} text(s)]\n{joined}", secrets),
        "duration_ms": duration,
    }
    if vectors is not None:
        dims = len(vectors[0]) if vectors else 0
        row["response"] = f"{len(vectors)} vector(s) of {dims} dimensions"
    if error is not None:
        row["error"] = _redact(f"{type(error).__name__}: {error}", secrets)
    log.write(row)


# -- reading (llmspell logs) --------------------------------------------------------------

def read(path: Path, *, limit: int | None = 10, run_id: str | None = None,
         model: str | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` rows matching, oldest first; [] when there is no log.
    Raises ``sqlite3.Error`` for a damaged file."""
    import sqlite3

    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    try:
        conn.row_factory = sqlite3.Row
        where, args = [], []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if model:
            where.append("(model = ? OR provider || '/' || model = ?)")
            args += [model, model]
        sql = "SELECT * FROM calls" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id DESC"
        if limit is not None and limit > 0:
            sql += f" LIMIT {int(limit)}"
        rows = [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()
    rows.reverse()
    return rows


def count(path: Path) -> int:
    """How many calls the log holds (0 when there is none)."""
    import sqlite3

    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    try:
        return int(conn.execute("SELECT count(*) FROM calls").fetchone()[0])
    finally:
        conn.close()
