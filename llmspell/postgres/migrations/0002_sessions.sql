-- Sessions, their artifacts, and artifact content stored once per tenant under its
-- BLAKE3 hash, in chunks (large content is written and read piece by piece).
CREATE TABLE llmspell_sessions (
    tenant_id         text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    id                text NOT NULL,
    name              text,
    description       text,
    tags              json NOT NULL,
    status            text NOT NULL,
    created_at        text NOT NULL,
    updated_at        text NOT NULL,
    parent_session_id text,
    custom_metadata   json NOT NULL,
    next_sequence     integer NOT NULL DEFAULT 0,
    artifact_count    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX llmspell_sessions_by_status ON llmspell_sessions (tenant_id, status);

CREATE TABLE llmspell_blobs (
    tenant_id   text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    hash        text NOT NULL,
    size        bigint NOT NULL,
    stored_size bigint NOT NULL,
    compressed  boolean NOT NULL,
    PRIMARY KEY (tenant_id, hash)
);

CREATE TABLE llmspell_blob_chunks (
    tenant_id text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    hash      text NOT NULL,
    chunk     integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (tenant_id, hash, chunk),
    FOREIGN KEY (tenant_id, hash) REFERENCES llmspell_blobs ON DELETE CASCADE
);

CREATE TABLE llmspell_artifacts (
    tenant_id     text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    session_id    text NOT NULL,
    sequence      integer NOT NULL,
    hash          text NOT NULL,
    name          text NOT NULL,
    artifact_type text NOT NULL,
    size          bigint NOT NULL,
    version       integer NOT NULL,
    created_at    text NOT NULL,
    metadata      json NOT NULL,
    PRIMARY KEY (tenant_id, session_id, sequence),
    FOREIGN KEY (tenant_id, hash) REFERENCES llmspell_blobs
);
CREATE INDEX llmspell_artifacts_by_hash ON llmspell_artifacts (tenant_id, hash);
CREATE INDEX llmspell_artifacts_by_name ON llmspell_artifacts (tenant_id, session_id, name, version);

SELECT llmspell_enable_tenancy('llmspell_sessions');
SELECT llmspell_enable_tenancy('llmspell_blobs');
SELECT llmspell_enable_tenancy('llmspell_blob_chunks');
SELECT llmspell_enable_tenancy('llmspell_artifacts');
