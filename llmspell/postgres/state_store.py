"""The State backend on a shared PostgreSQL server (``backend_type = "postgres"``).

The same small interface as the memory and SQLite stores (``state/store.py``): JSON texts
under full keys. Rows belong to the run's tenant (``[storage.postgres] tenant_id``); the
table's row-level-security policy keeps every statement inside it. Each call is one
transaction, so a write is durable on the server when the call returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import StateError
from ..state.store import prefix_bounds, utf8_text
from .database import MINE, ServerStore

T = TypeVar("T")


class PostgresStateStore(ServerStore):
    backend = "postgres"

    def _tx(self, action: str) -> Any:
        return self.db.transaction(f"state {action}", StateError)

    def _run(self, action: str, work: Callable[[Any], T]) -> T:
        return self.db.run(f"state {action}", work, StateError)

    def get(self, key: str) -> str | None:
        row = self._run("read", lambda c: c.execute(
            f"SELECT value::text FROM llmspell_state WHERE {MINE} AND key = %s", (key,),
            prepare=True).fetchone())
        return None if row is None else row[0]

    def put(self, key: str, text: str) -> None:
        value = utf8_text(text)
        self._run("write", lambda c: c.execute(
            "INSERT INTO llmspell_state (key, value) VALUES (%s, %s) "
            "ON CONFLICT (tenant_id, key) DO UPDATE "
            "SET value = excluded.value, updated_at = now()", (key, value), prepare=True))

    def delete(self, key: str) -> bool:
        gone = self._run("delete", lambda c: c.execute(
            f"DELETE FROM llmspell_state WHERE {MINE} AND key = %s", (key,),
            prepare=True).rowcount)
        return gone > 0

    def keys(self, prefix: str = "") -> list[str]:
        low, high = prefix_bounds(prefix)
        sql = f"SELECT key FROM llmspell_state WHERE {MINE} AND key >= %s"
        params: tuple[str, ...] = (low,)
        if high is not None:
            sql += " AND key < %s"
            params = (low, high)
        rows = self._run("list", lambda c: c.execute(sql + " ORDER BY key", params).fetchall())
        return [r[0] for r in rows]

    def items(self) -> list[tuple[str, str]]:
        rows = self._run("read", lambda c: c.execute(
            f"SELECT key, value::text FROM llmspell_state WHERE {MINE} ORDER BY key"
        ).fetchall())
        return [(k, v) for k, v in rows]

    def replace_all(self, items: dict[str, str]) -> None:
        with self._tx("restore") as conn:
            conn.execute(f"DELETE FROM llmspell_state WHERE {MINE}")
            with conn.cursor() as cur, cur.copy(
                    "COPY llmspell_state (key, value) FROM STDIN") as copy:
                for key, text in items.items():
                    copy.write_row((key, utf8_text(text)))

    def count(self) -> int:
        row = self._run("count", lambda c: c.execute(
            f"SELECT count(*) FROM llmspell_state WHERE {MINE}").fetchone())
        return int(row[0])
