package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/testprogram"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
)

// BenchmarkDriftSweep measures a scheduled drift sweep over a fleet on the
// stand-in cloud: every stack (the one-bucket test program, deployed
// beforehand by a rollout) checked once by `refresh --preview-only`, four
// at a time, through the server. It reports the time and the CPU
// (the server's own, and the CLIs' and plugins') per stack. The fleet has
// 200 stacks, or $CATS_BENCH_DRIFT_STACKS.
func BenchmarkDriftSweep(b *testing.B) {
	requireStandin(b)
	n := 200
	if s := os.Getenv("CATS_BENCH_DRIFT_STACKS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("CATS_BENCH_DRIFT_STACKS=%q: want a count of stacks", s)
		}
	}
	ts := newTestServer(b)
	opts := func(schedule map[string]time.Duration) func(*ServeOptions) {
		return func(o *ServeOptions) {
			o.Program = func(string) pulumi.RunFunc { return testprogram.Cloud() }
			o.Cloud = runner.CloudStandin
			o.StandinPlugins = standinPlugins()
			o.BaseConfig = baseConfig()
			o.Concurrency = 4
			o.Version = testVersion
			o.FleetTick = 200 * time.Millisecond
			o.DriftSchedule = schedule
			o.DriftBatch = 4
		}
	}
	// The fleet: n stacks registered and deployed by a rollout.
	ts.startWith(opts(nil))
	for _, m := range municipalitiesOf(n) {
		ts.register(m.Code, m.Name, m.Prefecture, config.Dev, nil)
	}
	r := ts.do("POST", "/v1/rollouts", "platform", map[string]any{"operation": "up", "selector": map[string]any{"all": true}, "maxConcurrency": 4})
	if r.status != http.StatusAccepted {
		b.Fatalf("POST /v1/rollouts: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	eventually(b, "the fleet's rollout", 2*time.Hour, func() bool { return store.RolloutTerminal(ts.rollout(id).State) })
	if v := ts.rollout(id); v.State != store.RolloutSucceeded {
		b.Fatalf("the fleet's rollout ended %s: %+v", v.State, v.Tally)
	}
	ts.stop()
	ts.stop = nil

	// The same server with a schedule: sweeps follow one another, each
	// started a second after the one before it.
	st, err := store.Open(context.Background(), ts.dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sweepDone := func(after string) (string, bool) {
		sweeps, err := st.DriftSweeps(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		s := sweeps[config.Dev]
		return s.FinishedAt, s.FinishedAt > after && s.StartedAt > after
	}
	ts.startWith(opts(map[string]time.Duration{config.Dev: time.Second}))
	b.ResetTimer()
	self0, child0 := cpuTimes(b)
	start := time.Now()
	mark := store.FleetNow()
	for range b.N {
		eventually(b, "a drift sweep", time.Hour, func() bool {
			finished, ok := sweepDone(mark)
			if ok {
				mark = finished
			}
			return ok
		})
	}
	elapsed := time.Since(start)
	self1, child1 := cpuTimes(b)
	b.StopTimer()
	stacks := float64(n * b.N)
	b.ReportMetric(elapsed.Seconds()/stacks, "s/stack")
	b.ReportMetric((self1-self0).Seconds()/stacks, "server-cpu-s/stack")
	b.ReportMetric((child1-child0).Seconds()/stacks, "cli+plugins-cpu-s/stack")
	b.ReportMetric(float64(n), "stacks")
	status := ts.fleetStatusOffline(b)
	if status.ByDrift[store.DriftInSync] != n {
		b.Fatalf("after the sweeps: %v, want all %d stacks in sync", status.ByDrift, n)
	}
}
