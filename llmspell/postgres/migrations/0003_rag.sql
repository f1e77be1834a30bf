-- RAG: vectors with their chunk text and metadata, one row per chunk; namespaces (scopes)
-- with their collection TTL and a version that every write bumps (for search caches in
-- other processes); per-tenant usage counters; which embedder made a tenant's vectors.
-- Needs pgvector (CREATE EXTENSION needs a superuser unless an admin created it).
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE llmspell_rag_namespaces (
    tenant_id      text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    name           text COLLATE "C" NOT NULL,
    version        bigint NOT NULL DEFAULT 0,
    is_collection  boolean NOT NULL DEFAULT false,
    ttl            double precision,
    created_at     double precision NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE llmspell_rag_vectors (
    label       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    namespace   text COLLATE "C" NOT NULL,
    id          text NOT NULL,
    doc_id      text NOT NULL,
    chunk_index integer NOT NULL DEFAULT 0,
    content     text NOT NULL,
    metadata    jsonb NOT NULL,
    created_at  double precision NOT NULL,
    expires_at  double precision,
    dims        integer NOT NULL,
    embedding   vector NOT NULL
);
CREATE INDEX llmspell_rag_vectors_by_doc ON llmspell_rag_vectors (tenant_id, namespace, doc_id);
CREATE INDEX llmspell_rag_vectors_expiring ON llmspell_rag_vectors (tenant_id, expires_at)
    WHERE expires_at IS NOT NULL;
-- HNSW indexes are made per (dimensions, metric) on first use: see vector_store.py

CREATE TABLE llmspell_rag_usage (
    tenant_id            text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    tenant               text NOT NULL,
    documents_ingested   bigint NOT NULL DEFAULT 0,
    embeddings_generated bigint NOT NULL DEFAULT 0,
    embedding_tokens     bigint NOT NULL DEFAULT 0,
    searches_performed   bigint NOT NULL DEFAULT 0,
    last_activity        double precision,
    PRIMARY KEY (tenant_id, tenant)
);

CREATE TABLE llmspell_rag_meta (
    tenant_id text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

SELECT llmspell_enable_tenancy('llmspell_rag_namespaces');
SELECT llmspell_enable_tenancy('llmspell_rag_vectors');
SELECT llmspell_enable_tenancy('llmspell_rag_usage');
SELECT llmspell_enable_tenancy('llmspell_rag_meta');
