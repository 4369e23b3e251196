-- +goose Up
CREATE TABLE municipalities (
	code        TEXT NOT NULL,
	environment TEXT NOT NULL,
	name        TEXT NOT NULL,
	prefecture  TEXT NOT NULL,
	config      TEXT NOT NULL,
	state       TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	PRIMARY KEY (code, environment)
);
CREATE TABLE jobs (
	id             BIGSERIAL PRIMARY KEY,
	stack          TEXT NOT NULL,
	code           TEXT NOT NULL,
	environment    TEXT NOT NULL,
	operation      TEXT NOT NULL,
	remove_stack   BOOLEAN NOT NULL DEFAULT FALSE,
	state          TEXT NOT NULL,
	attempts       INTEGER NOT NULL DEFAULT 0,
	reason         TEXT NOT NULL DEFAULT '',
	error          TEXT NOT NULL DEFAULT '',
	result         TEXT NOT NULL DEFAULT '',
	created_by     TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	started_at     TEXT NOT NULL DEFAULT '',
	finished_at    TEXT NOT NULL DEFAULT '',
	cli_pid        BIGINT NOT NULL DEFAULT 0,
	cli_start_time BIGINT NOT NULL DEFAULT 0,
	cli_boot_id    TEXT NOT NULL DEFAULT '',
	cli_host       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_stack_state ON jobs (stack, state, id);
CREATE TABLE job_events (
	job_id BIGINT NOT NULL REFERENCES jobs (id),
	seq    INTEGER NOT NULL,
	at     TEXT NOT NULL,
	event  TEXT NOT NULL,
	PRIMARY KEY (job_id, seq)
);
CREATE TABLE tokens (
	id          TEXT PRIMARY KEY,
	hash        TEXT NOT NULL,
	scope       TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit (
	id       BIGSERIAL PRIMARY KEY,
	at       TEXT NOT NULL,
	token_id TEXT NOT NULL,
	scope    TEXT NOT NULL,
	method   TEXT NOT NULL,
	path     TEXT NOT NULL,
	status   INTEGER NOT NULL,
	detail   TEXT NOT NULL
);
CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	token_id   TEXT NOT NULL REFERENCES tokens (id),
	csrf_token TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);

-- +goose Down
DROP TABLE sessions;
DROP TABLE audit;
DROP TABLE tokens;
DROP TABLE job_events;
DROP TABLE jobs;
DROP TABLE municipalities;
