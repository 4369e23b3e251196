// Package jobs runs the stack operations as durable jobs on River, a
// PostgreSQL/SQLite job queue: retries with backoff for transient errors,
// bounded concurrency, one operation per stack at a time and in order,
// cancellation that interrupts the CLI, and recovery after a crash.
//
// The jobs table (store) is the source of truth for a job's state; River's
// row only carries the job id. A worker claims the job in the store before it
// runs and finishes it there exactly once, so a job River delivers twice (after
// a rescue or a retry) never runs twice.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// Operations lists every operation a job can run.
var Operations = []string{Plan, runner.Preview, runner.Up, runner.Refresh, runner.Destroy, runner.Drift}

// Runner performs CLI operations (runner.Stacks in production).
type Runner interface {
	Run(ctx context.Context, op runner.Operation) (runner.Result, error)
	// Unlock releases a stack's lock (pulumi cancel).
	Unlock(ctx context.Context, stack string) error
	// SettleCLI waits for a CLI an earlier server started to end, killing
	// that very process at the deadline.
	SettleCLI(ctx context.Context, cli process.Identity, deadline time.Time) (process.Outcome, error)
}

// Config configures the queue.
type Config struct {
	Store       *store.SQLite
	Runner      Runner
	Planner     Planner
	Logger      *slog.Logger
	Concurrency int // operations running at once across all stacks
	// MaxAttempts bounds the retries of transient failures (concurrent update, …).
	MaxAttempts int
	// RetryBase is the first retry's delay; later ones grow quadratically.
	RetryBase time.Duration
	// OrphanWait bounds how long Recover waits for the CLIs of a killed
	// server to stop by themselves (1 minute when zero).
	OrphanWait time.Duration
	// BaseConfig is set on every stack, under the municipality's own config.
	BaseConfig map[string]string
	// OnFinish is called after a job reaches its final state (metrics).
	OnFinish func(store.Job)
}

// Queue owns the River client.
type Queue struct {
	cfg    Config
	client *river.Client[*sql.Tx]

	mu      sync.Mutex
	running map[int64]context.CancelCauseFunc
}

// errCancelled is the cause of a job context cancelled on request.
var errCancelled = errors.New("cancelled on request")

// operationArgs is River's payload: only the job id.
type operationArgs struct {
	JobID int64 `json:"job_id"`
}

func (operationArgs) Kind() string { return "stack_operation" }

type worker struct {
	river.WorkerDefaults[operationArgs]
	q *Queue
}

// Timeout disables River's per-job timeout: an `up` takes as long as AWS does;
// cancellation is explicit.
func (w *worker) Timeout(*river.Job[operationArgs]) time.Duration { return -1 }

func (w *worker) Work(ctx context.Context, job *river.Job[operationArgs]) error {
	return w.q.work(ctx, job.Args.JobID, job.Attempt >= job.MaxAttempts)
}

type retryPolicy struct{ base time.Duration }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	n := time.Duration(job.Attempt)
	d := p.base * n * n
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return time.Now().Add(d)
}

// New migrates River's tables in the store's database and returns the queue,
// not yet started.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Store == nil || cfg.Runner == nil {
		return nil, errors.New("create the job queue: a store and a runner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.OrphanWait <= 0 {
		cfg.OrphanWait = time.Minute
	}
	driver := riversqlite.New(cfg.Store.DB)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("create River's migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("create River's tables: %w", err)
	}
	q := &Queue{cfg: cfg, running: map[int64]context.CancelCauseFunc{}}
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{q: q})
	q.client, err = river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}},
		Workers:           workers,
		MaxAttempts:       cfg.MaxAttempts,
		RetryPolicy:       retryPolicy{base: cfg.RetryBase},
		FetchPollInterval: 200 * time.Millisecond, // SQLite has no LISTEN/NOTIFY
		FetchCooldown:     50 * time.Millisecond,
		// A job left "running" by a crash is failed by Recover; River's own rescue
		// then finds it final and does nothing.
		RescueStuckJobsAfter: time.Hour,
		Logger:               cfg.Logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("create the River client: %w", err)
	}
	return q, nil
}

