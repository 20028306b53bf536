-- Clients work on the nodes as their own roles (src/shards/login.ts). A table's owner distributes it and changes
-- it, so the statements vecshard runs for it in the client's transaction (shards, catalog rows, commit records)
-- run as that role. What each role may do here is what Postgres lets it do to its own tables.
GRANT USAGE ON SCHEMA vecshard TO PUBLIC;
-- Shard tables are created by their table's owner and protected by their own privileges (copied from the table's).
GRANT USAGE, CREATE ON SCHEMA vecshard_shards TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA vecshard TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON vecshard.tables, vecshard.shards, vecshard.placements TO PUBLIC;
GRANT UPDATE ON vecshard.catalog_state TO PUBLIC;
GRANT INSERT, DELETE ON vecshard.transactions TO PUBLIC;
GRANT USAGE, UPDATE ON SEQUENCE vecshard.shards_shard_id_seq TO PUBLIC;

-- Whether the current role may change the catalog rows of table schema.name: it has its owner's privileges.
-- `strict`: the table must exist (rows are only added for a table one owns); otherwise rows of a table that is
-- gone (dropped or renamed in this transaction) may be removed or renamed by anyone.
CREATE FUNCTION vecshard.owns(p_schema text, p_table text, strict boolean) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT coalesce(
    (SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass(quote_ident(p_schema) || '.' || quote_ident(p_table))),
    NOT strict)
$$;

ALTER TABLE vecshard.tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vecshard.tables FOR SELECT USING (true);
CREATE POLICY add ON vecshard.tables FOR INSERT WITH CHECK (vecshard.owns(schema_name, table_name, true));
CREATE POLICY change ON vecshard.tables FOR UPDATE USING (vecshard.owns(schema_name, table_name, false)) WITH CHECK (vecshard.owns(schema_name, table_name, true));
CREATE POLICY remove ON vecshard.tables FOR DELETE USING (vecshard.owns(schema_name, table_name, false));

ALTER TABLE vecshard.shards ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vecshard.shards FOR SELECT USING (true);
CREATE POLICY add ON vecshard.shards FOR INSERT WITH CHECK (vecshard.owns(schema_name, table_name, true));
CREATE POLICY change ON vecshard.shards FOR UPDATE USING (vecshard.owns(schema_name, table_name, false)) WITH CHECK (vecshard.owns(schema_name, table_name, true));
CREATE POLICY remove ON vecshard.shards FOR DELETE USING (vecshard.owns(schema_name, table_name, false));

ALTER TABLE vecshard.placements ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vecshard.placements FOR SELECT USING (true);
CREATE POLICY add ON vecshard.placements FOR INSERT
  WITH CHECK (EXISTS (SELECT 1 FROM vecshard.shards s WHERE s.shard_id = placements.shard_id AND vecshard.owns(s.schema_name, s.table_name, true)));
CREATE POLICY change ON vecshard.placements FOR UPDATE
  USING (EXISTS (SELECT 1 FROM vecshard.shards s WHERE s.shard_id = placements.shard_id AND vecshard.owns(s.schema_name, s.table_name, true)));
CREATE POLICY remove ON vecshard.placements FOR DELETE
  USING (NOT EXISTS (SELECT 1 FROM vecshard.shards s WHERE s.shard_id = placements.shard_id AND NOT vecshard.owns(s.schema_name, s.table_name, false)));

-- A shard table belongs to one catalog row: a role cannot list another table's shard as one of its own.
ALTER TABLE vecshard.shards ADD CONSTRAINT shards_shard_name_key UNIQUE (shard_name);

-- Commit records: each role writes and removes its own; recovery (vecshard's own user) settles all of them.
ALTER TABLE vecshard.transactions ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE vecshard.transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON vecshard.transactions FOR SELECT USING (true);
CREATE POLICY own ON vecshard.transactions FOR INSERT WITH CHECK (owner = current_user);
CREATE POLICY remove ON vecshard.transactions FOR DELETE USING (owner = current_user);

INSERT INTO vecshard.migrations (version) VALUES (4);
