package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// recordingFleet is a Fleet that answers from memory and records the
// filters and requests it was given.
type recordingFleet struct {
	mu       sync.Mutex
	filters  []fleet.Filter
	rollouts map[string]store.Rollout
}

func (f *recordingFleet) Status(_ context.Context, filter fleet.Filter, withCost bool) (fleet.Status, error) {
	if err := filter.Validate(); err != nil {
		return fleet.Status{}, err
	}
	f.mu.Lock()
	f.filters = append(f.filters, filter)
	f.mu.Unlock()
	st := fleet.Status{CurrentVersion: "v1", Stacks: 1, ByStatus: map[string]int{"ok": 1}, ByDrift: map[string]int{"in_sync": 1},
		ByLastResult: map[string]int{"succeeded": 1}, MonthlyUSD: 100, MonthlyJPY: 15000, Municipalities: []fleet.MunicipalityStatus{{
			Code: "131016", Name: "千代田区", Prefecture: "東京都", Stacks: []fleet.StackStatus{{
				Stack: "131016-dev", Environment: "dev", Status: "ok", DeployedVersion: "v1", UpToDate: true,
				LastOperation: &fleet.LastOperation{Job: 2, Operation: "up", State: "succeeded", FinishedAt: fakeNow()},
				Drift:         fleet.DriftView{Status: "in_sync", CheckedAt: "2026-12-01T10:00:00.000000Z"},
				Violations:    &fleet.Violations{Job: 2, Advisory: 3}, Cost: &fleet.Cost{MonthlyUSD: 100, MonthlyJPY: 15000},
			}},
		}}}
	return st, nil
}

func (f *recordingFleet) view(r store.Rollout) fleet.RolloutView {
	st := []store.RolloutStack{{Stack: "131016-dev", Code: "131016", Environment: "dev", State: store.StackPending}}
	return fleet.RolloutView{Rollout: r, Total: 1, Tally: fleet.Tally{ByState: map[string]int{"pending": 1}},
		Waves: []fleet.WaveView{{Wave: 0, State: "pending", Stacks: st}}}
}

