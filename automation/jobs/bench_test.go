package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// benchStacks is the number of municipality stacks the queue benchmarks run on.
const benchStacks = 60

// benchReplicas opens n replicas' queues in this process on one new
// PostgreSQL database, each with its own connection pool and lease as a
// separate server would have, with the no-op fakeRunner (the operation costs
// nothing: what is measured is the queue and the database). It registers
// benchStacks municipalities, waits for their first jobs, and returns the
// replicas' stores, their queues and the channel every finished job is sent to.
func benchReplicas(b *testing.B, n int) ([]*store.DB, []*Queue, chan store.Job) {
	b.Helper()
	ctx := context.Background()
	url := storetest.NewDatabase(b)
	finished := make(chan store.Job, 4*benchStacks)
	var stores []*store.DB
	var queues []*Queue
	for i := 0; i < n; i++ {
		st, err := store.OpenPostgres(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		q, err := New(ctx, Config{Store: st, Runner: &fakeRunner{}, Concurrency: 4,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnFinish: func(j store.Job) { finished <- j }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = q.Stop(ctx) })
		if err := q.Start(ctx); err != nil {
			b.Fatal(err)
		}
		stores, queues = append(stores, st), append(queues, q)
	}
	for i := 0; i < benchStacks; i++ {
		m := store.Municipality{Code: fmt.Sprintf("%06d", 100000+i), Environment: "dev", Name: "bench", Prefecture: "bench", Config: map[string]string{}}
		job := store.Job{Stack: store.StackName(m.Code, m.Environment), Code: m.Code, Environment: m.Environment, Operation: runner.Up, CreatedBy: "bench"}
		if _, _, err := stores[0].CreateMunicipality(ctx, m, job, queues[0].Enqueue(ctx)); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < benchStacks; i++ {
		if j := <-finished; j.State != store.JobSucceeded {
			b.Fatalf("registration job %+v, want succeeded", j)
		}
	}
	return stores, queues, finished
}

// queueOn queues a no-op up on stack i through the first replica.
func queueOn(st *store.DB, q *Queue, i int) error {
	code := fmt.Sprintf("%06d", 100000+i)
	job := store.Job{Stack: store.StackName(code, "dev"), Code: code, Environment: "dev", Operation: runner.Up, CreatedBy: "bench"}
	_, err := st.CreateJob(context.Background(), job, q.Enqueue(context.Background()))
	return err
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func statements(stores []*store.DB) (n int64) {
	for _, st := range stores {
		n += st.Statements()
	}
	return n
}

// BenchmarkNoOpJobsOn60Stacks: one round queues a no-op up on each of 60
// stacks and waits for all 60 to finish, on 1 and on 2 replicas (PostgreSQL,
// 4 operations at a time per replica). It reports jobs per minute, the
// statements sent to PostgreSQL per job (queuing included; the replicas'
// lease renewals and polls too, as they run), and the CPU this process (the
// replicas) used per job and per second of wall time (PostgreSQL's own CPU
// is not in it). Needs CATS_TEST_DATABASE_URL.
func BenchmarkNoOpJobsOn60Stacks(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			stores, queues, finished := benchReplicas(b, replicas)
			stmts0, cpu0, start := statements(stores), cpuSeconds(), time.Now()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for i := 0; i < benchStacks; i++ {
					if err := queueOn(stores[0], queues[0], i); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < benchStacks; i++ {
					if j := <-finished; j.State != store.JobSucceeded {
						b.Fatalf("job %+v, want succeeded", j)
					}
				}
			}
			b.StopTimer()
			wall, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
			jobs := float64(b.N * benchStacks)
			b.ReportMetric(jobs/wall*60, "jobs/min")
			b.ReportMetric(float64(statements(stores)-stmts0)/jobs, "statements/job")
			b.ReportMetric(cpu/jobs*1000, "CPU-ms/job")
			b.ReportMetric(cpu/wall, "cores-used")
		})
	}
}

// BenchmarkReadP99WhileReplicasRunJobs: two replicas run no-op ups on 60
// stacks without pause (each finished job queues the next on its stack)
// while a third replica's store serves the reads the API makes for GET
// /v1/jobs/{id} and GET /v1/municipalities, alternately. It reports their
// p50 and p99 (store reads, without HTTP) and the jobs per minute the other
// two ran meanwhile. Needs CATS_TEST_DATABASE_URL.
func BenchmarkReadP99WhileReplicasRunJobs(b *testing.B) {
	ctx := context.Background()
	stores, queues, finished := benchReplicas(b, 3)
	// The third replica only reads: its queue stops taking jobs.
	if err := queues[2].Stop(ctx); err != nil {
		b.Fatal(err)
	}
	reader := stores[2]
	var lastJob int64
	var ran int
	var mu sync.Mutex
	stop := make(chan struct{})
	feeding := make(chan struct{})
	go func() {
		defer close(feeding)
		for i := 0; i < benchStacks; i++ {
			if err := queueOn(stores[0], queues[0], i); err != nil {
				b.Error(err)
				return
			}
		}
		for {
			select {
			case <-stop:
				return
			case j := <-finished:
				mu.Lock()
				lastJob, ran = j.ID, ran+1
				mu.Unlock()
				var i int
				if _, err := fmt.Sscanf(j.Code, "%d", &i); err != nil {
					b.Error(err)
					return
				}
				if err := queueOn(stores[0], queues[0], i-100000); err != nil {
					b.Error(err)
					return
				}
			}
		}
	}()
	latencies := make([]time.Duration, 0, b.N)
	start := time.Now()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		mu.Lock()
		id := lastJob
		mu.Unlock()
		t0 := time.Now()
		var err error
		if n%2 == 0 && id != 0 {
			_, err = reader.GetJob(ctx, id)
		} else {
			_, err = reader.ListMunicipalities(ctx, "")
		}
		latencies = append(latencies, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	wall := time.Since(start)
	close(stop)
	<-feeding
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	mu.Lock()
	b.ReportMetric(float64(ran)/wall.Minutes(), "jobs/min-meanwhile")
	mu.Unlock()
}
