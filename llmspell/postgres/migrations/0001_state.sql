-- State: JSON values under full keys (scope:key), one row per tenant and key.
CREATE TABLE llmspell_state (
    tenant_id  text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    key        text COLLATE "C" NOT NULL,
    value      json NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE llmspell_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell_state FORCE ROW LEVEL SECURITY;
CREATE POLICY llmspell_state_tenant ON llmspell_state
    USING (tenant_id = current_setting('app.current_tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
