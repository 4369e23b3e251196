package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Store is what the fleet keeps and reads in the server's database
// (*store.DB): the stacks and their jobs, and the fleet's own tables.
type Store interface {
	ListMunicipalities(ctx context.Context, code string) ([]store.Municipality, error)
	GetMunicipality(ctx context.Context, code, environment string) (store.Municipality, error)
	// CreateJob is the one way jobs are made, as the API's job handler makes them.
	CreateJob(ctx context.Context, j store.Job, enqueue store.Enqueue) (store.Job, error)
	GetJob(ctx context.Context, id int64) (store.Job, error)
	LastJob(ctx context.Context, stack string, operations ...store.Operation) (store.Job, error)
	LatestJobBy(ctx context.Context, stack, creator string, after int64) (store.Job, error)
	BusyStacks(ctx context.Context, except ...string) (map[string]bool, error)

	CreateRollout(ctx context.Context, r store.Rollout, stacks []store.RolloutStack) (store.Rollout, error)
	GetRollout(ctx context.Context, id string) (store.Rollout, error)
	ListRollouts(ctx context.Context, states ...string) ([]store.Rollout, error)
	ActiveRollouts(ctx context.Context) ([]store.Rollout, error)
	RolloutStacks(ctx context.Context, id string) ([]store.RolloutStack, error)
	SetRolloutState(ctx context.Context, id string, from []string, state, reason string) (bool, error)
	ResumeRollout(ctx context.Context, id string, failures, violations int) (bool, error)
	SetRolloutWave(ctx context.Context, id string, wave int) error
	SetRolloutStack(ctx context.Context, id string, st store.RolloutStack, from ...string) (bool, error)
	CancelPendingStacks(ctx context.Context, id string) (int, error)

	UnrecordedDeploys(ctx context.Context, operation string) ([]store.Job, error)
	RecordVersion(ctx context.Context, v store.StackVersion) error
	StackVersions(ctx context.Context) (map[string]store.StackVersion, error)

	DriftStatuses(ctx context.Context) (map[string]store.Drift, error)
	MarkDriftCheck(ctx context.Context, m store.Municipality, job int64) error
	RecordDrift(ctx context.Context, d store.Drift) error
	ClearDriftCheck(ctx context.Context, stack string) error
	UncheckedDriftJobs(ctx context.Context, operation string) ([]store.Job, error)
	DriftSweeps(ctx context.Context) (map[string]store.DriftSweep, error)
	PutDriftSweep(ctx context.Context, d store.DriftSweep) error

	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Queue queues a job in the transaction that records it (jobs.Queue).
type Queue interface {
	Enqueue(ctx context.Context) store.Enqueue
}

// DriftCreator is the CreatedBy of the scheduled drift checks.
const DriftCreator = "drift-schedule"

// leaseName is the fleet controller's lease row.
const leaseName = "fleet-controller"

// Config configures the fleet controller.
type Config struct {
	Store  Store
	Queue  Queue
	Logger *slog.Logger
	// Version is the program version this server deploys (Version()).
	Version string
	// Holder names this replica in the lease (random when empty).
	Holder string
	// DriftEvery is each environment's drift schedule: how often every
	// stack of it is checked. An environment not listed is not checked.
	DriftEvery map[string]time.Duration
	// DriftBatch bounds the drift checks queued or running at once (4 when zero).
	DriftBatch int
	// Tick is how often the controller looks at the fleet (5 s when zero).
	Tick time.Duration
	// LeaseTTL is how long a replica's lease lasts unrenewed (30 s when zero).
	LeaseTTL time.Duration
	// Cost estimates a stack's fixed monthly cost for the fleet status; nil
	// leaves the cost out.
	Cost func(ctx context.Context, m store.Municipality) (*Cost, error)
}

// Controller runs the rollouts and the drift schedule, and answers the
// fleet's status.
type Controller struct {
	cfg  Config
	wake chan struct{}
}

// New returns a controller, not yet running.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("create the fleet controller: a store and a queue are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = Version()
	}
	if cfg.Holder == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("name this replica: %w", err)
		}
		cfg.Holder = hex.EncodeToString(b)
	}
	if cfg.DriftBatch <= 0 {
		cfg.DriftBatch = 4
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	for env, every := range cfg.DriftEvery {
		if every <= 0 {
			return nil, fmt.Errorf("drift schedule of %s: %s is not a positive interval", env, every)
		}
	}
	return &Controller{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// CurrentVersion is the version this server deploys.
func (c *Controller) CurrentVersion() string { return c.cfg.Version }

// Wake makes the controller look at the fleet now rather than at its next tick.
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run runs the controller until ctx ends, then gives up its lease so that
// another replica takes over at once.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	for {
		if err := c.Step(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Error("fleet controller", "err", err)
		}
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return c.cfg.Store.ReleaseLease(bg, leaseName, c.cfg.Holder)
		case <-t.C:
		case <-c.wake:
		}
	}
}

