package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// pollInterval is how often a stream looks for new events when nothing tells
// it of them (no JobEventNotifier).
const pollInterval = 200 * time.Millisecond

// wakeFallback is how often a stream with a JobEventNotifier looks all the
// same: a notification lost with a database connection delays it no longer.
const wakeFallback = 5 * time.Second

// jobEvents streams a job's events as Server-Sent Events: the stored ones
// first (after Last-Event-ID when a client reconnects), then new ones as they
// are written, and finally a "done" event with the job's final record.
func (s *server) jobEvents(w http.ResponseWriter, r *http.Request) {
	job, ok := s.jobFor(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, "stream events", fmt.Errorf("response writer cannot flush"))
		return
	}
	last := 0
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			badRequest(w, "Last-Event-ID", "must be the number of the last event received")
			return
		}
		last = n
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	// A plan's events are its steps (jobs.PlanEvent); the CLI operations'
	// are Pulumi's engine events and the server's own steps (runner.Step).
	kind := func(e store.Event) string {
		switch {
		case job.Operation == jobs.Plan:
			return "plan"
		case runner.IsStep(e.Event):
			return "step"
		}
		return "engine"
	}
	ctx := r.Context()
	var wake <-chan struct{}
	interval := pollInterval
	if s.JobEvents != nil {
		// Subscribed before the first read, so no event falls between the two.
		var unsubscribe func()
		wake, unsubscribe = s.JobEvents.SubscribeJob(job.ID)
		defer unsubscribe()
		interval = wakeFallback
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		// Read the job's state before its events: events written before a job
		// finishes are all seen by the read that follows.
		current, err := s.Jobs.GetJob(ctx, job.ID)
		if err != nil {
			s.Logger.Error("stream events: job", "job", job.ID, "err", err)
			return
		}
		events, err := s.Jobs.Events(ctx, job.ID, last)
		if err != nil {
			s.Logger.Error("stream events", "job", job.ID, "err", err)
			return
		}
		for _, e := range events {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, kind(e), e.Event)
			last = e.Seq
		}
		if store.Terminal(current.State) {
			b, _ := json.Marshal(current)
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
			flusher.Flush()
			return
		}
		flusher.Flush()
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-ticker.C:
		case <-wake:
		}
	}
}
