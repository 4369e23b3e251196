package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// sleepingRunner stands in for the CLI: every operation takes d, as a short
// pulumi up would, and ends early when interrupted.
type sleepingRunner struct{ d time.Duration }

func (r sleepingRunner) Run(ctx context.Context, op runner.Operation) (runner.Result, error) {
	select {
	case <-time.After(r.d):
		return runner.Result{Operation: op.Name}, nil
	case <-ctx.Done():
		return runner.Result{}, fmt.Errorf("%s %s: interrupted: %w", op.Name, op.Stack, ctx.Err())
	}
}

func (sleepingRunner) ReleaseLock(context.Context, string, process.Identity) (int, error) {
	return 0, nil
}

func (sleepingRunner) SettleCLI(context.Context, process.Identity, time.Time) (process.Outcome, error) {
	return process.Exited, nil
}

// instantPlanner stands in for the offline plan: it answers at once, so the
// latency measured is the queue's alone.
type instantPlanner struct{}

func (instantPlanner) Plan(_ context.Context, stack string, _ map[string]string, onEvent func(jobs.PlanEvent)) (jobs.PlanResult, error) {
	onEvent(jobs.ConfigChecked(stack, 0))
	return jobs.PlanResult{Stack: stack, Tiers: map[string]int{}, Violations: []jobs.Violation{}}, nil
}

// BenchmarkPlanLatencyUnderFlood measures, through the real queue and store,
// another tenant's plan job from creation to finish (plan-ms), quiet and
// while one municipality's token tries to queue 2,000 ups on its two stacks
// under the server's default caps (the rest refused), each up taking 100 ms
// in a sleeping runner. Issue 16: the flood once took such a plan from 0.1 s
// to 24.5 s; the two figures must differ by less than 500 ms.
func BenchmarkPlanLatencyUnderFlood(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		for _, flood := range []bool{false, true} {
			name := db.name + "/quiet"
			if flood {
				name = db.name + "/flood"
			}
			b.Run(name, func(b *testing.B) { benchmarkPlanLatency(b, db.open(b), flood) })
		}
	}
}

// measured is the CreatedBy of the plans measured (札幌市's token).
const measured = "sapporo"

func benchmarkPlanLatency(b *testing.B, st *store.DB, flood bool) {
	ctx := context.Background()
	planned := make(chan time.Time, 1) // the measured tenant's plans end one at a time
	q, err := jobs.New(ctx, jobs.Config{Store: st, Runner: sleepingRunner{d: 100 * time.Millisecond}, Planner: instantPlanner{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Concurrency: 4, Exclusive: true, PollInterval: time.Second,
		OnFinish: func(j store.Job) {
			if j.CreatedBy == measured {
				planned <- time.Now()
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer q.Stop(context.Background())

	flooder, _, err := st.CreateToken(ctx, store.MunicipalityScope("131016"), "千代田区")
	if err != nil {
		b.Fatal(err)
	}
	var floodStacks []store.Municipality
	for _, m := range []store.Municipality{
		{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都"},
		{Code: "131016", Environment: "prod", Name: "千代田区", Prefecture: "東京都"},
		{Code: "011002", Environment: "dev", Name: "札幌市", Prefecture: "北海道"},
	} {
		m.Config = map[string]string{}
		if _, _, err := st.CreateMunicipality(ctx, m, store.Job{Stack: store.StackName(m.Code, m.Environment), Code: m.Code,
			Environment: m.Environment, Operation: jobs.Plan, CreatedBy: "platform"}, q.Enqueue(ctx)); err != nil {
			b.Fatal(err)
		}
		if m.Code == "131016" {
			floodStacks = append(floodStacks, m)
		}
	}
	caps := store.QueueCaps{PerStack: server.DefaultQueuedPerStack, PerToken: server.DefaultQueuedPerToken}
	var queued, refused int
	floodOnce := func() {
		for i := 0; i < 2000; i++ {
			m := floodStacks[i%len(floodStacks)]
			_, err := st.CreateJobWithin(ctx, store.Job{Stack: store.StackName(m.Code, m.Environment), Code: m.Code, Environment: m.Environment,
				Operation: runner.Up, CreatedBy: flooder.ID}, caps, q.Enqueue(ctx))
			var full *store.QueueFullError
			switch {
			case err == nil:
				queued++
			case errors.As(err, &full):
				refused++
			default:
				b.Fatal(err)
			}
		}
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if flood {
			b.StopTimer()
			floodOnce() // keep the flooder's queue full for every plan measured
			b.StartTimer()
		}
		created := time.Now()
		j, err := st.CreateJobWithin(ctx, store.Job{Stack: "011002-dev", Code: "011002", Environment: "dev", Operation: jobs.Plan, CreatedBy: measured},
			caps, q.Enqueue(ctx))
		if err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-planned:
			total += at.Sub(created)
		case <-time.After(time.Minute):
			b.Fatalf("plan job %d did not finish within a minute", j.ID)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "plan-ms")
	if flood {
		b.ReportMetric(float64(queued)/float64(b.N), "flood-queued/op")
		b.ReportMetric(float64(refused)/float64(b.N), "flood-refused/op")
	}
}
