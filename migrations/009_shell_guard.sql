-- A distributed table's shell (on every node) holds no rows: its rows live in its shards. A row written into a
-- shell by a statement vecshard never sees — inside a function or a DO block, through a view or a rule, or from a
-- coordinator whose catalog is behind — would be lost without a word, so a shell refuses it.
CREATE OR REPLACE FUNCTION vecshard.refuse_shell_write() RETURNS trigger LANGUAGE plpgsql AS $vecshard$
BEGIN
  RAISE EXCEPTION 'vecshard: "%" is a distributed table; a row written to it here would miss its shards', TG_TABLE_NAME
    USING ERRCODE = '0A000',
          HINT = 'Write it with a statement of its own through vecshard, not inside a function, a DO block or through a view or rule.';
END
$vecshard$;
GRANT EXECUTE ON FUNCTION vecshard.refuse_shell_write() TO PUBLIC;

DO $vecshard$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT schema_name, table_name FROM vecshard.tables LOOP
    IF to_regclass(format('%I.%I', r.schema_name, r.table_name)) IS NULL
       OR EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = format('%I.%I', r.schema_name, r.table_name)::regclass AND tgname = 'vecshard_shell') THEN
      CONTINUE;
    END IF;
    BEGIN
      EXECUTE format('CREATE TRIGGER vecshard_shell BEFORE INSERT ON %I.%I FOR EACH ROW EXECUTE FUNCTION vecshard.refuse_shell_write()', r.schema_name, r.table_name);
      EXECUTE format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER vecshard_shell', r.schema_name, r.table_name);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'vecshard: could not guard the shell of %.% (not its owner)', r.schema_name, r.table_name;
    END;
  END LOOP;
END
$vecshard$;

INSERT INTO vecshard.migrations (version) VALUES (9);
