"""RAG benchmarks: hnswlib search vs exact search, tenant overhead, embedder throughput.

    python benchmarks/bench_rag.py [--n 100000] [--dims 384] [--queries 300] [--quick]

1. Build: N random unit vectors added through ``VectorStore.add`` (SQLite rows + a graph
   that starts at 1,024 slots and grows), against the floor of raw ``hnswlib`` adding
   the same vectors to a preallocated index. Memory: RSS growth and graph size.
   The vectors are random with a low intrinsic dimension, like text embeddings: a
   32-dim Gaussian latent projected to 384 dims plus noise, normalised.
2. Search: recall@10 against exact numpy search (the floor for latency too), p50 of one
   query at a time (one thread), for several ``ef``; target p50 <= 1 ms at recall >= 0.95.
   Also the worst case, i.i.d. uniform unit vectors (intrinsic dimension 384, where the
   10 true neighbours are barely nearer than the 1,000th), at ``--iid-n`` vectors.
3. Tenants: p50 of ``VectorStore.search`` in one tenant of 100 tenants x 1,000 documents
   against the same 1,000 documents in a one-tenant store (the floor); target <= 3 %.
4. Embedders: chunks/s of the hashing embedder and of all-MiniLM-L6-v2 (when the extra is
   installed), each against the floor of tokenising the same chunks only.
Default sizes run in a few minutes on 2 cores; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmspell.rag.store import Record, VectorStore  # noqa: E402


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def unit(rows: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    data = rng.standard_normal((rows, dims)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


def p50_ms(fn, items) -> float:  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def embedding_like(rows: int, dims: int, rng: np.random.Generator,
                   latent: np.ndarray) -> np.ndarray:
    z = rng.standard_normal((rows, latent.shape[0])).astype(np.float32)
    data = z @ latent + 0.5 * rng.standard_normal((rows, dims)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


def recall_at_10(labels: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(labels[i]) & set(truth[i])) / 10
                          for i in range(len(truth))]))


def build_and_search(n: int, dims: int, queries: int, rng: np.random.Generator) -> None:
    import hnswlib

    latent = rng.standard_normal((32, dims)).astype(np.float32)
    data = embedding_like(n, dims, rng, latent)
    qs = embedding_like(queries, dims, rng, latent)
    records = [Record(str(i), str(i), f"doc {i}") for i in range(n)]

    floor_index = hnswlib.Index(space="cosine", dim=dims)
    floor_index.init_index(max_elements=n, ef_construction=200, M=16, random_seed=100)
    start = time.perf_counter()
    floor_index.add_items(data, np.arange(n))
    floor_s = time.perf_counter() - start
    del floor_index

    before = rss_mb()
    store = VectorStore(dims, ef_construction=200, m=16, max_elements=10_000_000)
    start = time.perf_counter()
    for lo in range(0, n, 10_000):
        store.add("bench", records[lo:lo + 10_000], data[lo:lo + 10_000])
    build_s = time.perf_counter() - start
    grown = rss_mb() - before
    index = store._open["bench"].index
    print(f"build: {n} x {dims} through VectorStore.add: {build_s:.1f} s "
          f"({n / build_s:,.0f} vectors/s); floor (raw hnswlib, preallocated): {floor_s:.1f} s;"
          f" ratio {build_s / floor_s:.2f}x")
    print(f"memory: RSS +{grown:.0f} MB (graph {index.index_file_size() / 2**20:.0f} MB, "
          f"vectors alone {data.nbytes / 2**20:.0f} MB); capacity {index.get_max_elements():,}"
          f" of max_elements 10,000,000")

    truth = np.argsort(-(qs @ data.T), axis=1)[:, :10]
    exact_p50 = p50_ms(lambda q: np.argpartition(-(data @ q), 10)[:10], qs)
    print(f"search floor: exact numpy top-10 over {n:,}: p50 {exact_p50:.2f} ms")
    best = None
    for ef in (50, 100, 150, 200, 400):
        store.ef_search = ef
        index.set_ef(ef)
        labels, _ = index.knn_query(qs, k=10, num_threads=1)
        recall = recall_at_10(labels, truth)
        raw = p50_ms(lambda q: index.knn_query(q, k=10, num_threads=1), qs)
        full = p50_ms(lambda q: store.search("bench", q, 10), qs)
        ok = recall >= 0.95 and raw <= 1.0
        print(f"search ef={ef:>3}: recall@10 {recall:.3f}; p50 raw knn {raw:.3f} ms, "
              f"VectorStore.search (with SQLite rows) {full:.3f} ms; ratio to exact "
              f"{raw / exact_p50:.3f}x{'  <- meets p50 <= 1 ms at recall >= 0.95' if ok else ''}")
        if ok and best is None:
            best = (ef, recall, raw, full)
    if best is None:
        print("search: no ef met p50 <= 1 ms with recall@10 >= 0.95")
    store.close()


def worst_case(n: int, dims: int, queries: int, rng: np.random.Generator) -> None:
    import hnswlib

    data = unit(n, dims, rng)
    qs = unit(queries, dims, rng)
    index = hnswlib.Index(space="cosine", dim=dims)
    index.init_index(max_elements=n, ef_construction=200, M=16, random_seed=100)
    start = time.perf_counter()
    index.add_items(data)
    build_s = time.perf_counter() - start
    sims = qs @ data.T
    truth = np.argsort(-sims, axis=1)[:, :10]
    ordered = -np.sort(-sims, axis=1)
    exact_p50 = p50_ms(lambda q: np.argpartition(-(data @ q), 10)[:10], qs)
    print(f"worst case: {n:,} i.i.d. uniform unit vectors x {dims}, built in {build_s:.1f} s; "
          f"mean similarity of the 10th neighbour {ordered[:, 9].mean():.3f} vs the 1,000th "
          f"{ordered[:, min(999, n - 1)].mean():.3f}; exact p50 {exact_p50:.2f} ms")
    for ef in (50, 200, 800):
        index.set_ef(ef)
        labels, _ = index.knn_query(qs, k=10, num_threads=1)
        raw = p50_ms(lambda q: index.knn_query(q, k=10, num_threads=1), qs)
        print(f"worst case ef={ef:>3}: recall@10 {recall_at_10(labels, truth):.3f}; p50 "
              f"{raw:.3f} ms; ratio to exact {raw / exact_p50:.3f}x")


def tenants(dims: int, per_tenant: int, count: int, queries: int,
            rng: np.random.Generator) -> None:
    docs = unit(per_tenant, dims, rng)
    qs = unit(queries, dims, rng)
    records = [Record(str(i), str(i), f"doc {i}") for i in range(per_tenant)]
    one = VectorStore(dims)
    one.add("tenant:t0", records, docs)
    many = VectorStore(dims)
    start = time.perf_counter()
    many.add("tenant:t0", records, docs)
    for t in range(1, count):
        many.add(f"tenant:t{t}", records, unit(per_tenant, dims, rng))
    build_s = time.perf_counter() - start
    for store in (one, many):  # warm up
        for q in qs[:50]:
            store.search("tenant:t0", q, 10)
    a, b = [], []
    for _ in range(3):  # interleave to share the machine's noise
        a.append(p50_ms(lambda q: one.search("tenant:t0", q, 10), qs))
        b.append(p50_ms(lambda q: many.search("tenant:t0", q, 10), qs))
    floor, ours = statistics.median(a), statistics.median(b)
    print(f"tenants: {count} x {per_tenant} built in {build_s:.1f} s; search p50 in one tenant "
          f"{ours:.3f} ms; floor (same {per_tenant} docs, one-tenant store) {floor:.3f} ms; "
          f"ratio {ours / floor:.3f}x, overhead {100 * (ours / floor - 1):+.1f} % "
          f"(target <= 3 %)")
    one.close()
    many.close()


def embedders(chunks_n: int) -> None:
    from llmspell.rag.chunking import RegexTokenizer
    from llmspell.rag.embeddings import minilm
    from llmspell.rag.embeddings.hashing import HashingEmbedder

    words = ("vector search graph index tenant session memory retrieval chunk token "
             "embedding model latency recall cosine distance layer neighbour query store "
             "persistence sqlite namespace expiry document metadata filter").split()
    rng = np.random.default_rng(7)
    chunks = [" ".join(rng.choice(words, size=int(rng.integers(80, 160)))) + "."
              for _ in range(chunks_n)]
    tok = RegexTokenizer()
    start = time.perf_counter()
    for c in chunks:
        tok.spans(c)
    floor = chunks_n / (time.perf_counter() - start)
    emb = HashingEmbedder(384)
    start = time.perf_counter()
    emb.embed(chunks)
    ours = chunks_n / (time.perf_counter() - start)
    print(f"embedder hashing-384: {ours:,.0f} chunks/s (80-160 words each); floor (regex "
          f"tokenising only) {floor:,.0f} chunks/s; ratio {floor / ours:.2f}x slower")
    if not minilm.available():
        print(f"embedder all-MiniLM-L6-v2: not installed ({', '.join(minilm.missing())})")
        return
    model = minilm.MiniLMEmbedder()
    model.embed(chunks[:32])  # load and warm up
    sample = chunks[: max(64, chunks_n // 4)]
    tokenizer = minilm.load_tokenizer()
    start = time.perf_counter()
    tokenizer.encode_batch(sample)
    floor = len(sample) / (time.perf_counter() - start)
    start = time.perf_counter()
    model.embed(sample)
    ours = len(sample) / (time.perf_counter() - start)
    print(f"embedder {model.name}: {ours:,.0f} chunks/s; floor (WordPiece tokenising only) "
          f"{floor:,.0f} chunks/s; ratio {floor / ours:.1f}x slower")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--per-tenant", type=int, default=1000)
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--iid-n", type=int, default=20_000, help="worst-case set size")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.queries, args.tenants, args.per_tenant, args.chunks = 5000, 50, 10, 200, 200
        args.iid_n = 2000
    rng = np.random.default_rng(42)
    total = time.perf_counter()
    build_and_search(args.n, args.dims, args.queries, rng)
    worst_case(args.iid_n, args.dims, args.queries, rng)
    tenants(args.dims, args.per_tenant, args.tenants, args.queries, rng)
    embedders(args.chunks)
    print("upstream claims (rs-llmspell docs): < 10 ms search over 1M vectors, < 5 ms "
          "retrieval; ours above, measured on this machine")
    print(f"total bench time {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