// Recover finishes the jobs a previous process left running (it was killed):
// each is marked failed with the reason, never run twice, and its stack is
// left unlocked. Call it before Start.
//
// The CLI of such a job got SIGINT when its server died (the parent-death
// signal) and normally stops by itself, releasing the stack's lock as on a
// cancellation. Recover waits for it (until OrphanWait after its own start)
// and kills it if it still runs then; only a CLI that did not stop by itself
// leaves a lock to release.
func (q *Queue) Recover(ctx context.Context) ([]store.Job, error) {
	orphans, err := q.cfg.Store.RunningJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("find interrupted jobs: %w", err)
	}
	deadline := time.Now().Add(q.cfg.OrphanWait)
	var recovered []store.Job
	for _, j := range orphans {
		reason := "interrupted: the server stopped while this operation ran; it was not retried so that it never runs twice. Submit it again"
		if j.Operation != Plan {
			reason += " (" + q.releaseInterrupted(ctx, j, deadline) + ")"
		}
		if _, err := q.cfg.Store.Finish(ctx, j.ID, store.JobFailed, string(runner.ReasonInterrupted), reason, nil); err != nil {
			return recovered, fmt.Errorf("fail interrupted job %d: %w", j.ID, err)
		}
		q.cfg.Logger.Warn("recovered interrupted job", "job", j.ID, "stack", j.Stack, "operation", j.Operation, "reason", reason)
		j.State, j.Reason, j.Error = store.JobFailed, string(runner.ReasonInterrupted), reason
		recovered = append(recovered, j)
	}
	if err := q.releaseClaims(ctx); err != nil {
		return recovered, err
	}
	return recovered, nil
}

// releaseInterrupted settles the CLI of an interrupted job and releases the
// stack's lock if that CLI could not; it says what it did.
func (q *Queue) releaseInterrupted(ctx context.Context, j store.Job, deadline time.Time) string {
	if j.CLI == nil {
		return "no Pulumi CLI had started, so none held the stack's lock"
	}
	cli := *j.CLI
	q.cfg.Logger.Info("waiting for the Pulumi CLI of an interrupted job to stop", "job", j.ID, "stack", j.Stack, "cli", cli.String(), "until", deadline)
	outcome, err := q.cfg.Runner.SettleCLI(ctx, cli, deadline)
	switch {
	case err != nil:
		return fmt.Sprintf("its Pulumi CLI (%s) could not be checked: %v; if the stack stays locked, run pulumi cancel once that CLI has ended", cli, err)
	case outcome == process.Exited:
		return fmt.Sprintf("its Pulumi CLI (%s) stopped by itself and released the stack's lock", cli)
	case outcome == process.Unknown:
		return fmt.Sprintf("its Pulumi CLI (%s) ran on another host, which this server cannot check; if the stack stays locked, run pulumi cancel once that CLI has ended", cli)
	}
	why := fmt.Sprintf("its Pulumi CLI (%s) did not stop within %s and was killed", cli, q.cfg.OrphanWait)
	if outcome == process.DiedWithMachine {
		why = fmt.Sprintf("its Pulumi CLI (%s) ended with the machine", cli)
	}
	return why + "; " + q.unlock(ctx, j.Stack)
}

// unlock releases a stack's lock and says how it went.
func (q *Queue) unlock(ctx context.Context, stack string) string {
	if err := q.cfg.Runner.Unlock(ctx, stack); err != nil {
		q.cfg.Logger.Error("release the stack's lock", "stack", stack, "err", err)
		return "releasing the stack's lock (pulumi cancel) failed: " + err.Error()
	}
	return "the stack's lock was released (pulumi cancel)"
}

