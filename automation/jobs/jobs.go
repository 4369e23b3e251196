// Package jobs runs the stack operations as durable jobs: retries with
// backoff for transient errors, bounded concurrency per replica, one
// operation per stack at a time and in order across replicas, cancellation
// that interrupts the CLI, and recovery of the jobs of a replica that died.
//
// The queue is the jobs table itself (store.Claim): a job's row is the one
// source of truth for its state, whichever replica runs it. Each replica
// holds a lease it renews; another replica that finds the lease expired
// takes the dead replica's running jobs over and finishes them as
// interrupted, never running them twice.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// Operations lists every operation a job can run.
var Operations = []store.Operation{Plan, store.OperationPreview, store.OperationUp, store.OperationRefresh, store.OperationDestroy, store.OperationDrift}

// Runner performs CLI operations (runner.Stacks in production).
type Runner interface {
	Run(ctx context.Context, op runner.Operation) (runner.Result, error)
	// ReleaseLock removes the lock one ended CLI of this server left on a
	// stack, and no other (runner.Stacks.ReleaseLock).
	ReleaseLock(ctx context.Context, stack string, cli process.Identity) (int, error)
	// SettleCLI waits for a CLI an earlier server started to end, killing
	// that very process at the deadline.
	SettleCLI(ctx context.Context, cli process.Identity, deadline time.Time) (process.Outcome, error)
}

// Config configures the queue.
type Config struct {
	Store       *store.DB
	Runner      Runner
	Planner     Planner
	Logger      *slog.Logger
	Concurrency int // operations this replica runs at once across all stacks
	// MaxAttempts bounds the retries of transient failures (concurrent update, …).
	MaxAttempts int
	// RetryBase is the first retry's delay; later ones grow quadratically.
	RetryBase time.Duration
	// OrphanWait bounds how long the CLI of a dead replica's job is waited
	// for to stop by itself (1 minute when zero).
	OrphanWait time.Duration
	// LeaseTTL is how long a replica's lease lasts without renewal (15 s when
	// zero): a replica is taken for dead that long after its last renewal.
	LeaseTTL time.Duration
	// PollInterval is how often the queue looks for work when no
	// notification woke it (2 s when zero).
	PollInterval time.Duration
	// Exclusive: this replica is the only one (SQLite, the data directory
	// locked), so Recover takes over the running jobs of every earlier one
	// without waiting for their leases to expire.
	Exclusive bool
	// BaseConfig is set on every stack, under the municipality's own config.
	BaseConfig map[string]string
	// OnFinish is called after a job reaches its final state (metrics).
	OnFinish func(store.Job)
}

// Queue claims and runs jobs for one replica.
type Queue struct {
	cfg     Config
	replica string

	mu      sync.Mutex
	running map[int64]context.CancelCauseFunc

	slots    chan struct{} // one token per operation running
	workers  sync.WaitGroup
	stopLoop context.CancelFunc
	loopDone chan struct{}
	stopBeat context.CancelFunc
	beatDone chan struct{}
	reaping  sync.Mutex
}

// Causes of a job context's cancellation.
var (
	errCancelled = errors.New("cancelled on request")
	errShutdown  = errors.New("the server is shutting down")
	errLeaseLost = errors.New("this replica lost its lease")
)

// New registers the replica (its lease renewed from now on) and returns the
// queue, not yet working jobs.
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
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	q := &Queue{
		cfg:     cfg,
		replica: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(suffix)),
		running: map[int64]context.CancelCauseFunc{},
		slots:   make(chan struct{}, cfg.Concurrency),
	}
	if err := cfg.Store.RegisterReplica(ctx, store.Replica{ID: q.replica, Host: host, PID: os.Getpid(), LeaseUntil: time.Now().Add(cfg.LeaseTTL)}); err != nil {
		return nil, fmt.Errorf("create the job queue: %w", err)
	}
	beatCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopBeat, q.beatDone = cancel, make(chan struct{})
	go q.heartbeat(beatCtx)
	cfg.Logger.Info("replica registered", "replica", q.replica, "concurrency", cfg.Concurrency, "lease", cfg.LeaseTTL)
	return q, nil
}

// Replica is the replica's id, recorded on the jobs it runs.
func (q *Queue) Replica() string { return q.replica }

