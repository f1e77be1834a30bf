"""The shared PostgreSQL backend against a real server (``tests/pgserver.py``): schema
migrations, row-level security, clear errors when the server is missing or goes away,
and many processes writing the same state at once."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from stores import postgres_settings, write_config

from llmspell import config as config_mod
from llmspell.postgres import migrate as migrate_mod
from llmspell.postgres import open_database
from llmspell.postgres.database import Database, DatabaseError, describe_url, postgres_config
from llmspell.postgres.session_store import CHUNK, PostgresSessionStore
from llmspell.postgres.state_store import PostgresStateStore

settings_for = postgres_settings


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


# -- migrations -------------------------------------------------------------------------

def test_fresh_database_is_migrated_once(postgres_url: str) -> None:
    db = Database(postgres_config(settings_for(postgres_url)))
    try:
        before = migrate_mod.status(db)
        assert before.current == 0 and before.pending
        applied = migrate_mod.migrate(db)
        assert [m.version for m in applied] == [m.version for m in migrate_mod.shipped()]
        assert migrate_mod.migrate(db) == []
        after = migrate_mod.status(db)
        assert after.current == after.latest and not after.pending
    finally:
        db.close()


def test_two_processes_migrating_at_once_both_succeed(postgres_url: str) -> None:
    code = ("import sys; from llmspell import config; from llmspell.postgres import "
            "open_database; open_database(config.from_dict({'storage': {'postgres': "
            "{'url': sys.argv[1]}}}, environ={})).close(); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert all(rc == 0 and out.strip() == "ok" for out, _err, rc in results), results


def test_a_database_from_a_newer_llmspell_is_refused_untouched(
        postgres_url: str, postgres_server: Any) -> None:
    open_database(settings_for(postgres_url)).close()
    database = database_of(postgres_url)
    postgres_server.admin("INSERT INTO llmspell_schema_migrations (version, name) "
                          "VALUES (9999, 'from_the_future')", database=database)
    with pytest.raises(DatabaseError, match="newer llmspell") as info:
        open_database(settings_for(postgres_url))
    assert "9999" in str(info.value)
    rows = postgres_server.admin("SELECT max(version) FROM llmspell_schema_migrations",
                                 database=database)
    assert rows == [(9999,)]


def test_db_status_and_migrate_commands(cli: Any, postgres_url: str) -> None:
    env = {"LLMSPELL_POSTGRES_URL": postgres_url}
    status = cli("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "pending" in status.stdout and "0001" in status.stdout
    done = cli("db", "migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert "0001" in done.stdout
    again = cli("--output", "json", "db", "status", env=env)
    report = json.loads(again.stdout)
    assert report["current"] == report["latest"] and report["pending"] == []


# -- errors -----------------------------------------------------------------------------

def test_no_server_configured_says_how_to_name_one() -> None:
    with pytest.raises(DatabaseError, match="LLMSPELL_POSTGRES_URL"):
        postgres_config(config_mod.from_dict({}, environ={}), environ={})


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is None
                    and os.environ.get("LLMSPELL_REQUIRE_POSTGRES") != "1",
                    reason='needs the postgres extra: pip install -e ".[postgres]"')
def test_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://bob:hunter2secret@/nodb?host={tmp_path}"
    db = Database(postgres_config(settings_for(url, connect_timeout_seconds=1)))
    with pytest.raises(DatabaseError) as info:
        with db.transaction("state read"):
            pass
    text = str(info.value)
    assert "not reachable" in text and describe_url(url) in text
    assert "hunter2secret" not in text


def test_scripts_cannot_read_the_server_password(cli: Any, tmp_path: Path) -> None:
    url = f"postgresql://bob:hunter2secret@/nodb?host={tmp_path}"
    (tmp_path / "c.toml").write_text(f'[storage.postgres]\nurl = "{url}"\n')
    (tmp_path / "peek.lua").write_text(
        'print(os.getenv("LLMSPELL_POSTGRES_URL"))\n'
        'print(JSON.stringify(Config.get("storage")))\n'
        'print(JSON.stringify(Config.getSection("storage")))\n')
    result = cli("-c", str(tmp_path / "c.toml"), "run", "peek.lua",
                 env={"LLMSPELL_POSTGRES_URL": url})
    assert result.returncode == 0, result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr


# -- row-level security -----------------------------------------------------------------

def test_rls_hides_other_tenants_and_everything_without_a_tenant(
        postgres_url: str, postgres_server: Any) -> None:
    for tenant in ("acme", "globex"):
        store = PostgresStateStore(open_database(settings_for(postgres_url, tenant_id=tenant)),
                                   owns_db=True)
        store.put("global:owner", json.dumps(tenant))
        store.close()
    database = database_of(postgres_url)
    postgres_server.admin(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'llmspell_app') "
        "THEN CREATE ROLE llmspell_app LOGIN; END IF; END $$", database=database)
    postgres_server.admin("GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell_state "
                          "TO llmspell_app; GRANT SELECT ON llmspell_schema_migrations "
                          "TO llmspell_app", database=database)
    import psycopg

    app_url = postgres_server.url(database, user="llmspell_app")
    with psycopg.connect(app_url) as conn:  # the application role, no tenant set
        assert conn.execute("SELECT count(*) FROM llmspell_state").fetchone() == (0,)
        conn.execute("SELECT set_config('app.current_tenant_id', 'acme', false)")
        rows = conn.execute("SELECT key, value::text FROM llmspell_state").fetchall()
        assert rows == [("global:owner", '"acme"')]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO llmspell_state (tenant_id, key, value) "
                         "VALUES ('globex', 'global:x', '1')")
    app = PostgresStateStore(open_database(
        settings_for(app_url, tenant_id="globex")), owns_db=True)
    try:
        assert app.items() == [("global:owner", '"globex"')]
    finally:
        app.close()


def test_every_table_has_forced_row_level_security(postgres_url: str,
                                                  postgres_server: Any) -> None:
    open_database(settings_for(postgres_url)).close()
    rows = postgres_server.admin(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE relkind = 'r' AND relname LIKE 'llmspell%' "
        "AND relname <> 'llmspell_schema_migrations' ORDER BY relname",
        database=database_of(postgres_url))
    assert len(rows) >= 9
    assert all(on and forced for _name, on, forced in rows), rows


# -- scripts ----------------------------------------------------------------------------

def test_state_survives_runs_through_the_server(cli: Any, tmp_path: Path,
                                                postgres_url: str) -> None:
    config = write_config(tmp_path, postgres_url)
    (tmp_path / "save.lua").write_text('State.save("global", "n", {a = 1, b = {"x"}})')
    (tmp_path / "load.lua").write_text(
        'local v = State.load("global", "n"); print(v.a, v.b[1], #State.list_keys("global"))')
    first = cli("-c", str(config), "run", "save.lua")
    assert first.returncode == 0, first.stderr
    second = cli("-c", str(config), "run", "load.lua")
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["1", "x", "1", "null"]


def test_server_stopped_mid_run_gives_a_clear_error_and_loses_nothing(
        cli: Any, tmp_path: Path, postgres_url: str, postgres_server: Any) -> None:
    config = write_config(tmp_path, postgres_url)
    (tmp_path / "run.lua").write_text(textwrap.dedent("""\
        for i = 1, 20 do State.save("global", "k" .. i, i) end
        local t = os.clock(); while os.clock() - t < 3 do end
        State.save("global", "after", 1)
        """))
    proc = subprocess.Popen([sys.executable, "-m", "llmspell", "-c", str(config), "run",
                             "run.lua"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=_env())
    try:
        _wait_for_key(postgres_url, "global:k20")
        postgres_server.stop("fast")
        out, err = proc.communicate(timeout=60)
    finally:
        if not postgres_server.running():
            postgres_server.start()
    assert proc.returncode == 1, (out, err)
    assert "PostgreSQL server" in err and "Traceback" not in err
    assert describe_url(postgres_url) in err
    store = PostgresStateStore(open_database(settings_for(postgres_url)), owns_db=True)
    try:
        assert sorted(store.keys("global:k"), key=lambda k: int(k[8:])) == [
            f"global:k{i}" for i in range(1, 21)]
    finally:
        store.close()


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _wait_for_key(url: str, key: str, seconds: float = 30) -> None:
    import time

    store = PostgresStateStore(open_database(settings_for(url)), owns_db=True)
    try:
        end = time.monotonic() + seconds
        while store.get(key) is None:
            if time.monotonic() > end:
                raise AssertionError(f"{key} was never saved")
            time.sleep(0.02)
    finally:
        store.close()


WRITER = Path(__file__).parent / "lua" / "pg_machine.lua"


def test_eight_machines_write_the_same_scopes_at_once(tmp_path: Path,
                                                      postgres_url: str) -> None:
    config = write_config(tmp_path, postgres_url)
    (tmp_path / "writer.lua").write_text(WRITER.read_text())

    def machine(n: int) -> subprocess.CompletedProcess[str]:
        home = tmp_path / f"machine{n}"
        home.mkdir()
        env = _env() | {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
                        "XDG_CONFIG_HOME": str(home / "config")}
        return subprocess.run([sys.executable, "-m", "llmspell", "-c", str(config), "run",
                               "writer.lua", "--", "--me", f"m{n}"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(machine, range(8)))
    for n, result in enumerate(results):
        assert result.returncode == 0, (n, result.stderr)
        assert result.stdout.split() == ["done", f"m{n}", "null"]
    store = PostgresStateStore(open_database(settings_for(postgres_url)), owns_db=True)
    try:
        keys = set(store.keys("shared:"))
        for n in range(8):
            for i in range(1, 41):
                present = f"shared:m{n}:{i}" in keys
                assert present == (i % 4 != 3), (n, i)
            assert store.get(f"global:counter:m{n}") == "40"
        session_ids = {n: json.loads(store.get(f"global:session:m{n}")) for n in range(8)}
    finally:
        store.close()
    sessions = PostgresSessionStore(open_database(settings_for(postgres_url)), owns_db=True)
    try:
        for n, sid in session_ids.items():
            names = sorted(a["name"] for a in sessions.list_artifacts(sid))
            assert names == sorted(f"note{i}" for i in range(2, 11)), n
        with sessions.write() as conn:  # the same ten contents, stored once
            assert conn.execute("SELECT count(*) FROM llmspell_blobs").fetchone() == (9,)
            team = conn.execute("SELECT count(*) FROM llmspell_rag_vectors "
                                "WHERE namespace = 'team:one'").fetchone()
            assert team == (8,)
    finally:
        sessions.close()


def test_large_artifacts_are_chunked_deduplicated_and_hash_checked(
        postgres_url: str, postgres_server: Any) -> None:
    from llmspell.sessions.service import SessionError, SessionService

    store = PostgresSessionStore(open_database(settings_for(postgres_url)), owns_db=True)
    svc = SessionService(store, compression_threshold=0)
    try:
        content = bytes(range(256)) * (CHUNK // 256 * 2 + 100)  # a little over 2 chunks
        a, b = svc.create(), svc.create()
        first = svc.store_artifact(a, "text", "big", content)
        second = svc.store_artifact(b, "text", "big copy", content)
        assert svc.get_artifact(b, second)["content"] == content
        with store.write() as conn:
            assert conn.execute("SELECT count(*) FROM llmspell_blobs").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM llmspell_blob_chunks").fetchone() == (3,)
        svc.delete(a)
        assert svc.get_artifact(b, second)["content"] == content  # still used by b
        postgres_server.admin("UPDATE llmspell_blob_chunks SET data = 'x'::bytea "
                              "WHERE chunk = 1", database=database_of(postgres_url))
        with pytest.raises(SessionError, match="does not match its hash"):
            svc.get_artifact(b, second)
        svc.delete(b)
        with store.write() as conn:
            assert conn.execute("SELECT count(*) FROM llmspell_blob_chunks").fetchone() == (0,)
        assert first["content_hash"] == second["content_hash"]
    finally:
        svc.close()


def test_sessions_of_another_tenant_are_invisible(postgres_url: str) -> None:
    from llmspell.sessions.service import SessionError, SessionService

    def service(tenant: str) -> SessionService:
        db = open_database(settings_for(postgres_url, tenant_id=tenant))
        return SessionService(PostgresSessionStore(db, owns_db=True))

    acme, globex = service("acme"), service("globex")
    try:
        sid = acme.create(name="secret plans")
        acme.store_artifact(sid, "text", "plan", b"world domination")
        assert globex.list() == []
        with pytest.raises(SessionError, match="not found"):
            globex.get(sid)
        assert [s["id"] for s in acme.list()] == [sid]
    finally:
        acme.close()
        globex.close()


def test_one_pool_per_run_for_every_store_on_the_server(postgres_url: str) -> None:
    from llmspell.run import Services

    services = Services(config_mod.from_dict({
        "runtime": {"state_persistence": {"backend_type": "postgres"},
                    "sessions": {"enabled": True, "storage_backend": "postgres"}},
        "rag": {"enabled": True, "vector_storage": {"backend": "postgres"},
                "embedding": {"default_provider": "hashing"}},
        "storage": {"postgres": {"url": postgres_url}}}, environ={}))
    db = services.state.store.db
    assert services.sessions.store.db is db and services.rag.store.db is db
    services.state.save("global", "k", 1)
    assert services.close() == []
    with pytest.raises(DatabaseError, match="closed"):
        with db.transaction():
            pass


def test_the_cookbook_script_runs_against_the_server(cli: Any, postgres_url: str) -> None:
    root = Path(__file__).resolve().parent.parent
    config = root / "configs" / "postgres.toml"
    script = root / "cookbook" / "team_knowledge.lua"
    env = {"LLMSPELL_POSTGRES_URL": postgres_url}
    first = cli("-c", str(config), "run", str(script), "--", "--who", "ada", env=env)
    assert first.returncode == 0, first.stderr
    second = cli("-c", str(config), "run", str(script), "--", "--who", "bob", env=env)
    assert second.returncode == 0, second.stderr
    assert "runs so far: 2 (this one by bob)" in second.stdout
    assert "vectors in the handbook: 3, backend: pgvector" in second.stdout
    assert "Deploys go out on Tuesdays" in second.stdout.split("== RAG")[1]
