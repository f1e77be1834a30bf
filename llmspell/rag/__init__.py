"""Retrieval-augmented generation: chunking, embeddings, an hnswlib store, scopes.

    chunking.py     sliding-window chunks measured in tokens, cut at sentence ends
    embeddings/     hashing (always there), all-MiniLM-L6-v2 (extra), remote (providers)
    store.py        one hnswlib index per namespace + SQLite for content and metadata
    service.py      scopes (global, tenant, session), TTLs, tenant usage and limits

Nothing here imports lupa; ``llmspell/api/rag.py`` is the Lua-facing adapter.
"""
