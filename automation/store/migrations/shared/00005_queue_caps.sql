-- +goose Up
-- The per-token queue cap counts a token's queued jobs inside every job's
-- creation transaction (issue 16): an index keeps that count off the
-- whole jobs table.
CREATE INDEX jobs_created_by_state ON jobs (created_by, state);

-- +goose Down
DROP INDEX jobs_created_by_state;
