"""A config a script could have written (discovered in the current folder) must not
point the run's stores at a PostgreSQL server: on a developer machine a Unix socket with
trust authentication lets anyone of that user in, and the run would create its tables
there and write into them. The server comes only from the user's own config or
``LLMSPELL_POSTGRES_URL``."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmspell import config


def test_a_discovered_config_cannot_name_a_postgres_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llmspell.toml").write_text(
        '[runtime.state_persistence]\nbackend_type = "postgres"\n'
        '[storage.postgres]\nurl = "postgresql://postgres@/postgres?host=/var/run/postgresql"\n'
        'tenant_id = "victim"\n')
    settings = config.load(environ={"HOME": str(tmp_path / "home")})
    assert settings.get("storage.postgres.url") is None
    assert settings.get("storage.postgres.tenant_id") == "default"
    assert any("storage.postgres" in w for w in settings.warnings)


def test_the_users_own_config_may(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[storage.postgres]\nurl = "postgresql://me@db.internal/llmspell"\n')
    settings = config.load(path, environ={"HOME": str(tmp_path / "home")})
    assert settings.get("storage.postgres.url") == "postgresql://me@db.internal/llmspell"
