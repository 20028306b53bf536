-- Copies of the catalog are compared by content as well as by version: every change stores a digest of the rows
-- beside the version, so two copies that reached the same version by different changes are told apart.
ALTER TABLE vecshard.catalog_state ADD COLUMN digest text;
-- Each node stamps created_at and measured_at with its own clock: those are left out. Text forms of floats depend
-- on session settings: the digest fixes them.
CREATE FUNCTION vecshard.catalog_digest() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog SET extra_float_digits = 3 AS $$
  SELECT md5(concat_ws('|',
    (SELECT string_agg(j, ',' ORDER BY j) FROM (SELECT (to_jsonb(x) - 'created_at')::text AS j FROM vecshard.tables x) t),
    (SELECT string_agg(j, ',' ORDER BY j) FROM (SELECT to_jsonb(x)::text AS j FROM vecshard.shards x) t),
    (SELECT string_agg(j, ',' ORDER BY j) FROM (SELECT to_jsonb(x)::text AS j FROM vecshard.placements x) t),
    (SELECT string_agg(j, ',' ORDER BY j) FROM (SELECT (to_jsonb(x) - 'measured_at')::text AS j FROM vecshard.calibration x) t)))
$$;
GRANT EXECUTE ON FUNCTION vecshard.catalog_digest() TO PUBLIC;
UPDATE vecshard.catalog_state SET digest = vecshard.catalog_digest();

INSERT INTO vecshard.migrations (version) VALUES (7);
