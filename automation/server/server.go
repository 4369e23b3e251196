// Package server is the automation server's HTTP API: municipalities, their
// stacks and the jobs that operate them, behind bearer tokens scoped to the
// platform team or to one municipality.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// MunicipalityStore keeps the registered municipalities and their stacks.
type MunicipalityStore interface {
	// CreateMunicipality registers a stack and queues its first job, atomically.
	CreateMunicipality(ctx context.Context, m store.Municipality, first store.Job, enqueue store.Enqueue) (store.Municipality, store.Job, error)
	// ListMunicipalities returns all stacks, or those of one municipality code.
	ListMunicipalities(ctx context.Context, code string) ([]store.Municipality, error)
	GetMunicipality(ctx context.Context, code, environment string) (store.Municipality, error)
	// MarkDeleting marks a stack deleting and queues its destroy, atomically.
	MarkDeleting(ctx context.Context, code, environment string, destroy store.Job, enqueue store.Enqueue) (store.Job, error)
}

// JobStore keeps the jobs and their events.
type JobStore interface {
	// CreateJob records a job and queues it, atomically.
	CreateJob(ctx context.Context, j store.Job, enqueue store.Enqueue) (store.Job, error)
	GetJob(ctx context.Context, id int64) (store.Job, error)
	// ListJobs returns a stack's latest jobs, newest first.
	ListJobs(ctx context.Context, stack string, limit int) ([]store.Job, error)
	// Events returns a job's events after a sequence number, in order.
	Events(ctx context.Context, jobID int64, after int) ([]store.Event, error)
	// LastJob returns a stack's latest finished job of the operations
	// (store.ErrNotFound when none).
	LastJob(ctx context.Context, stack string, operations ...string) (store.Job, error)
}

// TokenAuthenticator resolves a bearer token to its record; it answers
// store.ErrBadToken for a malformed, unknown or revoked one.
type TokenAuthenticator interface {
	Authenticate(ctx context.Context, plain string) (store.Token, error)
}

// AuditLog records every mutating request.
type AuditLog interface {
	Audit(ctx context.Context, e store.AuditEntry) error
}

// JobQueue runs the recorded jobs.
type JobQueue interface {
	// Enqueue returns the function that queues a job in the transaction that
	// records it.
	Enqueue(ctx context.Context) store.Enqueue
	// Cancel stops a queued or running job; false when it had finished.
	Cancel(ctx context.Context, id int64) (bool, error)
}

// Deps are the server's collaborators, each named for its role.
type Deps struct {
	Municipalities MunicipalityStore
	Jobs           JobStore
	Tokens         TokenAuthenticator
	AuditLog       AuditLog
	Queue          JobQueue
	Logger         *slog.Logger
	// ValidateConfig checks a stack's configuration exactly as the program
	// will (components/config), so a bad value is refused before any job.
	ValidateConfig func(stack string, config map[string]string) error
	// Ready reports whether the server can run jobs (database, CLI); the
	// error is logged, not shown.
	Ready func(ctx context.Context) error
	// Registry receives the server's metrics; nil creates one.
	Registry *prometheus.Registry
	// Sessions keeps the console's sign-in sessions; nil disables sign-in
	// (the API then takes bearer tokens only).
	Sessions SessionStore
	// Fleet runs rollouts and answers the fleet's status; nil leaves out
	// their routes.
	Fleet Fleet
	// TrustForwardedProto takes X-Forwarded-Proto: https as TLS, for a server
	// behind a TLS-terminating proxy that sets it: session cookies are then
	// Secure. Leave it off when clients reach the server directly.
	TrustForwardedProto bool
}

type server struct {
	Deps
	metrics *metrics
}

// NewServer returns the API's handler.
func NewServer(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &server{Deps: d, metrics: newMetrics(d.Registry)}
	return s.routes()
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	jobs     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cats_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cats_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cats_jobs_queued_total", Help: "Jobs queued by operation.",
		}, []string{"operation"}),
	}
	reg.MustRegister(m.requests, m.latency, m.jobs)
	return m
}

func (s *server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
}

// apiError is the body of every error response: a short message, and for bad
// input the field and the reason.
type apiError struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, field, reason string) {
	writeJSON(w, http.StatusBadRequest, apiError{Error: "invalid request", Field: field, Reason: reason})
}

// fail answers an internal error with a short message; the log gets the detail.
func (s *server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.Logger.Error(what, "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, apiError{Error: what + " failed"})
}

// maxBody bounds request bodies: the largest legitimate one is a municipality
// with its config, a few kilobytes.
const maxBody = 64 << 10

// fieldError is a decoding or validation problem with a named field.
type fieldError struct{ field, reason string }

func (e *fieldError) Error() string { return e.field + ": " + e.reason }

// decode reads exactly one JSON object of type T: size-limited, unknown fields
// refused, nothing after it.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return v, &fieldError{"Content-Type", "must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return v, &fieldError{"body", "must hold a single JSON object"}
	}
	return v, nil
}

func decodeError(err error) *fieldError {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &fieldError{"body", fmt.Sprintf("is larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &syntax):
		return &fieldError{"body", fmt.Sprintf("is not valid JSON (at byte %d)", syntax.Offset)}
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return &fieldError{"body", "must be a JSON object"}
	case errors.As(err, &typeErr) && typeErr.Field == "config":
		return &fieldError{"config", "values must be strings"}
	case errors.As(err, &typeErr):
		return &fieldError{typeErr.Field, "must be a " + jsonType(typeErr.Type.Kind())}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &fieldError{"body", "is empty or cut short: send a JSON object"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if unquoted := strings.Trim(name, `"`); unquoted != "" {
			name = unquoted
		}
		return &fieldError{name, "is not a known field"}
	}
	return &fieldError{"body", err.Error()}
}

func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Map, reflect.Struct:
		return "JSON object"
	case reflect.Slice, reflect.Array:
		return "JSON array"
	case reflect.Bool:
		return "boolean"
	}
	return "number"
}

func writeDecodeError(w http.ResponseWriter, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		badRequest(w, fe.field, fe.reason)
		return
	}
	badRequest(w, "body", err.Error())
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument counts and times a route, and writes every mutating request to the audit log.
func (s *server) instrument(route string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		caller := &callerHolder{}
		h(rec, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return
		}
		entry := store.AuditEntry{Method: r.Method, Path: r.URL.Path, Status: rec.status, Detail: rec.Header().Get("Location")}
		if t := caller.token; t != nil {
			entry.TokenID, entry.Scope = t.ID, t.Scope
		}
		// The audit outlives a client that hung up.
		if err := s.AuditLog.Audit(context.WithoutCancel(r.Context()), entry); err != nil {
			s.Logger.Error("audit", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
}