// Step looks at the fleet once, if this replica holds the lease: it records
// the versions deployed and the drift checks finished, advances the
// rollouts and the drift schedule. It reports whether it held the lease.
func (c *Controller) Step(ctx context.Context) error {
	held, err := c.cfg.Store.AcquireLease(ctx, leaseName, c.cfg.Holder, c.cfg.LeaseTTL)
	if err != nil || !held {
		return err
	}
	var errs []error
	errs = append(errs, c.recordVersions(ctx), c.recordDrift(ctx))
	rollouts, err := c.cfg.Store.ActiveRollouts(ctx)
	errs = append(errs, err)
	for _, r := range rollouts {
		if err := c.advance(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("rollout %s: %w", r.ID, err))
		}
	}
	errs = append(errs, c.scheduleDrift(ctx))
	return errors.Join(errs...)
}

// recordVersions records the version of every up that succeeded since the
// last look: the server that ran it deploys c.cfg.Version (a rollout of
// another version stops before it starts a stack).
func (c *Controller) recordVersions(ctx context.Context) error {
	deploys, err := c.cfg.Store.UnrecordedDeploys(ctx, runner.Up)
	if err != nil {
		return err
	}
	for _, j := range deploys {
		if err := c.cfg.Store.RecordVersion(ctx, store.StackVersion{Stack: j.Stack, Version: c.cfg.Version, JobID: j.ID, DeployedAt: j.FinishedAt}); err != nil {
			return err
		}
	}
	return nil
}

// mandatoryIn counts the mandatory violations a job's result lists (a plan,
// a preview or an up: the same shape).
func mandatoryIn(j store.Job) (mandatory, advisory int) {
	var res struct {
		Violations []rules.Violation `json:"violations"`
	}
	if len(j.Result) == 0 || json.Unmarshal(j.Result, &res) != nil {
		return 0, 0
	}
	for _, v := range res.Violations {
		// The level travels as text: EnforcementLevel is not in the JSON.
		if l, err := rules.ParseLevel(v.Level); err == nil {
			v.EnforcementLevel = l
		}
		if v.Mandatory() {
			mandatory++
		} else {
			advisory++
		}
	}
	return mandatory, advisory
}

// outcome is how a rollout's stack ended, from its finished job.
func outcome(st store.RolloutStack, j store.Job) store.RolloutStack {
	st.JobID = j.ID
	if j.State == store.JobSucceeded {
		st.State, st.Reason = store.StackSucceeded, ""
		return st
	}
	st.State, st.Reason = store.StackFailed, j.Reason
	if st.Reason == "" {
		st.Reason = string(j.State)
	}
	st.MandatoryViolations, _ = mandatoryIn(j)
	return st
}

// violated reports whether a failed stack stopped on a mandatory violation.
func violated(st store.RolloutStack) bool {
	return st.State == store.StackFailed && (st.MandatoryViolations > 0 || st.Reason == string(runner.ReasonPolicyViolation))
}

// Tally counts a rollout's stacks by state, and its failures.
type Tally struct {
	ByState    map[string]int `json:"byState"`
	Failed     int            `json:"failed"`
	Violations int            `json:"violations"` // failed stacks with a mandatory violation
}

func tally(stacks []store.RolloutStack) Tally {
	t := Tally{ByState: map[string]int{}}
	for _, st := range stacks {
		t.ByState[st.State]++
		if st.State == store.StackFailed {
			t.Failed++
		}
		if violated(st) {
			t.Violations++
		}
	}
	return t
}

