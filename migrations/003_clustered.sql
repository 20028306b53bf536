-- Clustered tables: rows go to the shard whose centroid is nearest their vector. Each shard keeps its centroid
-- and radii (upper bounds on how far its rows are from it) for routing queries and exact pruning.
ALTER TABLE vecshard.tables DROP CONSTRAINT tables_method_check;
ALTER TABLE vecshard.tables ADD CONSTRAINT tables_method_check CHECK (method IN ('hash', 'reference', 'clustered'));
ALTER TABLE vecshard.tables ADD COLUMN metric text CHECK (metric IN ('l2', 'cosine', 'ip', 'l1'));
ALTER TABLE vecshard.shards ADD COLUMN centroid text;
ALTER TABLE vecshard.shards ADD COLUMN radius_l2 float8;
ALTER TABLE vecshard.shards ADD COLUMN radius_angle float8;

INSERT INTO vecshard.migrations (version) VALUES (3);
