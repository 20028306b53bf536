-- The catalog is kept on every node. Each change bumps the version on every copy it reaches; a coordinator
-- starts from the copy with the highest version and brings older copies up to date.
CREATE TABLE vecshard.catalog_state (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  version bigint NOT NULL
);
INSERT INTO vecshard.catalog_state VALUES (true, 0);

INSERT INTO vecshard.migrations (version) VALUES (2);
