package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// ParseSchedule reads a drift schedule, "dev=24h,prod=6h": each
// environment and how often its stacks are checked.
func ParseSchedule(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if s == "" {
		return out, nil
	}
	for _, part := range splitComma(s) {
		env, every, ok := cutEq(part)
		if !ok || (env != "dev" && env != "prod") {
			return nil, fmt.Errorf("%q: write ENV=INTERVAL with ENV dev or prod, e.g. dev=24h,prod=6h", part)
		}
		d, err := time.ParseDuration(every)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("%q: the interval is a Go duration of 1s or more, e.g. 24h", part)
		}
		if _, dup := out[env]; dup {
			return nil, fmt.Errorf("%q: %s is scheduled twice", part, env)
		}
		out[env] = d
	}
	return out, nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func cutEq(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// driftOf is a stack's drift status from its finished drift check.
func driftOf(j store.Job) store.Drift {
	d := store.Drift{Stack: j.Stack, Code: j.Code, Environment: j.Environment, JobID: j.ID, CheckedAt: store.FleetNow()}
	if t, err := time.Parse(time.RFC3339Nano, j.FinishedAt); err == nil {
		d.CheckedAt = t.UTC().Format(store.FleetTime)
	}
	if j.State != store.JobSucceeded {
		d.Status, d.Error = store.DriftError, j.Error
		if d.Error == "" {
			d.Error = "the check ended " + string(j.State)
		}
		return d
	}
	var res runner.Result
	if err := json.Unmarshal(j.Result, &res); err != nil {
		d.Status, d.Error = store.DriftError, "the check's result could not be read: "+err.Error()
		return d
	}
	d.Status = store.DriftInSync
	for _, r := range res.Drifted {
		d.Resources = append(d.Resources, store.DriftedResource(r))
	}
	if len(d.Resources) > 0 {
		d.Status = store.DriftDrifted
	}
	return d
}

// recordDrift records the drift checks that finished since the last look,
// the scheduled ones and those asked for through the API alike.
func (c *Controller) recordDrift(ctx context.Context) error {
	finished, err := c.cfg.Store.UncheckedDriftJobs(ctx, runner.Drift)
	if err != nil {
		return err
	}
	for _, j := range finished {
		d := driftOf(j)
		if err := c.cfg.Store.RecordDrift(ctx, d); err != nil {
			return err
		}
		c.cfg.Logger.Info("drift checked", "stack", j.Stack, "job", j.ID, "status", d.Status, "resources", len(d.Resources))
	}
	return nil
}

// scheduleDrift runs each environment's schedule: when a sweep is due, every
// active stack of the environment is checked once, at most DriftBatch checks
// queued or running at a time. A stack with a queued or running job is
// skipped and checked later in the sweep, so a check never runs beside
// another job of its stack and never piles up behind one; a sweep starts only
// after the one before it has finished.
func (c *Controller) scheduleDrift(ctx context.Context) error {
	if len(c.cfg.DriftEvery) == 0 {
		return nil
	}
	s := c.cfg.Store
	sweeps, err := s.DriftSweeps(ctx)
	if err != nil {
		return err
	}
	statuses, err := s.DriftStatuses(ctx)
	if err != nil {
		return err
	}
	inFlight := 0
	for _, d := range statuses {
		switch {
		case d.Checking == store.DriftCheckCreating:
			// The server stopped while it created this check's job: take
			// that job if it was made, else check again.
			j, err := s.LatestJobBy(ctx, d.Stack, DriftCreator, d.JobID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				if err := s.ClearDriftCheck(ctx, d.Stack); err != nil {
					return err
				}
				continue
			case err != nil:
				return err
			}
			m := store.Municipality{Stack: d.Stack, Code: d.Code, Environment: d.Environment}
			if err := s.MarkDriftCheck(ctx, m, j.ID); err != nil {
				return err
			}
			inFlight++
		case d.Checking > 0:
			inFlight++
		}
	}
	stacks, err := s.ListMunicipalities(ctx, "")
	if err != nil {
		return err
	}
	busy, err := s.BusyStacks(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, env := range sortedEnvironments(c.cfg.DriftEvery) {
		every := c.cfg.DriftEvery[env]
		sweep, ok := sweeps[env]
		if !ok {
			// The first sweep of a new schedule is due at once: nothing is
			// known about the stacks' drift yet.
			sweep = store.DriftSweep{Environment: env, NextAt: now.Format(store.FleetTime)}
		}
		if !sweep.Running() {
			if now.Format(store.FleetTime) < sweep.NextAt {
				if !ok {
					if err := s.PutDriftSweep(ctx, sweep); err != nil {
						return err
					}
				}
				continue
			}
			sweep.StartedAt = store.FleetNow()
			if err := s.PutDriftSweep(ctx, sweep); err != nil {
				return err
			}
			c.cfg.Logger.Info("drift sweep started", "environment", env)
		}
		remaining := 0
		for _, m := range stacks {
			if m.Environment != env || m.State != store.MunicipalityActive {
				continue
			}
			d := statuses[m.Stack]
			if d.CheckedAt >= sweep.StartedAt {
				continue // checked in this sweep
			}
			remaining++
			if d.Checking != 0 || busy[m.Stack] || inFlight >= c.cfg.DriftBatch {
				continue // in flight, busy (checked later), or the batch is full
			}
			if err := c.check(ctx, m); err != nil {
				return err
			}
			inFlight++
		}
		if remaining == 0 {
			started, _ := time.Parse(store.FleetTime, sweep.StartedAt)
			sweep.FinishedAt = store.FleetNow()
			sweep.NextAt = started.Add(every).Format(store.FleetTime)
			if err := s.PutDriftSweep(ctx, sweep); err != nil {
				return err
			}
			c.cfg.Logger.Info("drift sweep finished", "environment", env, "next", sweep.NextAt)
		}
	}
	return nil
}

// check creates a stack's drift check job, marking it first so that a job
// made just before a crash is found again rather than made twice.
func (c *Controller) check(ctx context.Context, m store.Municipality) error {
	s := c.cfg.Store
	if err := s.MarkDriftCheck(ctx, m, store.DriftCheckCreating); err != nil {
		return err
	}
	job, err := s.CreateJob(ctx, store.Job{Stack: m.Stack, Code: m.Code, Environment: m.Environment, Operation: store.OperationDrift,
		CreatedBy: DriftCreator}, c.cfg.Queue.Enqueue(ctx))
	if err != nil {
		return errors.Join(err, s.ClearDriftCheck(ctx, m.Stack))
	}
	return s.MarkDriftCheck(ctx, m, job.ID)
}
