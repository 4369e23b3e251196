package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestQueueCapPerStack: one token queued 2,000 jobs on its stack (issue 16);
// a stack now holds at most PerStack queued jobs, and a job that leaves the
// queue makes room for the next.
func TestQueueCapPerStack(t *testing.T) {
	storetest.Run(t, testQueueCapPerStack)
}

func testQueueCapPerStack(t *testing.T, s *store.DB) {
	ctx := context.Background()
	register(t, s) // queues the registration's plan: 1 of 3
	caps := store.QueueCaps{PerStack: 3}
	var last store.Job
	for i := 0; i < 2; i++ {
		j, err := s.CreateJobWithin(ctx, chiyodaJob("up"), caps, noQueue)
		if err != nil {
			t.Fatalf("job %d of a cap of 3: %v", i+2, err)
		}
		last = j
	}
	_, err := s.CreateJobWithin(ctx, chiyodaJob("up"), caps, noQueue)
	var full *store.QueueFullError
	if !errors.As(err, &full) || full.Cap != "per stack" || full.Limit != 3 {
		t.Fatalf("the 4th queued job of a stack capped at 3: %v, want a QueueFullError per stack", err)
	}
	if list, _ := s.ListJobs(ctx, "131016-dev", 100); len(list) != 3 {
		t.Fatalf("a refused job was recorded: %d jobs, want 3", len(list))
	}
	if _, err := s.CancelQueued(ctx, last.ID, "cancelled", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateJobWithin(ctx, chiyodaJob("up"), caps, noQueue); err != nil {
		t.Fatalf("a job after another left the queue: %v, want room for it", err)
	}
	if _, err := s.CreateJob(ctx, chiyodaJob("up"), noQueue); err != nil {
		t.Fatalf("CreateJob (no caps) on a full stack: %v, want it queued", err)
	}
}

// TestQueueCapPerToken: a token's queued jobs across its stacks are capped,
// and another token's jobs on the same stack do not count against it.
func TestQueueCapPerToken(t *testing.T) {
	storetest.Run(t, testQueueCapPerToken)
}

func testQueueCapPerToken(t *testing.T, s *store.DB) {
	ctx := context.Background()
	tok, _, err := s.CreateToken(ctx, store.MunicipalityScope("131016"), "千代田区")
	if err != nil {
		t.Fatal(err)
	}
	prod := chiyoda
	prod.Environment = "prod"
	for _, m := range []store.Municipality{chiyoda, prod} {
		if _, _, err := s.CreateMunicipality(ctx, m, store.Job{Stack: m.Code + "-" + m.Environment, Code: m.Code, Environment: m.Environment, Operation: "plan", CreatedBy: "platform"}, noQueue); err != nil {
			t.Fatal(err)
		}
	}
	caps := store.QueueCaps{PerStack: 10, PerToken: 3}
	job := func(env string) store.Job {
		return store.Job{Stack: "131016-" + env, Code: "131016", Environment: env, Operation: "up", CreatedBy: tok.ID}
	}
	for _, env := range []string{"dev", "prod", "dev"} {
		if _, err := s.CreateJobWithin(ctx, job(env), caps, noQueue); err != nil {
			t.Fatalf("a job of the token on %s within its cap of 3: %v", env, err)
		}
	}
	_, err = s.CreateJobWithin(ctx, job("prod"), caps, noQueue)
	var full *store.QueueFullError
	if !errors.As(err, &full) || full.Cap != "per token" || full.Limit != 3 {
		t.Fatalf("the token's 4th queued job: %v, want a QueueFullError per token", err)
	}
	other := job("prod")
	other.CreatedBy = "platform"
	if _, err := s.CreateJobWithin(ctx, other, caps, noQueue); err != nil {
		t.Fatalf("another token's job on the same stack: %v, want it queued", err)
	}
}

// TestQueueCapsHoldUnderConcurrency: 80 concurrent requests of one token on
// 8 stacks, against caps of 5 per stack and 7 per token, queue exactly the
// token's cap: the counts are taken under the rows' locks, not before them.
func TestQueueCapsHoldUnderConcurrency(t *testing.T) {
	storetest.Run(t, testQueueCapsHoldUnderConcurrency)
}

func testQueueCapsHoldUnderConcurrency(t *testing.T, s *store.DB) {
	ctx := context.Background()
	tok, _, err := s.CreateToken(ctx, store.MunicipalityScope("131016"), "千代田区")
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for i := 0; i < 8; i++ {
		m := chiyoda
		m.Environment = fmt.Sprintf("e%d", i)
		envs = append(envs, m.Environment)
		if _, _, err := s.CreateMunicipality(ctx, m, store.Job{Stack: store.StackName(m.Code, m.Environment), Code: m.Code, Environment: m.Environment, Operation: "plan", CreatedBy: "platform"}, noQueue); err != nil {
			t.Fatal(err)
		}
	}
	caps := store.QueueCaps{PerStack: 5, PerToken: 7}
	const requests = 80
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	start := make(chan struct{})
	for i := 0; i < requests; i++ {
		env := envs[i%len(envs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.CreateJobWithin(ctx, store.Job{Stack: store.StackName("131016", env), Code: "131016", Environment: env, Operation: "up", CreatedBy: tok.ID}, caps, noQueue)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	var queued, refused int
	for err := range errs {
		var full *store.QueueFullError
		switch {
		case err == nil:
			queued++
		case errors.As(err, &full):
			refused++
		default:
			t.Errorf("a concurrent job failed otherwise: %v", err)
		}
	}
	var ofToken int
	for _, env := range envs {
		list, _ := s.ListJobs(ctx, store.StackName("131016", env), 100)
		for _, j := range list {
			if j.CreatedBy == tok.ID {
				ofToken++
			}
		}
	}
	if queued != caps.PerToken || ofToken != caps.PerToken || refused != requests-caps.PerToken {
		t.Fatalf("queued %d (%d recorded), refused %d of %d concurrent jobs; want exactly the token's cap of %d queued", queued, ofToken, refused, requests, caps.PerToken)
	}
}
