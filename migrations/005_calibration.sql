-- Recall calibration (vecshard.calibrate): for each distributed table and distance operator, the recall@k its
-- kNN queries reached at each hnsw.ef_search, measured against exact answers. SET vecshard.target_recall picks the
-- smallest ef_search that reached the target.
CREATE TABLE vecshard.calibration (
  schema_name text NOT NULL,
  table_name text NOT NULL,
  operator text NOT NULL,
  ef_search int NOT NULL,
  recall float8 NOT NULL,
  k int NOT NULL,
  queries int NOT NULL,
  -- Rows in the table when measured: after writes of a fifth as many again, it is measured anew.
  table_rows bigint NOT NULL,
  measured_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, table_name, operator, ef_search),
  FOREIGN KEY (schema_name, table_name) REFERENCES vecshard.tables ON DELETE CASCADE ON UPDATE CASCADE
);
ALTER TABLE vecshard.calibration ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, DELETE ON vecshard.calibration TO PUBLIC;
CREATE POLICY read ON vecshard.calibration FOR SELECT USING (true);
CREATE POLICY add ON vecshard.calibration FOR INSERT WITH CHECK (vecshard.owns(schema_name, table_name, true));
CREATE POLICY remove ON vecshard.calibration FOR DELETE USING (vecshard.owns(schema_name, table_name, false));

INSERT INTO vecshard.migrations (version) VALUES (5);
