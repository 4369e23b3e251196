-- +goose Up
-- The queue lives in the jobs table: a job is claimable when it is queued,
-- its retry time has come and no earlier job of its stack is unfinished.
-- replica_id is the replica running it; a replica whose lease has expired is
-- dead, and another replica finishes its running jobs as interrupted.
ALTER TABLE jobs ADD COLUMN run_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN replica_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_queued ON jobs (state, run_after, id);
CREATE TABLE replicas (
	id          TEXT PRIMARY KEY,
	host        TEXT NOT NULL,
	pid         INTEGER NOT NULL,
	started_at  TEXT NOT NULL,
	lease_until INTEGER NOT NULL
);

-- +goose Down
DROP TABLE replicas;
DROP INDEX jobs_queued;
ALTER TABLE jobs DROP COLUMN cancel_requested;
ALTER TABLE jobs DROP COLUMN replica_id;
ALTER TABLE jobs DROP COLUMN run_after;
