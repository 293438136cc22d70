-- +goose Up
-- Quotas (the quotas extension, as Neutron's DbQuotaDriver): a project's
-- own limits; a resource without a row has the [quotas] default.
CREATE TABLE quotas (
  project_id VARCHAR(255) NOT NULL,
  resource VARCHAR(64) NOT NULL,
  quota_limit INTEGER NOT NULL,
  PRIMARY KEY (project_id, resource)
);

-- A create that a quota limits locks its (project, resource) row here
-- before counting, so concurrent creates of one project count one after
-- the other (store/quotas.go). n only makes the upsert a real update.
CREATE TABLE quota_locks (
  project_id VARCHAR(255) NOT NULL,
  resource VARCHAR(64) NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (project_id, resource)
);

-- Usage is counted per project.
CREATE INDEX subnets_project ON subnets (project_id);

-- +goose Down
DROP INDEX subnets_project;
DROP TABLE quota_locks;
DROP TABLE quotas;
