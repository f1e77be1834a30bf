"""Fresh State stores of each backend for tests parametrised over them (postgres: a new
database on the session's test server, see ``pgserver.py``)."""

from __future__ import annotations

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