func (f *recordingFleet) CreateRollout(_ context.Context, req fleet.RolloutRequest, createdBy string) (fleet.RolloutView, error) {
	if err := req.Validate(); err != nil {
		return fleet.RolloutView{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := store.Rollout{ID: fmt.Sprintf("r-%012x", len(f.rollouts)+1), Operation: req.Operation, Selector: json.RawMessage(`{"all":true}`),
		Waves: json.RawMessage(`{}`), MaxConcurrency: req.MaxConcurrency, FailureBudget: req.FailureBudget, Version: "v1",
		State: store.RolloutRunning, CreatedBy: createdBy, CreatedAt: fakeNow(), UpdatedAt: fakeNow()}
	f.rollouts[r.ID] = r
	return f.view(r), nil
}

func (f *recordingFleet) Rollout(_ context.Context, id string) (fleet.RolloutView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rollouts[id]
	if !ok {
		return fleet.RolloutView{}, store.ErrNotFound
	}
	return f.view(r), nil
}

func (f *recordingFleet) Rollouts(context.Context) ([]store.Rollout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []store.Rollout{}
	for _, r := range f.rollouts {
		out = append(out, r)
	}
	return out, nil
}

func (f *recordingFleet) change(id, from, to string) (fleet.RolloutView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rollouts[id]
	if !ok {
		return fleet.RolloutView{}, store.ErrNotFound
	}
	if r.State != from {
		return f.view(r), fmt.Errorf("rollout %s is %s: %w", id, r.State, fleet.ErrState)
	}
	r.State = to
	f.rollouts[id] = r
	return f.view(r), nil
}

func (f *recordingFleet) Pause(_ context.Context, id string) (fleet.RolloutView, error) {
	return f.change(id, store.RolloutRunning, store.RolloutPaused)
}
func (f *recordingFleet) Resume(_ context.Context, id string) (fleet.RolloutView, error) {
	return f.change(id, store.RolloutPaused, store.RolloutRunning)
}
func (f *recordingFleet) Cancel(_ context.Context, id string) (fleet.RolloutView, error) {
	return f.change(id, store.RolloutRunning, store.RolloutCancelled)
}

func newFleetAPI(t *testing.T) (*testAPI, *recordingFleet) {
	a := newTestAPI(t)
	f := &recordingFleet{rollouts: map[string]store.Rollout{}}
	a.handler = NewServer(Deps{
		Municipalities: a.store, Jobs: a.store, Tokens: a.store, AuditLog: a.store, Queue: a.queue, Fleet: f,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ValidateConfig: validateConfig,
	})
	return a, f
}

func TestFleetRoutesAuthorizeValidateAndAnswerWithTheirSchemas(t *testing.T) {
	a, f := newFleetAPI(t)
	body := `{"operation":"up","selector":{"all":true},"canary":{"count":2},"waves":[{"percent":50},{"percent":100}],"failureBudget":0}`
	for _, role := range []string{"owner", "other", "revoked", "none"} {
		want := http.StatusForbidden
		if role == "revoked" || role == "none" {
			want = http.StatusUnauthorized
		}
		if r := a.do("POST", "/v1/rollouts", role, body); r.status != want {
			t.Errorf("POST /v1/rollouts as %s: %d, want %d: only the platform team rolls out", role, r.status, want)
		}
		if r := a.do("GET", "/v1/rollouts", role, ""); r.status != want {
			t.Errorf("GET /v1/rollouts as %s: %d, want %d", role, r.status, want)
		}
	}
	r := a.do("POST", "/v1/rollouts", "platform", body)
	if r.status != http.StatusAccepted || r.header.Get("Location") == "" {
		t.Fatalf("POST /v1/rollouts: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	for _, step := range []struct {
		path string
		want int
	}{
		{"/pause", http.StatusAccepted}, {"/pause", http.StatusConflict}, {"/resume", http.StatusAccepted}, {"/cancel", http.StatusAccepted},
		{"/resume", http.StatusConflict},
	} {
		if r := a.do("POST", "/v1/rollouts/"+id+step.path, "platform", ""); r.status != step.want {
			t.Errorf("POST %s: %d %s, want %d", step.path, r.status, r.raw, step.want)
		}
	}
	if r := a.do("GET", "/v1/rollouts/r-00000000beef", "platform", ""); r.status != http.StatusNotFound {
		t.Errorf("an unknown rollout: %d, want 404", r.status)
	}
	if r := a.do("GET", "/v1/rollouts/"+id, "platform", ""); r.status != http.StatusOK || r.body["state"] != store.RolloutCancelled {
		t.Errorf("GET the rollout: %d %s", r.status, r.raw)
	}
	for field, bad := range map[string]string{
		"operation": `{"operation":"destroy","selector":{"all":true}}`,
		"waves[0]":  `{"operation":"up","selector":{"all":true},"waves":[{"count":1,"percent":5}]}`,
		"priority":  `{"operation":"up","selector":{"all":true,"priority":1}}`,
	} {
		if r := a.do("POST", "/v1/rollouts", "platform", bad); r.status != http.StatusBadRequest || r.body["field"] != field {
			t.Errorf("%s: %d %s, want 400 naming %s", bad, r.status, r.raw, field)
		}
	}

	// The fleet status: the platform team's token sees all, a municipality's its own.
	if r := a.do("GET", "/v1/fleet?environment=dev&status=ok", "platform", ""); r.status != http.StatusOK {
		t.Fatalf("GET /v1/fleet: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/v1/fleet", "owner", ""); r.status != http.StatusOK {
		t.Fatalf("GET /v1/fleet as the owner: %d %s", r.status, r.raw)
	}
	if r := a.do("GET", "/v1/fleet?status=green", "platform", ""); r.status != http.StatusBadRequest || r.body["field"] != "status" {
		t.Errorf("?status=green: %d %s, want 400 naming status", r.status, r.raw)
	}
	if r := a.do("GET", "/v1/fleet", "none", ""); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/fleet without a token: %d", r.status)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.filters) != 2 || f.filters[0] != (fleet.Filter{Environment: "dev", Status: "ok"}) || f.filters[1] != (fleet.Filter{Code: "131016"}) {
		t.Errorf("filters = %+v: the owner's view must be limited to its municipality", f.filters)
	}
}
