-- Clustered tables are calibrated over how many of the nearest shards a query visits (probes) as well as
-- hnsw.ef_search; 0 stands for every shard (hash tables).
ALTER TABLE vecshard.calibration ADD COLUMN probes int NOT NULL DEFAULT 0;
ALTER TABLE vecshard.calibration DROP CONSTRAINT calibration_pkey;
ALTER TABLE vecshard.calibration ADD PRIMARY KEY (schema_name, table_name, operator, probes, ef_search);

INSERT INTO vecshard.migrations (version) VALUES (8);
