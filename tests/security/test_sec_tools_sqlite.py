"""database-connector on SQLite: no other database files, no extensions, bounded values."""

from __future__ import annotations

import sqlite3

import pytest
from tools_helpers import run_cli


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO t (v) VALUES ('a')")
    conn.commit()
    conn.close()
    return path


def query(lua, db, sql: str, ddl: bool = True) -> tuple[bool, str]:
    cfg = {"tools": {"database": {"connections": {"default": f"sqlite:///{db}"},
                                  "allow_ddl": ddl}}}
    run = lua(f"""
        local ok, r = pcall(Tool.invoke, "database-connector", {{operation = "query",
                                                                query = {sql!r}}})
        if not ok then return {{false, tostring(r)}} end
        return {{r.success, JSON.stringify(r)}}
    """, config=cfg)
    return run.value[0], run.value[1]


def test_attach_and_vacuum_into_are_refused_even_with_ddl(lua, db, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for sql in (f"ATTACH DATABASE '{elsewhere}/a.db' AS x",
                f"VACUUM INTO '{elsewhere}/copy.db'",
                f"  /* c */ vacuum main into '{elsewhere}/copy2.db'",
                "DETACH DATABASE main"):
        ok, text = query(lua, db, sql)
        assert not ok, (sql, text)
    assert list(elsewhere.iterdir()) == []


def test_extensions_cannot_be_loaded(lua, db):
    for sql in ("SELECT load_extension('/tmp/evil.so')",
                "SELECT load_extension('/tmp/evil.so', 'sqlite3_evil_init')"):
        ok, text = query(lua, db, sql)
        assert not ok and "evil" not in text.split("query")[0], text


def test_huge_values_are_refused(lua, db):
    for sql in ("SELECT length(printf('%.*c', 400000000, 'x')) AS n",
                "SELECT length(zeroblob(1000000000)) AS n",
                "SELECT length(randomblob(400000000)) AS n",
                "SELECT length(replace(printf('%.*c', 1000000, 'x'), 'x', "
                "printf('%.*c', 1000, 'y'))) AS n"):
        ok, text = query(lua, db, sql, ddl=False)
        # SQLite refuses to build the value: an error, or NULL from printf()
        assert (not ok and "too big" in text) or '"results":[{}]' in text, (sql, text)


def test_runaway_aggregate_stays_small_and_ends(tmp_path, db):
    config = f"""
[tools.database]
timeout_seconds = 3
[tools.database.connections]
default = "sqlite:///{db}"
"""
    done = run_cli("""
        local r = Tool.invoke("database-connector", {operation = "query", query =
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) " ..
            "SELECT length(group_concat(printf('%.*c', 1000, 'x'))) AS n FROM c"})
        print(r.success, r.error and r.error.message)
    """, tmp_path, config=config, timeout=60)
    assert done.stdout.startswith("false"), (done.stdout, done.stderr)
    assert done.max_rss_mb < 200, done.max_rss_mb
