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
	// CreateJobWithin records a job and queues it, atomically, unless the
	// stack or the token already has caps' worth of queued jobs
	// (*store.QueueFullError).
	CreateJobWithin(ctx context.Context, j store.Job, caps store.QueueCaps, enqueue store.Enqueue) (store.Job, error)
	GetJob(ctx context.Context, id int64) (store.Job, error)
	// ListJobs returns a stack's latest jobs, newest first.
	ListJobs(ctx context.Context, stack string, limit int) ([]store.Job, error)
	// Events returns a job's events after a sequence number, in order.
	Events(ctx context.Context, jobID int64, after int) ([]store.Event, error)
	// LastJob returns a stack's latest finished job of the operations
	// (store.ErrNotFound when none).
	LastJob(ctx context.Context, stack string, operations ...store.Operation) (store.Job, error)
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
	// MaxStreamsPerToken caps the event streams one token has open at once
	// (DefaultMaxStreamsPerToken when zero); beyond it a stream gets 429.
	MaxStreamsPerToken int
	// MaxStreamDuration ends an event stream after this long
	// (DefaultMaxStreamDuration when zero); the client reconnects with
	// Last-Event-ID and misses nothing.
	MaxStreamDuration time.Duration
	// UnauthenticatedAuditsPerMinute is the audit entries a client address
	// gets per minute for requests without a valid token
	// (DefaultUnauthenticatedAuditsPerMinute when zero); the rest are counted.
	UnauthenticatedAuditsPerMinute int
	// QueueCaps bound the queued jobs of one stack and of one token; a zero
	// cap takes its default (DefaultQueuedPerStack, DefaultQueuedPerToken).
	// Beyond a cap a new job gets 429 with Retry-After.
	QueueCaps store.QueueCaps
	// JobEvents wakes event streams when a job has new events or ends, on
	// whichever replica it runs; nil: streams poll the store.
	JobEvents JobEventNotifier
}

// JobEventNotifier tells of a job's new events and of its end
// (store.DB: LISTEN/NOTIFY on PostgreSQL, in process on SQLite).
type JobEventNotifier interface {
	// SubscribeJob returns a channel woken when the job has new events or
	// ends, and the function that ends the subscription.
	SubscribeJob(jobID int64) (<-chan struct{}, func())
}

type server struct {
	Deps
	metrics     *metrics
	auditBudget *auditBudget
	streams     *streamLimiter
}

// NewServer returns the API's handler.
func NewServer(d Deps) http.Handler {
	if d.QueueCaps.PerStack <= 0 {
		d.QueueCaps.PerStack = DefaultQueuedPerStack
	}
	if d.QueueCaps.PerToken <= 0 {
		d.QueueCaps.PerToken = DefaultQueuedPerToken
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.MaxStreamsPerToken <= 0 {
		d.MaxStreamsPerToken = DefaultMaxStreamsPerToken
	}
	if d.MaxStreamDuration <= 0 {
		d.MaxStreamDuration = DefaultMaxStreamDuration
	}
	if d.UnauthenticatedAuditsPerMinute <= 0 {
		d.UnauthenticatedAuditsPerMinute = DefaultUnauthenticatedAuditsPerMinute
	}
	s := &server{Deps: d, metrics: newMetrics(d.Registry), auditBudget: newAuditBudget(d.UnauthenticatedAuditsPerMinute),
		streams: newStreamLimiter(d.MaxStreamsPerToken)}
	return s.routes()
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	jobs     *prometheus.CounterVec
	// auditSkipped counts unauthenticated requests left out of the audit
	// log by its per-address budget.
	auditSkipped prometheus.Counter
	// streams is the number of open event streams.
	streams prometheus.Gauge
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
		auditSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cats_audit_skipped_total", Help: "Unauthenticated requests not audited: over their client address's budget.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cats_event_streams", Help: "Event streams open now.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.jobs, m.auditSkipped, m.streams)
	return m
}

// MetricsHandler serves a registry's metrics without authentication, for a
// separate listen address that only the scraper reaches (cats serve
// --metrics-addr); on the API's address /metrics takes the platform token.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// metrics answers /metrics on the API's address: the platform team's only.
func (s *server) metricsEndpoint(w http.ResponseWriter, r *http.Request) {
	if !isPlatform(r) {
		writeJSON(w, http.StatusForbidden, apiError{Error: "metrics are for the platform team's token"})
		return
	}
	MetricsHandler(s.Registry).ServeHTTP(w, r)
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

// Unwrap lets http.ResponseController reach the connection (event streams
// set their own deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument wraps every request, the router's own 404 and 405 included:
// security headers, metrics by route, and the audit log (audit.go).
func (s *server) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := "unmatched"
		if _, pattern := mux.Handler(r); pattern != "" {
			route = pattern
		}
		// No answer is sniffed into another type or kept by a cache; a
		// handler may allow caching of its own (the catalogs, the console's assets).
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		caller := &callerHolder{}
		mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.audit(r, rec.status, rec.Header().Get("Location"), caller)
	})
}
