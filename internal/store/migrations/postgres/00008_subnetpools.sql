-- +goose Up
-- Subnet pools (subnet_allocation): a pool's prefixes are a JSON list of
-- CIDRs, compacted (the row is read and written whole in its
-- transaction). default_for is the pool's ip_version when it is the
-- default pool (is_default) and NULL otherwise: its unique index lets one
-- default per IP version exist, whatever the concurrency. A subnet
-- allocated from a pool names it in subnetpool_id; allocations lock the
-- pool row, so two subnets of one pool never get overlapping prefixes.
CREATE TABLE subnetpools (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  project_id VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL,
  description VARCHAR(255) NOT NULL,
  ip_version INTEGER NOT NULL,
  prefixes TEXT NOT NULL,
  default_prefixlen INTEGER NOT NULL,
  min_prefixlen INTEGER NOT NULL,
  max_prefixlen INTEGER NOT NULL,
  default_quota INTEGER,
  shared BOOLEAN NOT NULL,
  is_default BOOLEAN NOT NULL,
  default_for INTEGER,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision_number BIGINT NOT NULL,
  UNIQUE (default_for)
);
CREATE INDEX subnetpools_project ON subnetpools (project_id);

ALTER TABLE subnets ADD COLUMN subnetpool_id VARCHAR(36) REFERENCES subnetpools (id);
CREATE INDEX subnets_subnetpool ON subnets (subnetpool_id);

-- +goose Down
DROP INDEX subnets_subnetpool;
ALTER TABLE subnets DROP COLUMN subnetpool_id;
DROP TABLE subnetpools;
