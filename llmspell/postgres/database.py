"""One PostgreSQL connection pool per run, and the one border where psycopg's errors
become ours.

Work runs on pooled connections that carry the run's tenant (``app.current_tenant_id``,
set once per connection: the pool belongs to one run, the run to one tenant), which the
row-level-security policies of every table read: ``Database.run`` for single statements
(autocommit, one round trip, repeated once on a dead connection) and
``Database.transaction`` for several statements that must commit together. A bug in
our SQL that forgets a ``WHERE tenant_id = ...`` therefore still sees only the tenant's
rows, provided the server role is not a superuser and has no BYPASSRLS (see
``docs/postgres.md``).

Where the server is: ``LLMSPELL_POSTGRES_URL`` (upstream's variable) wins over
``[storage.postgres] url``. Errors name the server as ``user@host:port/db``; the password
never appears in a message (it is also registered with the secret filter, so a script
cannot print it).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from .. import secret_filter
from ..errors import LLMSpellError

T = TypeVar("T")
URL_ENV = "LLMSPELL_POSTGRES_URL"
# Every statement of ours also names the tenant itself: row-level security does not bind
# superusers or BYPASSRLS roles, and a server run for one team often uses one. Without the
# setting, current_setting() raises instead of matching nothing silently.
MINE = "tenant_id = current_setting('app.current_tenant_id')"
INSTALL_HINT = 'the postgres backend needs the postgres extra: pip install "llmspell[postgres]"'


class DatabaseError(LLMSpellError):
    """The PostgreSQL server could not be reached or refused a statement. The message
    names the server (without its password) and psycopg's reason."""


@dataclass(frozen=True)
class PostgresConfig:
    """Where the server is and how the pool behaves (``[storage.postgres]``)."""

    url: str
    pool_size: int = 4
    connect_timeout_seconds: float = 5.0
    statement_timeout_ms: int = 30_000
    tenant_id: str = "default"

    @property
    def server(self) -> str:
        """``postgresql://user@host:port/db`` for messages: never the password."""
        return describe_url(self.url)


