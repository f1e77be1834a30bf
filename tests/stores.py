"""Fresh State stores of each backend for tests parametrised over them (postgres: a new
database on the session's test server, see ``pgserver.py``)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmspell import config as config_mod
from llmspell.state.sqlite_store import SQLiteStore
from llmspell.state.store import MemoryStore


def postgres_settings(url: str, **extra: Any) -> config_mod.Settings:
    return config_mod.from_dict({"storage": {"postgres": {"url": url, **extra}}}, environ={})


def open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "state.db")
    from llmspell.postgres import open_database
    from llmspell.postgres.state_store import PostgresStateStore

    url = request.getfixturevalue("postgres_url")
    return PostgresStateStore(open_database(postgres_settings(url)), owns_db=True)


def open_session_store(kind: str, request: pytest.FixtureRequest | None, tmp_path: Path,
                       **options: Any) -> Any:
    from llmspell.sessions.store import SessionStore

    if kind == "memory":
        return SessionStore(":memory:", **options)
    if kind == "sqlite":
        return SessionStore(tmp_path / "sessions.db", **options)
    from llmspell.postgres import open_database
    from llmspell.postgres.session_store import PostgresSessionStore

    assert request is not None, "postgres stores need the test's request"
    url = request.getfixturevalue("postgres_url")
    return PostgresSessionStore(open_database(postgres_settings(url)), owns_db=True)


def write_config(tmp_path: Path, url: str, tenant: str = "default") -> Path:
    """A config putting State, Sessions and RAG (hashing embedder) on the server."""
    path = tmp_path / "pg.toml"
    path.write_text(textwrap.dedent(f"""\
        [runtime.state_persistence]
        backend_type = "postgres"
        [runtime.sessions]
        enabled = true
        storage_backend = "postgres"
        max_sessions = 1000
        [rag]
        enabled = true
        [rag.vector_storage]
        backend = "postgres"
        [rag.embedding]
        default_provider = "hashing"
        [storage.postgres]
        url = "{url}"
        tenant_id = "{tenant}"
        """))
    return path