// heartbeat renews the lease and, every other beat, looks for dead replicas.
// A replica that cannot renew its lease in time stops its operations: by
// then another replica may take its jobs over.
func (q *Queue) heartbeat(ctx context.Context) {
	defer close(q.beatDone)
	every := q.cfg.LeaseTTL / 3
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	renewed := time.Now()
	for beat := 0; ; beat++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := q.cfg.Store.RenewLease(ctx, q.replica, time.Now().Add(q.cfg.LeaseTTL))
		switch {
		case err == nil:
			renewed = time.Now()
		case errors.Is(err, store.ErrLeaseLost) || time.Since(renewed) > q.cfg.LeaseTTL*2/3:
			q.cfg.Logger.Error("the replica's lease is lost: stopping its operations", "replica", q.replica, "err", err)
			q.cancelAll(errLeaseLost)
			if errors.Is(err, store.ErrLeaseLost) {
				_ = q.cfg.Store.RemoveReplica(ctx, q.replica)
				if err := q.cfg.Store.RegisterReplica(ctx, store.Replica{ID: q.replica, PID: os.Getpid(), LeaseUntil: time.Now().Add(q.cfg.LeaseTTL)}); err == nil {
					renewed = time.Now()
				}
			}
		default:
			q.cfg.Logger.Warn("renew the replica's lease", "replica", q.replica, "err", err)
		}
		if beat%2 == 1 {
			go func() {
				if _, err := q.reap(ctx, false); err != nil && ctx.Err() == nil {
					q.cfg.Logger.Error("take over the jobs of dead replicas", "err", err)
				}
			}()
		}
	}
}

func (q *Queue) cancelAll(cause error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, cancel := range q.running {
		cancel(cause)
	}
}

// Recover finishes the jobs that dead replicas left running: with
// Config.Exclusive, those of every earlier process of this server; else
// those of replicas whose lease has expired. Each is marked failed with the
// reason interrupted, never run twice, and its stack is left unlocked. Call
// it before Start; later, the heartbeat does the same for replicas that die.
//
// The CLI of such a job got SIGINT when its replica died (the parent-death
// signal) and normally stops by itself, releasing the stack's lock as on a
// cancellation. Recover waits for it (until OrphanWait) and kills it if it
// still runs then; only a CLI that did not stop by itself leaves a lock to
// release: that CLI's own lock, never another holder's.
func (q *Queue) Recover(ctx context.Context) ([]store.Job, error) {
	return q.reap(ctx, q.cfg.Exclusive)
}

func (q *Queue) reap(ctx context.Context, everyOther bool) ([]store.Job, error) {
	q.reaping.Lock()
	defer q.reaping.Unlock()
	orphans, err := q.cfg.Store.TakeOverOrphans(ctx, q.replica, everyOther)
	if err != nil {
		return nil, fmt.Errorf("find interrupted jobs: %w", err)
	}
	deadline := time.Now().Add(q.cfg.OrphanWait)
	var recovered []store.Job
	for _, j := range orphans {
		reason := "interrupted: the server running this operation stopped; it was not retried so that it never runs twice. Submit it again"
		if j.Operation != Plan {
			reason += " (" + q.releaseInterrupted(ctx, j, deadline) + ")"
		}
		if _, err := q.cfg.Store.Finish(ctx, j.ID, store.JobFailed, string(runner.ReasonInterrupted), reason, nil); err != nil {
			return recovered, fmt.Errorf("fail interrupted job %d: %w", j.ID, err)
		}
		q.cfg.Logger.Warn("recovered interrupted job", "job", j.ID, "stack", j.Stack, "operation", j.Operation, "reason", reason)
		j.State, j.Reason, j.Error = store.JobFailed, string(runner.ReasonInterrupted), reason
		if q.cfg.OnFinish != nil {
			q.cfg.OnFinish(j)
		}
		recovered = append(recovered, j)
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
		// Another host: its replica stops its CLIs when it cannot renew its
		// lease, and the kernel interrupts them when it dies; by the deadline
		// they have ended, and only a lock they could not release is left.
		select {
		case <-ctx.Done():
			return "the server stopped before the stack's lock could be checked; if it stays locked, run pulumi cancel"
		case <-time.After(time.Until(deadline)):
		}
		return fmt.Sprintf("its Pulumi CLI (%s) ran on another host, whose replica had lost its lease %s before; ", cli, q.cfg.OrphanWait) + q.unlock(ctx, j.Stack, &cli)
	}
	why := fmt.Sprintf("its Pulumi CLI (%s) did not stop within %s and was killed", cli, q.cfg.OrphanWait)
	if outcome == process.DiedWithMachine {
		why = fmt.Sprintf("its Pulumi CLI (%s) ended with the machine", cli)
	}
	return why + "; " + q.unlock(ctx, j.Stack, &cli)
}