// follow brings the rollout's stacks up to date with their jobs: a started
// stack's job ended, or a stack whose job was being created when the
// server stopped gets that job (or starts again if it was never made).
func (c *Controller) follow(ctx context.Context, r store.Rollout, stacks []store.RolloutStack) error {
	s := c.cfg.Store
	for i, st := range stacks {
		switch st.State {
		case store.StackStarting:
			j, err := s.LatestJobBy(ctx, st.Stack, store.RolloutCreator(r.ID), 0)
			next := st
			switch {
			case errors.Is(err, store.ErrNotFound) && r.State == store.RolloutCancelled:
				next.State = store.StackCancelled // never started, and never will
			case errors.Is(err, store.ErrNotFound):
				next.State = store.StackPending
			case err != nil:
				return err
			default:
				next.State, next.JobID = store.StackRunning, j.ID
			}
			if _, err := s.SetRolloutStack(ctx, r.ID, next, store.StackStarting); err != nil {
				return err
			}
			stacks[i] = next
		case store.StackRunning:
			j, err := s.GetJob(ctx, st.JobID)
			if err != nil {
				return err
			}
			if !store.Terminal(j.State) {
				continue
			}
			next := outcome(st, j)
			if _, err := s.SetRolloutStack(ctx, r.ID, next, store.StackRunning); err != nil {
				return err
			}
			stacks[i] = next
			c.cfg.Logger.Info("rollout stack finished", "rollout", r.ID, "stack", st.Stack, "job", j.ID, "state", next.State, "reason", next.Reason)
		}
	}
	return nil
}

// advance follows a rollout's jobs and, while it runs, stops it on its
// failure budget or a mandatory violation, starts the next stacks of its
// current wave up to maxConcurrency, and finishes it after its last wave.
func (c *Controller) advance(ctx context.Context, r store.Rollout) error {
	s := c.cfg.Store
	stacks, err := s.RolloutStacks(ctx, r.ID)
	if err != nil {
		return err
	}
	if err := c.follow(ctx, r, stacks); err != nil {
		return err
	}
	if r.State != store.RolloutRunning {
		return nil // paused, stopped or cancelled: only follow the jobs started
	}
	t := tally(stacks)
	stop := ""
	switch {
	case t.Violations > r.ViolationsAccepted:
		stop = "a stack failed on a mandatory policy violation"
	case t.Failed-r.FailuresAccepted > r.FailureBudget:
		stop = fmt.Sprintf("%d stacks failed, more than the failure budget of %d", t.Failed-r.FailuresAccepted, r.FailureBudget)
	case r.Version != c.cfg.Version:
		stop = fmt.Sprintf("this rollout deploys version %s but the server now runs %s: create a new rollout", r.Version, c.cfg.Version)
	}
	if stop != "" {
		if _, err := s.SetRolloutState(ctx, r.ID, []string{store.RolloutRunning}, store.RolloutStopped, stop); err != nil {
			return err
		}
		c.cfg.Logger.Warn("rollout stopped", "rollout", r.ID, "reason", stop)
		return nil
	}
	wave, active := -1, 0
	for _, st := range stacks {
		switch st.State {
		case store.StackStarting, store.StackRunning:
			active++
			fallthrough
		case store.StackPending:
			if wave < 0 || st.Wave < wave {
				wave = st.Wave
			}
		}
	}
	if wave < 0 {
		final := store.RolloutSucceeded
		if t.Failed > 0 {
			final = store.RolloutFailed
		}
		_, err := s.SetRolloutState(ctx, r.ID, []string{store.RolloutRunning}, final, "")
		c.cfg.Logger.Info("rollout finished", "rollout", r.ID, "state", final, "failed", t.Failed)
		return err
	}
	if wave != r.CurrentWave {
		if err := s.SetRolloutWave(ctx, r.ID, wave); err != nil {
			return err
		}
		c.cfg.Logger.Info("rollout wave started", "rollout", r.ID, "wave", wave)
	}
	for _, st := range stacks {
		if active >= r.MaxConcurrency {
			break
		}
		if st.Wave != wave || st.State != store.StackPending {
			continue
		}
		started, err := c.start(ctx, r, st)
		if err != nil {
			return err
		}
		if !started {
			return nil // paused or cancelled meanwhile
		}
		active++
	}
	return nil
}

