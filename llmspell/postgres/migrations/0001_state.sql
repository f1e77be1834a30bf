-- State: JSON values under full keys (scope:key), one row per tenant and key.
CREATE TABLE llmspell_state (
    tenant_id  text NOT NULL DEFAULT current_setting('app.current_tenant_id', true),
    key        text COLLATE "C" NOT NULL,
    value      json NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Row-level security on a table with a tenant_id column: a connection sees and writes
-- only the rows of the tenant in app.current_tenant_id (none without it), forced even
-- for the table's owner. Every llmspell table goes through this.
CREATE FUNCTION llmspell_enable_tenancy(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s '
                   'USING (tenant_id = current_setting(''app.current_tenant_id'', true)) '
                   'WITH CHECK (tenant_id = current_setting(''app.current_tenant_id'', true))',
                   tbl);
END $$;

SELECT llmspell_enable_tenancy('llmspell_state');
