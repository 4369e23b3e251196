-- +goose Up
-- A registration's generation is the id of its first job; each job records
-- the generation of the registration it was queued for, so a destroy removes
-- only the registration it belongs to, never one made again since.
ALTER TABLE municipalities ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN generation;
ALTER TABLE municipalities DROP COLUMN generation;
