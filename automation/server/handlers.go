package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "not ready"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// CreateMunicipalityRequest registers a municipality's stack in one environment.
type CreateMunicipalityRequest struct {
	Code        string            `json:"code"`
	Name        string            `json:"name"`
	Prefecture  string            `json:"prefecture"`
	Environment string            `json:"environment"`
	Config      map[string]string `json:"config,omitempty"`
}

// reservedKeys are derived from the stack name and may not be set by a request.
var reservedKeys = []string{"cats:environment", "cats:municipalityCode"}

// Validate checks a request as the program will, naming the field at fault.
func (req CreateMunicipalityRequest) Validate(validateConfig func(stack string, config map[string]string) error) error {
	if err := municipality.Validate(req.Code); err != nil {
		return &fieldError{"code", err.Error()}
	}
	m, _ := municipality.Lookup(req.Code)
	if req.Name != m.Name {
		return &fieldError{"name", fmt.Sprintf("%q does not match the official name of %s: %s", req.Name, req.Code, m.Name)}
	}
	if req.Prefecture != m.Prefecture {
		return &fieldError{"prefecture", fmt.Sprintf("%q does not match the prefecture of %s: %s", req.Prefecture, req.Code, m.Prefecture)}
	}
	if req.Environment != config.Dev && req.Environment != config.Prod {
		return &fieldError{"environment", fmt.Sprintf("%q must be dev or prod", req.Environment)}
	}
	for k := range req.Config {
		if !strings.HasPrefix(k, config.Namespace+":") {
			return &fieldError{"config." + k, "only keys under cats: may be set per municipality"}
		}
		if slices.Contains(reservedKeys, k) {
			return &fieldError{"config." + k, "is derived from the stack name; remove it"}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(req.Config)) {
		if err := config.CheckValue(k, req.Config[k]); err != nil {
			_, reason, _ := strings.Cut(err.Error(), ": ")
			return &fieldError{"config." + k, reason}
		}
	}
	if unknown := config.UnknownKeys(req.Config); len(unknown) > 0 {
		return &fieldError{"config." + unknown[0], "is not a configuration key of the program"}
	}
	if validateConfig != nil {
		if err := validateConfig(store.StackName(req.Code, req.Environment), req.Config); err != nil {
			return &fieldError{"config", err.Error()}
		}
	}
	return nil
}

func (s *server) createMunicipality(w http.ResponseWriter, r *http.Request) {
	req, err := decode[CreateMunicipalityRequest](w, r)
	if err != nil {
		writeDecodeError(w, err)
		return
	}
	// A municipality token may only register its own municipality; check the
	// scope on the code first so validation tells nothing to other tokens.
	if req.Code != "" && !mayAccess(r, req.Code) {
		forbidden(w, req.Code)
		return
	}
	// Keys that choose tenancy or cross-stack wiring are the platform
	// team's (components/config marks them): a municipality's stack could
	// otherwise read another's outputs or build an account baseline.
	if !isPlatform(r) {
		for _, k := range slices.Sorted(maps.Keys(req.Config)) {
			if setter, _ := config.SetterOf(k); setter == config.SetByPlatformTeam {
				writeJSON(w, http.StatusForbidden, apiError{Error: "only the platform team may set " + k,
					Field: "config." + k, Reason: "is set by the platform team: remove it, or ask the platform team to register the stack"})
				return
			}
		}
	}
	if err := req.Validate(s.ValidateConfig); err != nil {
		writeDecodeError(w, err)
		return
	}
	if req.Config == nil {
		req.Config = map[string]string{}
	}
	t, _ := tokenFrom(r.Context())
	stack := store.StackName(req.Code, req.Environment)
	m, job, err := s.Municipalities.CreateMunicipality(r.Context(),
		store.Municipality{Code: req.Code, Environment: req.Environment, Name: req.Name, Prefecture: req.Prefecture, Config: req.Config},
		store.Job{Stack: stack, Code: req.Code, Environment: req.Environment, Operation: jobs.Plan, CreatedBy: t.ID},
		s.Queue.Enqueue(r.Context()))
	if errors.Is(err, store.ErrExists) {
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("municipality %s is already registered in %s", req.Code, req.Environment)})
		return
	}
	if err != nil {
		s.fail(w, r, "register municipality "+stack, err)
		return
	}
	s.metrics.jobs.WithLabelValues(string(jobs.Plan)).Inc()
	w.Header().Set("Location", fmt.Sprintf("/v1/municipalities/%s", m.Code))
	writeJSON(w, http.StatusAccepted, map[string]any{"municipality": m, "job": job})
}