def describe_url(url: str) -> str:
    """A PostgreSQL URL shown without its password (``user@host:port/db``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparsable URL)"
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    user = f"{unquote(parts.username)}@" if parts.username else ""
    db = parts.path.lstrip("/") or "postgres"
    socket = unquote(query.get("host", ""))
    if not parts.hostname and socket.startswith("/"):
        return f"postgresql://{user}/{db}?host={socket}"
    host = parts.hostname or socket or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}/{db}"


def postgres_config(settings: Any, environ: Any = None, url: str | None = None
                    ) -> PostgresConfig:
    """The run's PostgreSQL settings (``url`` given: that server instead of the
    configured one); a clear error when no server is named."""
    env = os.environ if environ is None else environ
    url = url or env.get(URL_ENV) or settings.get("storage.postgres.url")
    if not url:
        raise DatabaseError(
            f"no PostgreSQL server: set {URL_ENV} or [storage.postgres] url "
            "(e.g. postgresql://llmspell@localhost:5432/llmspell)")
    password = urlsplit(url).password
    if password:
        secret_filter.register(unquote(password))
    return PostgresConfig(
        url=url,
        pool_size=int(settings.get("storage.postgres.pool_size") or 4),
        connect_timeout_seconds=float(settings.get("storage.postgres.connect_timeout_seconds")
                                      or 5.0),
        statement_timeout_ms=int(settings.get("storage.postgres.statement_timeout_ms") or 0),
        tenant_id=str(settings.get("storage.postgres.tenant_id") or "default"),
    )


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise DatabaseError(INSTALL_HINT) from exc
    return psycopg


class Database:
    """A pool of connections to one server for one run (opened on first use)."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._pool: Any = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def server(self) -> str:
        return self.config.server

    def fail(self, action: str, exc: BaseException,
             error: type[LLMSpellError] = DatabaseError) -> LLMSpellError:
        """The one translation of a psycopg error: names the server and the action."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = secret_filter.redact_text(reason)
        psycopg = _psycopg()
        if isinstance(exc, psycopg.errors.QueryCanceled):
            what = (f"PostgreSQL server {self.server}: the statement took too long "
                    "([storage.postgres] statement_timeout_ms)")
        elif isinstance(exc, psycopg.OperationalError) or type(exc).__name__ == "PoolTimeout":
            what = f"PostgreSQL server {self.server} is not reachable"
        else:
            what = f"PostgreSQL server {self.server}"
        return error(f"{action}: {what}: {reason}")

    def _open(self) -> Any:
        if self._pool is not None:
            return self._pool
        with self._lock:
            if self._closed:
                raise DatabaseError(f"the connection to {self.server} is closed")
            if self._pool is None:
                self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> Any:
        psycopg = _psycopg()
        try:
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise DatabaseError(INSTALL_HINT) from exc
        cfg = self.config
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, int(cfg.connect_timeout_seconds)),
            "application_name": "llmspell", "autocommit": True,
        }
        if cfg.statement_timeout_ms:
            kwargs["options"] = f"-c statement_timeout={int(cfg.statement_timeout_ms)}"
        # the pool's background workers log every failed reconnect; the failure that
        # matters reaches the caller as one DatabaseError instead
        logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
        pool = ConnectionPool(cfg.url, min_size=1, max_size=max(1, cfg.pool_size),
                              kwargs=kwargs, configure=self._configure,
                              timeout=cfg.connect_timeout_seconds, open=False,
                              name="llmspell")
        try:
            pool.open(wait=True, timeout=cfg.connect_timeout_seconds)
        except Exception as exc:  # PoolTimeout: the first connection never came
            pool.close(timeout=0)
            reason = exc
            try:  # one direct attempt, for psycopg's own reason (bad password, no such db)
                psycopg.connect(cfg.url, **kwargs).close()
            except psycopg.Error as direct:
                reason = direct
            raise self.fail("connect", reason) from None
        return pool

    def _configure(self, conn: Any) -> None:
        """Every new connection of the pool: the run's tenant, for the session. The pool
        belongs to one run, and a run to one tenant, so this equals setting it in every
        transaction and saves a round trip per statement."""
        conn.execute("SELECT set_config('app.current_tenant_id', %s, false)",
                     (self.config.tenant_id,))

    @contextmanager
    def _border(self, action: str, error: type[LLMSpellError]) -> Iterator[None]:
        """The one border: a psycopg error (or the pool giving up) leaves as ``error``
        naming the server and ``action``."""
        psycopg = _psycopg()
        try:
            yield
        except psycopg.Error as exc:
            raise self.fail(action, exc, error) from None
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise self.fail(action, exc, error) from None
            raise

    @contextmanager
    def transaction(self, action: str = "query",
                    error: type[LLMSpellError] = DatabaseError) -> Iterator[Any]:
        """A connection inside one transaction (checked alive first: a server restart
        leaves dead connections in the pool)."""
        pool = self._open()
        with self._border(action, error), pool.connection() as conn:
            pool.check_connection(conn)
            with conn.transaction():
                yield conn

    def run(self, action: str, work: Callable[[Any], T],
            error: type[LLMSpellError] = DatabaseError) -> T:
        """``work(conn)`` on a pooled connection outside any transaction block (each
        statement commits alone: one round trip). ``work`` must be safe to repeat: it is
        run again once on a fresh connection when the first one turns out dead."""
        psycopg = _psycopg()
        pool = self._open()
        with self._border(action, error):
            with pool.connection() as conn:
                try:
                    return work(conn)
                except psycopg.OperationalError:
                    if not conn.broken:
                        raise
            with pool.connection() as conn:  # the dead one was dropped: once more
                return work(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=5)


class ServerStore:
    """What every store on the server shares: its ``Database`` (closed with the store
    only when the store opened it alone) and the server's name for messages."""

    path = None

    def __init__(self, db: Database, owns_db: bool = False) -> None:
        self.db = db
        self.owns_db = owns_db

    @property
    def server(self) -> str:
        return self.db.server

    def close(self) -> None:
        if self.owns_db:
            self.db.close()