// unlock releases the lock a killed CLI of this server left on a stack,
// never another holder's (pulumi cancel would remove them all), and says how
// it went.
func (q *Queue) unlock(ctx context.Context, stack string, cli *process.Identity) string {
	if cli == nil {
		return "its Pulumi CLI was not recorded, so no lock was removed; if the stack stays locked, run pulumi cancel once no other update runs"
	}
	n, err := q.cfg.Runner.ReleaseLock(ctx, stack, *cli)
	if err != nil {
		q.cfg.Logger.Error("release the lock of the job's Pulumi CLI", "stack", stack, "cli", cli.String(), "err", err)
		return "the lock its Pulumi CLI left could not be released (" + err.Error() + "); if the stack stays locked, run pulumi cancel once no other update runs"
	}
	if n == 0 {
		return "its Pulumi CLI left no lock on the stack"
	}
	return "the stack's lock its Pulumi CLI held was released; other holders' locks were left"
}

// Start starts claiming and working jobs, up to Concurrency at a time.
func (q *Queue) Start(ctx context.Context) error {
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopLoop, q.loopDone = cancel, make(chan struct{})
	wake, unsubscribe := q.cfg.Store.Subscribe(store.TopicJobs)
	freed := make(chan struct{}, 1)
	go func() {
		defer close(q.loopDone)
		defer unsubscribe()
		ticker := time.NewTicker(q.cfg.PollInterval)
		defer ticker.Stop()
		for {
			q.claimAll(loopCtx, freed)
			q.cancelRequested(loopCtx)
			select {
			case <-loopCtx.Done():
				return
			case <-wake:
			case <-freed:
			case <-ticker.C:
			}
		}
	}()
	return nil
}

// claimAll claims jobs while this replica has free slots and jobs are claimable.
func (q *Queue) claimAll(ctx context.Context, freed chan struct{}) {
	for {
		select {
		case q.slots <- struct{}{}:
		default:
			return // every slot busy: a finishing job wakes the loop
		}
		job, err := q.cfg.Store.Claim(ctx, q.replica)
		if err != nil {
			<-q.slots
			if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
				q.cfg.Logger.Error("claim a job", "err", err)
			}
			return
		}
		jobCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		q.mu.Lock()
		q.running[job.ID] = cancel
		q.mu.Unlock()
		q.workers.Add(1)
		go func() {
			defer q.workers.Done()
			defer func() {
				q.mu.Lock()
				delete(q.running, job.ID)
				q.mu.Unlock()
				cancel(nil)
				<-q.slots
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
			if err := q.work(jobCtx, job); err != nil {
				q.cfg.Logger.Error("job", "job", job.ID, "err", err)
			}
		}()
	}
}