// releaseClaims makes River's entries that the previous process held
// ("running" in River's table) available again. Such an entry may belong to a
// job that was only waiting for its turn (River had handed it to a worker that
// found another operation of the stack ahead and was about to snooze it); left
// alone, River would rescue it only after RescueStuckJobsAfter, an hour, and
// the job would sit queued until then. Working an entry again is safe: the
// store decides whether its job runs (a job failed above is final and skipped).
//
// This relies on one server per database, which store.LockServer enforces:
// before Start, no worker of this database is alive.
func (q *Queue) releaseClaims(ctx context.Context) error {
	claimed, err := q.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateRunning).First(10000))
	if err != nil {
		return fmt.Errorf("list claimed queue entries: %w", err)
	}
	if len(claimed.Jobs) == 0 {
		return nil
	}
	params := &riverdriver.JobSetStateIfRunningManyParams{}
	now := time.Now()
	for _, row := range claimed.Jobs {
		// Attempt goes back by one: the interrupted delivery did not run the job
		// (or, if it did, the store has already finished it).
		s := riverdriver.JobSetStateInterrupted(row.ID, now, max(row.Attempt-1, 0), nil)
		params.ID = append(params.ID, s.ID)
		params.Attempt = append(params.Attempt, s.Attempt)
		params.ErrData = append(params.ErrData, s.ErrData)
		params.FinalizedAt = append(params.FinalizedAt, s.FinalizedAt)
		params.MetadataDoMerge = append(params.MetadataDoMerge, s.MetadataDoMerge)
		params.MetadataUpdates = append(params.MetadataUpdates, s.MetadataUpdates)
		params.ScheduledAt = append(params.ScheduledAt, s.ScheduledAt)
		params.State = append(params.State, s.State)
	}
	rows, err := q.client.Driver().GetExecutor().JobSetStateIfRunningMany(ctx, params)
	if err != nil {
		return fmt.Errorf("release claimed queue entries: %w", err)
	}
	q.cfg.Logger.Warn("released queue entries a stopped server had claimed", "count", len(rows))
	return nil
}

// Start starts working jobs.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop interrupts the running operations (the CLI gets SIGINT, then SIGKILL
// after 10 s) and waits for the workers; interrupted jobs go back to the queue.
func (q *Queue) Stop(ctx context.Context) error { return q.client.StopAndCancel(ctx) }

// Enqueue returns the function that queues a job inside the store's transaction.
func (q *Queue) Enqueue(ctx context.Context) store.Enqueue {
	return func(tx *sql.Tx, id int64) error {
		if _, err := q.client.InsertTx(ctx, tx, operationArgs{JobID: id}, nil); err != nil {
			return fmt.Errorf("insert the queue entry of job %d: %w", id, err)
		}
		return nil
	}
}

// Cancel cancels a job: a queued job never starts, a running one is
// interrupted. It returns false when the job had already finished.
func (q *Queue) Cancel(ctx context.Context, id int64) (bool, error) {
	// Holding mu while claiming (work) and cancelling means a job is either
	// still queued in the store or registered here as running, never neither.
	q.mu.Lock()
	defer q.mu.Unlock()
	if cancel, running := q.running[id]; running {
		cancel(errCancelled)
		return true, nil
	}
	return q.cfg.Store.CancelQueued(ctx, id, string(runner.ReasonCancelled), "cancelled on request before it started")
}

