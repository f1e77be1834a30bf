"""The shared PostgreSQL backend (the ``postgres`` extra: psycopg 3 + psycopg-pool).

- ``database.py``: one connection pool per run, transactions that carry the tenant
  (``app.current_tenant_id``, read by the row-level-security policies), and the one
  translation of psycopg's errors into ours (naming the server, never its password).
- ``migrate.py``: the numbered SQL files in ``migrations/``, applied in order under an
  advisory lock; a database written by a newer llmspell is refused, never altered.
- ``state_store.py``: the State backend (``backend_type = "postgres"``).

Nothing here is imported unless a config names the postgres backend, so the embedded
defaults (memory, SQLite, hnswlib) neither load psycopg nor get slower.
"""

from __future__ import annotations

from typing import Any


def open_database(settings: Any, url: str | None = None) -> Any:
    """The run's server (``database.Database``; ``url``: that one instead of the
    configured one) with its schema brought up to date."""
    from .database import Database, postgres_config
    from .migrate import migrate

    db = Database(postgres_config(settings, url=url))
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
