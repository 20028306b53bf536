-- Coordinators' leases: every coordinator process renews its row on every node every few seconds. A prepared
-- transaction named after a coordinator whose lease is still running is that coordinator's to finish: another
-- coordinator settles it only once the lease has run out (and it was prepared longer ago than a lease lasts).
CREATE TABLE vecshard.coordinators (
  id text PRIMARY KEY,
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON vecshard.coordinators TO PUBLIC;

INSERT INTO vecshard.migrations (version) VALUES (6);