func (q *Queue) work(ctx context.Context, id int64, lastAttempt bool) error {
	s := q.cfg.Store
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q.mu.Lock()
	job, ok, err := s.Start(ctx, id)
	if ok {
		q.running[id] = cancel
	}
	q.mu.Unlock()
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("job %d: not in the store", id))
	}
	if err != nil {
		return err
	}
	if !ok {
		if store.Terminal(job.State) {
			return nil // finished (or cancelled) already: never run twice
		}
		return river.JobSnooze(time.Second) // another operation on the stack comes first
	}
	log := q.cfg.Logger.With("job", job.ID, "stack", job.Stack, "operation", job.Operation, "attempt", job.Attempts)
	log.Info("job started")

	defer func() {
		q.mu.Lock()
		delete(q.running, id)
		q.mu.Unlock()
	}()

	result, runErr := q.execute(jobCtx, job, log)
	// Record the outcome even when the job's context was cancelled.
	bg := context.WithoutCancel(ctx)
	finish := func(state string, reason runner.Reason, message string) error {
		if _, err := s.Finish(bg, id, state, string(reason), message, result); err != nil {
			return err
		}
		if q.cfg.OnFinish != nil {
			if j, err := s.GetJob(bg, id); err == nil {
				q.cfg.OnFinish(j)
			}
		}
		log.Info("job finished", "state", state, "reason", reason, "message", message)
		return nil
	}
	// An interrupted CLI releases the stack's lock itself; a killed one could
	// not, and only then is the lock released here: pulumi cancel removes
	// every lock of the stack, whoever holds it.
	lockNote := ""
	if errors.Is(runErr, runner.ErrCLIKilled) {
		lockNote = "; the Pulumi CLI was killed: " + q.unlock(bg, job.Stack)
	}
	switch {
	case runErr == nil:
		if job.RemoveStack {
			if err := s.DeleteMunicipality(bg, job.Code, job.Environment); err != nil {
				return finish(store.JobFailed, runner.ReasonServerError, "stack destroyed and removed, but removing the registration failed: "+err.Error())
			}
		}
		return finish(store.JobSucceeded, "", "")
	case errors.Is(context.Cause(jobCtx), errCancelled):
		return finish(store.JobCancelled, runner.ReasonCancelled, "cancelled on request"+lockNote)
	case ctx.Err() != nil:
		// The server is shutting down: the job goes back to the queue and runs
		// again after the restart.
		if err := s.Requeue(bg, id, "interrupted by a server shutdown; queued again"+lockNote); err != nil {
			return err
		}
		return fmt.Errorf("job %d interrupted by shutdown: %w", id, ctx.Err())
	case auto.IsConcurrentUpdateError(runErr) && !lastAttempt:
		// Someone else holds the stack (another tool or a stale lock): retry with backoff.
		_, message := runner.Explain(runErr)
		if err := s.Requeue(bg, id, "stack busy, retrying: "+message); err != nil {
			return err
		}
		return runErr
	default:
		reason, message := runner.Explain(runErr)
		if err := finish(store.JobFailed, reason, message+lockNote); err != nil {
			return err
		}
		return river.JobCancel(runErr) // a failed program or config does not fix itself
	}
}

func (q *Queue) execute(ctx context.Context, job store.Job, log *slog.Logger) (any, error) {
	m, err := q.cfg.Store.GetMunicipality(ctx, job.Code, job.Environment)
	if err != nil {
		return nil, fmt.Errorf("read the configuration of %s: %w", job.Stack, err)
	}
	cfg := maps.Clone(q.cfg.BaseConfig)
	if cfg == nil {
		cfg = map[string]string{}
	}
	maps.Copy(cfg, m.Config)
	seq, err := q.cfg.Store.LastEventSeq(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	// Events are stored even when the job is being cancelled: they tell how it ended.
	bg := context.WithoutCancel(ctx)
	appendEvent := func(ev json.RawMessage) {
		seq++
		if err := q.cfg.Store.AppendEvent(bg, job.ID, seq, ev); err != nil {
			log.Error("store an event", "err", err)
		}
	}
	if job.Operation == Plan {
		if q.cfg.Planner == nil {
			return nil, errors.New("offline plan is not available in this server")
		}
		res, err := q.cfg.Planner.Plan(ctx, job.Stack, cfg, func(ev PlanEvent) {
			b, err := json.Marshal(ev)
			if err != nil {
				log.Error("encode a plan event", "err", err)
				return
			}
			appendEvent(b)
		})
		if res.Stack == "" {
			return nil, err // failed before it had a result
		}
		return res, err
	}
	return q.cfg.Runner.Run(ctx, runner.Operation{
		Name: job.Operation, Stack: job.Stack, Config: cfg, Remove: job.RemoveStack,
		OnEvent: appendEvent,
		OnCLIStart: func(cli process.Identity, err error) {
			if err == nil {
				err = q.cfg.Store.RecordCLI(bg, job.ID, cli)
			}
			if err != nil {
				// Recovery after a crash will not find this CLI: it then
				// assumes none held the lock.
				log.Error("record the job's Pulumi CLI", "err", err)
			}
		},
	})
}