// cancelRequested interrupts the jobs of this replica whose cancellation was
// requested through another replica.
func (q *Queue) cancelRequested(ctx context.Context) {
	ids, err := q.cfg.Store.CancelRequested(ctx, q.replica)
	if err != nil {
		if ctx.Err() == nil {
			q.cfg.Logger.Error("look for cancellations", "err", err)
		}
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range ids {
		if cancel, ok := q.running[id]; ok {
			cancel(errCancelled)
		}
	}
}

// Stop hands the running jobs back: their operations are interrupted (the
// CLI gets SIGINT, then SIGKILL after 10 s) and the jobs queued again for any
// replica; then the replica's record is removed.
func (q *Queue) Stop(ctx context.Context) error {
	if q.stopLoop != nil {
		q.stopLoop()
		<-q.loopDone
	}
	q.cancelAll(errShutdown)
	done := make(chan struct{})
	go func() { q.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("wait for the running operations to stop: %w", ctx.Err())
	}
	q.stopBeat()
	<-q.beatDone
	q.reaping.Lock() // a takeover in progress finishes first
	defer q.reaping.Unlock()
	return q.cfg.Store.RemoveReplica(context.WithoutCancel(ctx), q.replica)
}

// Enqueue returns the function that wakes the workers of every replica when
// the transaction recording a job commits.
func (q *Queue) Enqueue(ctx context.Context) store.Enqueue {
	return func(tx *sql.Tx, id int64) error { return q.cfg.Store.WakeWorkers(ctx, tx) }
}

// Cancel cancels a job: a queued job never starts, a running one is
// interrupted, whichever replica runs it. It returns false when the job had
// already finished.
func (q *Queue) Cancel(ctx context.Context, id int64) (bool, error) {
	q.mu.Lock()
	cancel, running := q.running[id]
	q.mu.Unlock()
	if running {
		cancel(errCancelled)
		return true, nil
	}
	ok, err := q.cfg.Store.CancelQueued(ctx, id, string(runner.ReasonCancelled), "cancelled on request before it started")
	if ok || err != nil {
		return ok, err
	}
	// Running on another replica (or claimed here since): its replica sees
	// the request and interrupts it.
	return q.cfg.Store.RequestCancel(ctx, id)
}

// retryDelay is the wait before attempt n+1 after a transient failure of
// attempt n: quadratic, at most 5 minutes.
func (q *Queue) retryDelay(n int) time.Duration {
	d := q.cfg.RetryBase * time.Duration(n*n)
	return min(d, 5*time.Minute)
}

func (q *Queue) work(jobCtx context.Context, job store.Job) error {
	s := q.cfg.Store
	id := job.ID
	log := q.cfg.Logger.With("job", job.ID, "stack", job.Stack, "operation", job.Operation, "attempt", job.Attempts, "replica", q.replica)
	log.Info("job started")

	result, runErr := q.execute(jobCtx, job, log)
	// Record the outcome even when the job's context was cancelled.
	bg := context.WithoutCancel(jobCtx)
	finish := func(state store.JobState, reason runner.Reason, message string) error {
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
	cause := context.Cause(jobCtx)
	// An interrupted CLI releases the stack's lock itself; a killed one could
	// not, and only then is its own lock released here (never another
	// holder's).
	lockNote := ""
	if errors.Is(runErr, runner.ErrCLIKilled) && !errors.Is(cause, errLeaseLost) {
		var cli *process.Identity
		if recorded, err := s.GetJob(bg, id); err == nil {
			cli = recorded.CLI
		}
		lockNote = "; the Pulumi CLI was killed: " + q.unlock(bg, job.Stack, cli)
	}
	switch {
	case errors.Is(cause, errLeaseLost):
		// Another replica took the job over (or will): it finishes it.
		log.Warn("job abandoned: this replica lost its lease", "err", runErr)
		return nil
	case runErr == nil:
		if job.RemoveStack {
			if _, err := s.DeleteMunicipality(bg, job.Code, job.Environment, job.Generation); err != nil {
				return finish(store.JobFailed, runner.ReasonServerError, "stack destroyed and removed, but removing the registration failed: "+err.Error())
			}
		}
		return finish(store.JobSucceeded, "", "")
	case errors.Is(cause, errCancelled):
		return finish(store.JobCancelled, runner.ReasonCancelled, "cancelled on request"+lockNote)
	case errors.Is(cause, errShutdown):
		// The replica is stopping: the job goes back to the queue, for any
		// replica (this one after its restart).
		log.Info("job handed back: the server is shutting down")
		return s.RequeueAfter(bg, id, q.replica, time.Time{}, "interrupted by a server shutdown; queued again"+lockNote)
	case auto.IsConcurrentUpdateError(runErr) && job.Attempts < q.cfg.MaxAttempts:
		// Someone else holds the stack (another tool or a stale lock): retry with backoff.
		_, message := runner.Explain(runErr)
		return s.RequeueAfter(bg, id, q.replica, time.Now().Add(q.retryDelay(job.Attempts)), "stack busy, retrying: "+message)
	default:
		reason, message := runner.Explain(runErr)
		if reason == runner.ReasonServerError || reason == runner.ReasonCLIError {
			// The client gets the reason and a short message; the detail
			// goes to the log (and the CLI's output to the events) under a
			// correlation id the message names.
			ref := correlationID()
			log.Error("job failed", "correlation", ref, "reason", reason, "err", runErr)
			message += " (correlation id " + ref + ": the server's log has the detail)"
		}
		return finish(store.JobFailed, reason, message+lockNote)
	}
}

// correlationID names one failure in the job's message and the server's log.
func correlationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (q *Queue) execute(ctx context.Context, job store.Job, log *slog.Logger) (any, error) {
	m, err := q.cfg.Store.GetMunicipality(ctx, job.Code, job.Environment)
	if err != nil {
		return nil, fmt.Errorf("read the configuration of %s: %w", job.Stack, err)
	}
	if job.RemoveStack && (m.Generation != job.Generation || m.State != store.MunicipalityDeleting) {
		// A destroy queued for an earlier registration of the stack: the
		// stack now belongs to another one, which it must not destroy.
		return nil, fmt.Errorf("destroy %s: the registration this destroy was queued for is gone (the stack was registered again); nothing was destroyed", job.Stack)
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
		Name: string(job.Operation), Stack: job.Stack, Config: cfg, Remove: job.RemoveStack,
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
