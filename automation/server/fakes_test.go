package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// fakeStore keeps municipalities, jobs, events, tokens and the audit log in
// memory, with the rules of the real store (store.DB, tested against
// SQLite in its own package) that the handlers rely on: one registration per
// code and environment, a job and its queue entry together or not at all,
// newest jobs first.
type fakeStore struct {
	mu             sync.Mutex
	municipalities map[string]store.Municipality // by stack
	jobs           []store.Job                   // job n at index n-1
	events         map[int64][]store.Event
	tokens         map[string]store.Token // by plain token; a revoked one has RevokedAt
	audit          []store.AuditEntry
}

func newFakeStore() *fakeStore {
	return &fakeStore{municipalities: map[string]store.Municipality{}, events: map[int64][]store.Event{}, tokens: map[string]store.Token{}}
}

func fakeNow() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// insertJob records a job and calls enqueue, as the real store does in one
// transaction: a failed enqueue leaves no job.
func (f *fakeStore) insertJob(j store.Job, enqueue store.Enqueue) (store.Job, error) {
	j.ID = int64(len(f.jobs) + 1)
	j.State, j.CreatedAt = store.JobQueued, fakeNow()
	if err := enqueue(nil, j.ID); err != nil {
		return store.Job{}, err
	}
	f.jobs = append(f.jobs, j)
	return j, nil
}

func (f *fakeStore) CreateMunicipality(_ context.Context, m store.Municipality, first store.Job, enqueue store.Enqueue) (store.Municipality, store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.Stack = store.StackName(m.Code, m.Environment)
	if _, ok := f.municipalities[m.Stack]; ok {
		return store.Municipality{}, store.Job{}, store.ErrExists
	}
	job, err := f.insertJob(first, enqueue)
	if err != nil {
		return store.Municipality{}, store.Job{}, err
	}
	m.State, m.CreatedAt, m.UpdatedAt = store.MunicipalityActive, fakeNow(), fakeNow()
	f.municipalities[m.Stack] = m
	return m, job, nil
}

func (f *fakeStore) ListMunicipalities(_ context.Context, code string) ([]store.Municipality, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := []store.Municipality{}
	for _, m := range f.municipalities {
		if code == "" || m.Code == code {
			list = append(list, m)
		}
	}
	slices.SortFunc(list, func(a, b store.Municipality) int {
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.Environment, b.Environment))
	})
	return list, nil
}

func (f *fakeStore) GetMunicipality(_ context.Context, code, environment string) (store.Municipality, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.municipalities[store.StackName(code, environment)]
	if !ok {
		return m, store.ErrNotFound
	}
	return m, nil
}

func (f *fakeStore) MarkDeleting(_ context.Context, code, environment string, destroy store.Job, enqueue store.Enqueue) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	stack := store.StackName(code, environment)
	m, ok := f.municipalities[stack]
	if !ok {
		return store.Job{}, store.ErrNotFound
	}
	if m.State != store.MunicipalityActive {
		return store.Job{}, store.ErrNotActive
	}
	job, err := f.insertJob(destroy, enqueue)
	if err != nil {
		return store.Job{}, err
	}
	m.State, m.UpdatedAt = store.MunicipalityDeleting, fakeNow()
	f.municipalities[stack] = m
	return job, nil
}

func (f *fakeStore) CreateJobWithin(_ context.Context, j store.Job, caps store.QueueCaps, enqueue store.Enqueue) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.municipalities[store.StackName(j.Code, j.Environment)]
	if !ok {
		return store.Job{}, store.ErrNotFound
	}
	if m.State != store.MunicipalityActive {
		return store.Job{}, store.ErrNotActive
	}
	var ofStack, ofToken int
	for _, q := range f.jobs {
		if q.State != store.JobQueued {
			continue
		}
		if q.Stack == j.Stack {
			ofStack++
		}
		if q.CreatedBy == j.CreatedBy {
			ofToken++
		}
	}
	if caps.PerStack > 0 && ofStack >= caps.PerStack {
		return store.Job{}, &store.QueueFullError{Cap: "per stack", Limit: caps.PerStack}
	}
	if caps.PerToken > 0 && ofToken >= caps.PerToken {
		return store.Job{}, &store.QueueFullError{Cap: "per token", Limit: caps.PerToken}
	}
	return f.insertJob(j, enqueue)
}

func (f *fakeStore) GetJob(_ context.Context, id int64) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id < 1 || id > int64(len(f.jobs)) {
		return store.Job{}, store.ErrNotFound
	}
	return f.jobs[id-1], nil
}

func (f *fakeStore) ListJobs(_ context.Context, stack string, limit int) ([]store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := []store.Job{}
	for i := len(f.jobs) - 1; i >= 0 && len(list) < limit; i-- {
		if f.jobs[i].Stack == stack {
			list = append(list, f.jobs[i])
		}
	}
	return list, nil
}

func (f *fakeStore) Events(_ context.Context, jobID int64, after int) ([]store.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := []store.Event{}
	for _, e := range f.events[jobID] {
		if e.Seq > after {
			list = append(list, e)
		}
	}
	return list, nil
}

func (f *fakeStore) LastJob(_ context.Context, stack string, operations ...store.Operation) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.jobs) - 1; i >= 0; i-- {
		if j := f.jobs[i]; j.Stack == stack && store.Terminal(j.State) && slices.Contains(operations, j.Operation) {
			return j, nil
		}
	}
	return store.Job{}, store.ErrNotFound
}

func (f *fakeStore) Authenticate(_ context.Context, plain string) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[plain]
	if !ok || t.RevokedAt != "" {
		return store.Token{}, store.ErrBadToken
	}
	return t, nil
}

func (f *fakeStore) Audit(_ context.Context, e store.AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.ID, e.At = int64(len(f.audit)+1), fakeNow()
	f.audit = append(f.audit, e)
	return nil
}

// finish puts a job in a final state with its result and events, as the
// queue would have.
func (f *fakeStore) finish(id int64, state store.JobState, result any, events ...any) {
	f.fail(id, state, "", "", result, events...)
}

// fail finishes a job with a reason and a message, as the queue would have.
func (f *fakeStore) fail(id int64, state store.JobState, reason, message string, result any, events ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := &f.jobs[id-1]
	j.State, j.Attempts, j.StartedAt, j.FinishedAt = state, 1, fakeNow(), fakeNow()
	j.Reason, j.Error = reason, message
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			panic(err)
		}
		j.Result = b
	}
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			panic(err)
		}
		f.events[id] = append(f.events[id], store.Event{Seq: len(f.events[id]) + 1, At: fakeNow(), Event: b})
	}
}

func (f *fakeStore) auditLog() []store.AuditEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audit)
}

func (f *fakeStore) jobCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// fakeQueue records the jobs queued and cancels those not yet final.
type fakeQueue struct {
	store  *fakeStore
	mu     sync.Mutex
	queued []int64
}

func (q *fakeQueue) Enqueue(context.Context) store.Enqueue {
	return func(_ *sql.Tx, id int64) error {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.queued = append(q.queued, id)
		return nil
	}
}

func (q *fakeQueue) Cancel(_ context.Context, id int64) (bool, error) {
	f := q.store
	f.mu.Lock()
	defer f.mu.Unlock()
	j := &f.jobs[id-1]
	if store.Terminal(j.State) {
		return false, nil
	}
	j.State, j.FinishedAt = store.JobCancelled, fakeNow()
	return true, nil
}
