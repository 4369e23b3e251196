package server

import (
	"context"
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
	t, _ := tokenFrom(r.Context())
	release, ok := s.streams.acquire(t.ID)
	if !ok {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: fmt.Sprintf(
			"this token has %d event streams open, the most it may: close one, or poll GET /v1/jobs/{id}", s.MaxStreamsPerToken)})
		return
	}
	defer release()
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	last := 0
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			badRequest(w, "Last-Event-ID", "must be the number of the last event received")
			return
		}
		last = n
	}
	// The server's read timeout is for requests, not for a stream that
	// outlives it; each write gets its own deadline instead, so a client
	// that stops reading is dropped.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	beforeWrite := func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	beforeWrite()
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
	ctx, cancel := context.WithTimeout(r.Context(), s.MaxStreamDuration)
	defer cancel()
	// A client that hangs up (or a stream at its maximum duration) is
	// normal: debug, not an error.
	ended := func(what string, err error) {
		if ctx.Err() != nil {
			s.Logger.Debug("event stream ended", "job", job.ID, "cause", context.Cause(ctx))
			return
		}
		s.Logger.Error(what, "job", job.ID, "err", err)
	}
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
			ended("stream events: job", err)
			return
		}
		events, err := s.Jobs.Events(ctx, job.ID, last)
		if err != nil {
			ended("stream events", err)
			return
		}
		beforeWrite()
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
			ended("", nil)
			return
		case <-heartbeat.C:
			beforeWrite()
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-ticker.C:
		case <-wake:
		}
	}
}
