package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/store"
)

// Fleet operates the stacks as a fleet (fleet.Controller): rollouts and the
// fleet's status.
type Fleet interface {
	Status(ctx context.Context, f fleet.Filter, withCost bool) (fleet.Status, error)
	CreateRollout(ctx context.Context, req fleet.RolloutRequest, createdBy string) (fleet.RolloutView, error)
	Rollout(ctx context.Context, id string) (fleet.RolloutView, error)
	Rollouts(ctx context.Context) ([]store.Rollout, error)
	Pause(ctx context.Context, id string) (fleet.RolloutView, error)
	Resume(ctx context.Context, id string) (fleet.RolloutView, error)
	Cancel(ctx context.Context, id string) (fleet.RolloutView, error)
}

// fleetRoutes are the fleet's routes, registered when the server has a Fleet.
func (s *server) fleetRoutes(authed func(string, http.HandlerFunc)) {
	if s.Fleet == nil {
		return
	}
	authed("GET /v1/fleet", s.fleetStatus)
	authed("POST /v1/rollouts", s.platformOnly(s.createRollout))
	authed("GET /v1/rollouts", s.platformOnly(s.listRollouts))
	authed("GET /v1/rollouts/{id}", s.platformOnly(s.getRollout))
	authed("POST /v1/rollouts/{id}/pause", s.platformOnly(s.changeRollout(Fleet.Pause)))
	authed("POST /v1/rollouts/{id}/resume", s.platformOnly(s.changeRollout(Fleet.Resume)))
	authed("POST /v1/rollouts/{id}/cancel", s.platformOnly(s.changeRollout(Fleet.Cancel)))
}

// platformOnly refuses every token but the platform team's: a rollout
// reaches many municipalities.
func (s *server) platformOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isPlatform(r) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "only the platform team's tokens may operate rollouts"})
			return
		}
		h(w, r)
	}
}

func writeFleetError(w http.ResponseWriter, err error) bool {
	var fe *fleet.FieldError
	if errors.As(err, &fe) {
		badRequest(w, fe.Field, fe.Reason)
		return true
	}
	return false
}

// fleetStatus answers the fleet's status: the platform team's token sees
// every municipality, a municipality's its own.
func (s *server) fleetStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := fleet.Filter{Environment: q.Get("environment"), Prefecture: q.Get("prefecture"), Status: q.Get("status")}
	if !isPlatform(r) {
		t, _ := tokenFrom(r.Context())
		code, ok := scopeCode(t)
		if !ok {
			writeJSON(w, http.StatusForbidden, apiError{Error: "this token may not see the fleet"})
			return
		}
		f.Code = code
	}
	status, err := s.Fleet.Status(r.Context(), f, true)
	if writeFleetError(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, "read the fleet's status", err)
		return
	}
	writeJSON(w, http.StatusOK, status)
}

func (s *server) createRollout(w http.ResponseWriter, r *http.Request) {
	req, err := decode[fleet.RolloutRequest](w, r)
	if err != nil {
		writeDecodeError(w, err)
		return
	}
	t, _ := tokenFrom(r.Context())
	v, err := s.Fleet.CreateRollout(r.Context(), req, t.ID)
	if writeFleetError(w, err) {
		return
	}
	if err != nil {
		s.fail(w, r, "create a rollout", err)
		return
	}
	w.Header().Set("Location", "/v1/rollouts/"+v.ID)
	writeJSON(w, http.StatusAccepted, v)
}

func (s *server) listRollouts(w http.ResponseWriter, r *http.Request) {
	list, err := s.Fleet.Rollouts(r.Context())
	if err != nil {
		s.fail(w, r, "list rollouts", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": list})
}

func (s *server) getRollout(w http.ResponseWriter, r *http.Request) {
	v, err := s.Fleet.Rollout(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no rollout %s", r.PathValue("id"))})
		return
	}
	if err != nil {
		s.fail(w, r, "get rollout "+r.PathValue("id"), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// changeRollout pauses, resumes or cancels a rollout; a change its state
// does not allow answers 409 with the rollout as it is.
func (s *server) changeRollout(change func(Fleet, context.Context, string) (fleet.RolloutView, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		v, err := change(s.Fleet, r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, apiError{Error: "no rollout " + id})
		case errors.Is(err, fleet.ErrState):
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		case err != nil:
			s.fail(w, r, "change rollout "+id, err)
		default:
			w.Header().Set("Location", "/v1/rollouts/"+id)
			writeJSON(w, http.StatusAccepted, v)
		}
	}
}