// start creates a rollout stack's job. The stack is marked starting first,
// so that a job made just before a crash is found again (by its creator)
// rather than made twice.
func (c *Controller) start(ctx context.Context, r store.Rollout, st store.RolloutStack) (bool, error) {
	s := c.cfg.Store
	st.State = store.StackStarting
	if ok, err := s.SetRolloutStack(ctx, r.ID, st, store.StackPending); err != nil || !ok {
		return false, err
	}
	current, err := s.GetRollout(ctx, r.ID)
	if err != nil {
		return false, err
	}
	if current.State != store.RolloutRunning { // paused or cancelled since this pass began
		st.State = store.StackPending
		if current.State == store.RolloutCancelled {
			st.State = store.StackCancelled // the cancel did not see it: it was starting
		}
		_, err := s.SetRolloutStack(ctx, r.ID, st, store.StackStarting)
		return false, err
	}
	m, err := s.GetMunicipality(ctx, st.Code, st.Environment)
	if err == nil && m.State != store.MunicipalityActive {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		st.State, st.Reason = store.StackFailed, "not_registered"
		_, err := s.SetRolloutStack(ctx, r.ID, st, store.StackStarting)
		return true, err
	}
	if err != nil {
		return false, err
	}
	job, err := s.CreateJob(ctx, store.Job{Stack: st.Stack, Code: st.Code, Environment: st.Environment, Operation: r.Operation,
		CreatedBy: store.RolloutCreator(r.ID)}, c.cfg.Queue.Enqueue(ctx))
	if err != nil {
		st.State = store.StackPending
		if _, err2 := s.SetRolloutStack(ctx, r.ID, st, store.StackStarting); err2 != nil {
			return false, errors.Join(err, err2)
		}
		return false, err
	}
	st.State, st.JobID = store.StackRunning, job.ID
	_, err = s.SetRolloutStack(ctx, r.ID, st, store.StackStarting)
	c.cfg.Logger.Info("rollout stack started", "rollout", r.ID, "stack", st.Stack, "wave", st.Wave, "job", job.ID)
	return true, err
}

// ErrNoStacks is a rollout whose selector matches no registered stack.
var ErrNoStacks = errors.New("the selector matches no registered stack")

// ErrState is a pause, resume or cancel the rollout's state does not allow.
var ErrState = errors.New("not possible in the rollout's state")

// CreateRollout validates a request, selects and plans its stacks and
// records the rollout; the controller starts it.
func (c *Controller) CreateRollout(ctx context.Context, req RolloutRequest, createdBy string) (RolloutView, error) {
	if err := req.Validate(); err != nil {
		return RolloutView{}, err
	}
	all, err := c.cfg.Store.ListMunicipalities(ctx, "")
	if err != nil {
		return RolloutView{}, err
	}
	versions, err := c.cfg.Store.StackVersions(ctx)
	if err != nil {
		return RolloutView{}, err
	}
	selected := req.Selector.Select(all, versions)
	if len(selected) == 0 {
		return RolloutView{}, &FieldError{"selector", ErrNoStacks.Error() + ": register the municipalities first, or widen the selector"}
	}
	if req.Canary != nil {
		for i, name := range req.Canary.Stacks {
			if !slices.ContainsFunc(selected, func(m store.Municipality) bool { return matches([]string{name}, m) }) {
				return RolloutView{}, &FieldError{fmt.Sprintf("canary.stacks[%d]", i), fmt.Sprintf("%q is not among the selected stacks", name)}
			}
		}
	}
	planned := Plan(selected, req.Canary, req.Waves)
	r, err := c.cfg.Store.CreateRollout(ctx, store.Rollout{
		Operation: req.Operation, Selector: encode(req.Selector), Waves: encode(struct {
			Canary *Canary `json:"canary,omitempty"`
			Waves  []Wave  `json:"waves,omitempty"`
		}{req.Canary, req.Waves}),
		MaxConcurrency: req.MaxConcurrency, FailureBudget: req.FailureBudget, Version: c.cfg.Version, CreatedBy: createdBy,
	}, planned)
	if err != nil {
		return RolloutView{}, err
	}
	c.cfg.Logger.Info("rollout created", "rollout", r.ID, "operation", r.Operation, "stacks", len(planned), "version", r.Version)
	c.Wake()
	return c.Rollout(ctx, r.ID)
}

// WaveView is one wave of a rollout with its stacks.
type WaveView struct {
	Wave   int                  `json:"wave"`
	Canary bool                 `json:"canary"`
	State  string               `json:"state"` // pending, running, done
	Stacks []store.RolloutStack `json:"stacks"`
}

// RolloutView is a rollout with its waves, each stack's job, and its tally.
type RolloutView struct {
	store.Rollout
	Tally Tally      `json:"tally"`
	Total int        `json:"total"`
	Waves []WaveView `json:"waves"`
}