func (s *server) listMunicipalities(w http.ResponseWriter, r *http.Request) {
	code := ""
	if !isPlatform(r) {
		// A municipality token lists its own municipality; any other scope, none.
		t, _ := tokenFrom(r.Context())
		var ok bool
		if code, ok = scopeCode(t); !ok {
			writeJSON(w, http.StatusForbidden, apiError{Error: "this token may not list municipalities"})
			return
		}
	}
	list, err := s.Municipalities.ListMunicipalities(r.Context(), code)
	if err != nil {
		s.fail(w, r, "list municipalities", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"municipalities": list})
}

// MunicipalityView is a municipality with its stacks.
type MunicipalityView struct {
	municipality.Municipality
	Stacks []StackView `json:"stacks"`
}

// StackView is a stack with what its last update left: the resources in
// its state and how that update ended.
type StackView struct {
	store.Municipality
	// Resources is the number of resources in the stack's state after its
	// last update (nil before the first, or when it could not be read).
	Resources  *int        `json:"resources,omitempty"`
	LastUpdate *LastUpdate `json:"lastUpdate,omitempty"`
}

// LastUpdate is the stack's latest finished up, refresh or destroy.
type LastUpdate struct {
	Job        int64           `json:"job"`
	Operation  store.Operation `json:"operation"`
	State      string          `json:"state"`
	Reason     string          `json:"reason,omitempty"`
	FinishedAt string          `json:"finishedAt"`
}

// updates are the operations that change a stack's state (a preview does not).
var updates = []store.Operation{store.OperationUp, store.OperationRefresh, store.OperationDestroy}

// stackView adds a stack's last update; its resource count is what that
// update's result recorded (runner.Result.Resources).
func (s *server) stackView(r *http.Request, m store.Municipality) (StackView, error) {
	v := StackView{Municipality: m}
	last, err := s.Jobs.LastJob(r.Context(), m.Stack, updates...)
	if errors.Is(err, store.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.LastUpdate = &LastUpdate{Job: last.ID, Operation: last.Operation, State: string(last.State), Reason: last.Reason, FinishedAt: last.FinishedAt}
	var result runner.Result
	if len(last.Result) > 0 && json.Unmarshal(last.Result, &result) == nil {
		v.Resources = result.Resources
	}
	return v, nil
}

// registeredStacks loads the stacks of the municipality in the path, if the
// token may act for it; it has answered the request when ok is false.
func (s *server) registeredStacks(w http.ResponseWriter, r *http.Request) (code string, stacks []store.Municipality, ok bool) {
	code = r.PathValue("code")
	if !mayAccess(r, code) {
		forbidden(w, code)
		return code, nil, false
	}
	stacks, err := s.Municipalities.ListMunicipalities(r.Context(), code)
	if err != nil {
		s.fail(w, r, "find municipality "+code, err)
		return code, nil, false
	}
	if len(stacks) == 0 {
		writeJSON(w, http.StatusNotFound, apiError{Error: "municipality " + code + " is not registered"})
		return code, nil, false
	}
	return code, stacks, true
}

func (s *server) getMunicipality(w http.ResponseWriter, r *http.Request) {
	code, stacks, ok := s.registeredStacks(w, r)
	if !ok {
		return
	}
	m, _ := municipality.Lookup(code)
	view := MunicipalityView{Municipality: m, Stacks: []StackView{}}
	for _, st := range stacks {
		v, err := s.stackView(r, st)
		if err != nil {
			s.fail(w, r, "find the last update of "+st.Stack, err)
			return
		}
		view.Stacks = append(view.Stacks, v)
	}
	writeJSON(w, http.StatusOK, view)
}

// deleteMunicipality queues the destroy of a municipality's stack; the stack
// and the registration are removed when it succeeds.
func (s *server) deleteMunicipality(w http.ResponseWriter, r *http.Request) {
	code, stacks, ok := s.registeredStacks(w, r)
	if !ok {
		return
	}
	env := r.URL.Query().Get("environment")
	var target *store.Municipality
	for i := range stacks {
		if stacks[i].Environment == env || (env == "" && len(stacks) == 1) {
			target = &stacks[i]
		}
	}
	switch {
	case target == nil && env == "":
		badRequest(w, "environment", "the municipality has stacks in several environments: add ?environment=dev or ?environment=prod")
		return
	case target == nil:
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("municipality %s has no stack in %q", code, env)})
		return
	case target.State == store.MunicipalityDeleting:
		writeJSON(w, http.StatusConflict, apiError{Error: target.Stack + " is already being deleted"})
		return
	}
	t, _ := tokenFrom(r.Context())
	job, err := s.Municipalities.MarkDeleting(r.Context(), code, target.Environment,
		store.Job{Stack: target.Stack, Code: code, Environment: target.Environment, Operation: store.OperationDestroy, RemoveStack: true, CreatedBy: t.ID},
		s.Queue.Enqueue(r.Context()))
	if errors.Is(err, store.ErrNotActive) { // another request won the race
		writeJSON(w, http.StatusConflict, apiError{Error: target.Stack + " is already being deleted"})
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("municipality %s has no stack in %q", code, target.Environment)})
		return
	}
	if err != nil {
		s.fail(w, r, "queue destroy of "+target.Stack, err)
		return
	}
	s.metrics.jobs.WithLabelValues(runner.Destroy).Inc()
	w.Header().Set("Location", fmt.Sprintf("/v1/jobs/%d", job.ID))
	writeJSON(w, http.StatusAccepted, map[string]any{"job": job})
}

