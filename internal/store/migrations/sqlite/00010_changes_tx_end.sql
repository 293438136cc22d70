-- +goose Up
-- tx_end marks the last change-log row of a transaction, so that a reader
-- taking the log in batches (Store.Changes) never stops in the middle of
-- one. Rows written before this column count as a transaction each.
ALTER TABLE changes ADD COLUMN tx_end BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE changes DROP COLUMN tx_end;
