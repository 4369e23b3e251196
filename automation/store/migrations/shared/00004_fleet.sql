-- +goose Up
-- Fleet operations (the same SQL on SQLite and PostgreSQL): rollouts and their stacks, the version each stack last
-- deployed, drift status and sweeps, the fleet controller's lease. The SQL is
-- the subset both databases share: text keys made by the server, times as
-- fixed-width UTC text so that they sort as they compare.
CREATE TABLE rollouts (
	id              TEXT PRIMARY KEY,
	operation       TEXT NOT NULL,
	selector        TEXT NOT NULL,
	waves           TEXT NOT NULL,
	max_concurrency BIGINT NOT NULL,
	failure_budget  BIGINT NOT NULL,
	version         TEXT NOT NULL,
	state           TEXT NOT NULL,
	stop_reason     TEXT NOT NULL DEFAULT '',
	current_wave    BIGINT NOT NULL DEFAULT 0,
	failures_accepted   BIGINT NOT NULL DEFAULT 0,
	violations_accepted BIGINT NOT NULL DEFAULT 0,
	created_by      TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	finished_at     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rollouts_state ON rollouts (state);
CREATE TABLE rollout_stacks (
	rollout_id  TEXT NOT NULL REFERENCES rollouts (id),
	stack       TEXT NOT NULL,
	code        TEXT NOT NULL,
	environment TEXT NOT NULL,
	wave        BIGINT NOT NULL,
	position    BIGINT NOT NULL,
	state       TEXT NOT NULL,
	job_id      BIGINT NOT NULL DEFAULT 0,
	reason      TEXT NOT NULL DEFAULT '',
	mandatory_violations BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (rollout_id, stack)
);
CREATE TABLE stack_versions (
	stack       TEXT PRIMARY KEY,
	version     TEXT NOT NULL,
	job_id      BIGINT NOT NULL,
	deployed_at TEXT NOT NULL
);
CREATE TABLE drift_status (
	stack        TEXT PRIMARY KEY,
	code         TEXT NOT NULL,
	environment  TEXT NOT NULL,
	status       TEXT NOT NULL,
	resources    TEXT NOT NULL DEFAULT '[]',
	error        TEXT NOT NULL DEFAULT '',
	job_id       BIGINT NOT NULL DEFAULT 0,
	checked_at   TEXT NOT NULL DEFAULT '',
	checking     BIGINT NOT NULL DEFAULT 0,
	requested_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE drift_sweeps (
	environment TEXT PRIMARY KEY,
	started_at  TEXT NOT NULL DEFAULT '',
	finished_at TEXT NOT NULL DEFAULT '',
	next_at     TEXT NOT NULL
);
CREATE TABLE fleet_leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE fleet_leases;
DROP TABLE drift_sweeps;
DROP TABLE drift_status;
DROP TABLE stack_versions;
DROP TABLE rollout_stacks;
DROP TABLE rollouts;