// CreateJobRequest asks for an operation on a stack.
type CreateJobRequest struct {
	Operation store.Operation `json:"operation"`
}

func (s *server) stackFor(w http.ResponseWriter, r *http.Request) (store.Municipality, bool) {
	code, env := r.PathValue("code"), r.PathValue("env")
	if !mayAccess(r, code) {
		forbidden(w, code)
		return store.Municipality{}, false
	}
	m, err := s.Municipalities.GetMunicipality(r.Context(), code, env)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no stack %s: register the municipality in %s first", store.StackName(code, env), env)})
		return m, false
	}
	if err != nil {
		s.fail(w, r, "find stack "+store.StackName(code, env), err)
		return m, false
	}
	return m, true
}

func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	m, ok := s.stackFor(w, r)
	if !ok {
		return
	}
	req, err := decode[CreateJobRequest](w, r)
	if err != nil {
		writeDecodeError(w, err)
		return
	}
	if !slices.Contains(jobs.Operations, req.Operation) {
		badRequest(w, "operation", fmt.Sprintf("%q must be one of %s", req.Operation, store.JoinOperations(jobs.Operations)))
		return
	}
	if m.State == store.MunicipalityDeleting {
		writeJSON(w, http.StatusConflict, apiError{Error: m.Stack + " is being deleted"})
		return
	}
	t, _ := tokenFrom(r.Context())
	job, err := s.Jobs.CreateJobWithin(r.Context(),
		store.Job{Stack: m.Stack, Code: m.Code, Environment: m.Environment, Operation: req.Operation, CreatedBy: t.ID},
		s.QueueCaps, s.Queue.Enqueue(r.Context()))
	var full *store.QueueFullError
	if errors.As(err, &full) {
		w.Header().Set("Retry-After", queueFullRetryAfter)
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: fmt.Sprintf(
			"%s not queued: the queue holds at most %d queued jobs %s (%s); retry when some have started", req.Operation, full.Limit, full.Cap, queueCapSubject(full, m.Stack))})
		return
	}
	if errors.Is(err, store.ErrNotActive) {
		writeJSON(w, http.StatusConflict, apiError{Error: m.Stack + " is being deleted"})
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no stack %s: register the municipality in %s first", m.Stack, m.Environment)})
		return
	}
	if err != nil {
		s.fail(w, r, "queue "+string(req.Operation)+" of "+m.Stack, err)
		return
	}
	s.metrics.jobs.WithLabelValues(string(req.Operation)).Inc()
	w.Header().Set("Location", fmt.Sprintf("/v1/jobs/%d", job.ID))
	writeJSON(w, http.StatusAccepted, map[string]any{"job": job})
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	m, ok := s.stackFor(w, r)
	if !ok {
		return
	}
	list, err := s.Jobs.ListJobs(r.Context(), m.Stack, 100)
	if err != nil {
		s.fail(w, r, "list jobs of "+m.Stack, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": list})
}

// jobFor loads the job in the path if the token may see it. Another
// municipality's job answers 404, as if it did not exist.
func (s *server) jobFor(w http.ResponseWriter, r *http.Request) (store.Job, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(w, "id", fmt.Sprintf("%q must be a positive job number", r.PathValue("id")))
		return store.Job{}, false
	}
	job, err := s.Jobs.GetJob(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mayAccess(r, job.Code)) {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no job %d", id)})
		return job, false
	}
	if err != nil {
		s.fail(w, r, fmt.Sprintf("get job %d", id), err)
		return job, false
	}
	return job, true
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	if job, ok := s.jobFor(w, r); ok {
		writeJSON(w, http.StatusOK, job)
	}
}

func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	job, ok := s.jobFor(w, r)
	if !ok {
		return
	}
	cancelled, err := s.Queue.Cancel(r.Context(), job.ID)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("cancel job %d", job.ID), err)
		return
	}
	if !cancelled {
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("job %d has already finished", job.ID)})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"job": job.ID, "cancelling": true})
}

// queueCapSubject names what a refused job's cap counts.
func queueCapSubject(full *store.QueueFullError, stack string) string {
	if full.Cap == "per token" {
		return "this token's, across its stacks"
	}
	return stack + "'s"
}
