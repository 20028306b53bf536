-- vecshard's catalog, kept on every node of each database that has distributed tables.
CREATE SCHEMA IF NOT EXISTS vecshard;
CREATE SCHEMA IF NOT EXISTS vecshard_shards;

CREATE TABLE vecshard.migrations (
  version int PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per distributed or reference table; the table itself stays on node 0 as an empty shell.
CREATE TABLE vecshard.tables (
  schema_name text NOT NULL,
  table_name text NOT NULL,
  method text NOT NULL CHECK (method IN ('hash', 'reference')),
  dist_column text,
  dist_type text,
  shard_count int NOT NULL CHECK (shard_count > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schema_name, table_name)
);

-- A shard covers [min_hash, max_hash] of the int32 hash space; its table is vecshard_shards.<shard_name>.
CREATE TABLE vecshard.shards (
  shard_id bigserial PRIMARY KEY,
  schema_name text NOT NULL,
  table_name text NOT NULL,
  shard_index int NOT NULL,
  shard_name text NOT NULL,
  min_hash int NOT NULL,
  max_hash int NOT NULL,
  UNIQUE (schema_name, table_name, shard_index),
  FOREIGN KEY (schema_name, table_name) REFERENCES vecshard.tables ON DELETE CASCADE ON UPDATE CASCADE
);

-- Where each shard's copies live (node ids are positions in the coordinator's node list).
CREATE TABLE vecshard.placements (
  shard_id bigint NOT NULL REFERENCES vecshard.shards ON DELETE CASCADE,
  node_id int NOT NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'inactive')),
  PRIMARY KEY (shard_id, node_id)
);

-- Commit records of two-phase commits: present means "commit the prepared transactions named after it".
CREATE TABLE vecshard.transactions (
  gid text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO vecshard.migrations (version) VALUES (1);