// Rollout returns a rollout with its waves (store.ErrNotFound when none).
func (c *Controller) Rollout(ctx context.Context, id string) (RolloutView, error) {
	r, err := c.cfg.Store.GetRollout(ctx, id)
	if err != nil {
		return RolloutView{}, err
	}
	stacks, err := c.cfg.Store.RolloutStacks(ctx, id)
	if err != nil {
		return RolloutView{}, err
	}
	return view(r, stacks), nil
}

func view(r store.Rollout, stacks []store.RolloutStack) RolloutView {
	var spec struct {
		Canary *Canary `json:"canary"`
	}
	_ = json.Unmarshal(r.Waves, &spec)
	hasCanary := spec.Canary != nil && (spec.Canary.Count > 0 || len(spec.Canary.Stacks) > 0)
	v := RolloutView{Rollout: r, Tally: tally(stacks), Total: len(stacks), Waves: []WaveView{}}
	for _, st := range stacks {
		if n := len(v.Waves); n == 0 || v.Waves[n-1].Wave != st.Wave {
			v.Waves = append(v.Waves, WaveView{Wave: st.Wave, Canary: hasCanary && st.Wave == 0, Stacks: []store.RolloutStack{}})
		}
		w := &v.Waves[len(v.Waves)-1]
		w.Stacks = append(w.Stacks, st)
	}
	for i := range v.Waves {
		w := &v.Waves[i]
		started, open := false, false
		for _, st := range w.Stacks {
			started = started || st.State != store.StackPending && st.State != store.StackCancelled
			open = open || st.State == store.StackPending || st.State == store.StackStarting || st.State == store.StackRunning
		}
		switch {
		case !started && open:
			w.State = "pending"
		case open:
			w.State = "running"
		default:
			w.State = "done"
		}
	}
	return v
}

// Rollouts lists the rollouts, newest first.
func (c *Controller) Rollouts(ctx context.Context) ([]store.Rollout, error) {
	return c.cfg.Store.ListRollouts(ctx)
}

// Pause stops a running rollout from starting more stacks; its running jobs go on.
func (c *Controller) Pause(ctx context.Context, id string) (RolloutView, error) {
	return c.transition(ctx, id, func(r store.Rollout) (bool, error) {
		return c.cfg.Store.SetRolloutState(ctx, id, []string{store.RolloutRunning}, store.RolloutPaused, "paused on request")
	})
}

// Resume continues a paused or stopped rollout; the failures so far are
// accepted, and the failure budget counts again from there.
func (c *Controller) Resume(ctx context.Context, id string) (RolloutView, error) {
	return c.transition(ctx, id, func(r store.Rollout) (bool, error) {
		stacks, err := c.cfg.Store.RolloutStacks(ctx, id)
		if err != nil {
			return false, err
		}
		t := tally(stacks)
		return c.cfg.Store.ResumeRollout(ctx, id, t.Failed, t.Violations)
	})
}

// Cancel ends a rollout: its pending stacks never start; jobs already
// running finish and are recorded.
func (c *Controller) Cancel(ctx context.Context, id string) (RolloutView, error) {
	return c.transition(ctx, id, func(r store.Rollout) (bool, error) {
		ok, err := c.cfg.Store.SetRolloutState(ctx, id, []string{store.RolloutRunning, store.RolloutPaused, store.RolloutStopped},
			store.RolloutCancelled, "cancelled on request")
		if err != nil || !ok {
			return ok, err
		}
		_, err = c.cfg.Store.CancelPendingStacks(ctx, id)
		return true, err
	})
}

func (c *Controller) transition(ctx context.Context, id string, change func(store.Rollout) (bool, error)) (RolloutView, error) {
	r, err := c.cfg.Store.GetRollout(ctx, id)
	if err != nil {
		return RolloutView{}, err
	}
	ok, err := change(r)
	if err != nil {
		return RolloutView{}, err
	}
	v, err := c.Rollout(ctx, id)
	if err != nil {
		return RolloutView{}, err
	}
	if !ok {
		return v, fmt.Errorf("rollout %s is %s: %w", id, v.State, ErrState)
	}
	c.Wake()
	return v, nil
}

// sortedEnvironments are the scheduled environments in a stable order.
func sortedEnvironments(m map[string]time.Duration) []string {
	envs := make([]string, 0, len(m))
	for env := range m {
		envs = append(envs, env)
	}
	sort.Strings(envs)
	return envs
}
