-- +goose Up
-- The dvr extension's admin-only attribute (issue 12). A distributed router
-- is stored and shown; it is never scheduled to neutrino's (legacy) L3
-- agents.
ALTER TABLE routers ADD COLUMN distributed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE routers DROP COLUMN distributed;
