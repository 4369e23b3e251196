package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// TestAJobBeyondAQueueCapGets429: one token queued 2,000 jobs on its stack
// in 3 s (issue 16). On the real store, a job beyond the stack's cap, then
// beyond the token's, gets 429 with Retry-After and a message naming the cap.
func TestAJobBeyondAQueueCapGets429(t *testing.T) {
	a := newSQLiteAPI(t, func(d *Deps) { d.QueueCaps = store.QueueCaps{PerStack: 3, PerToken: 3} })
	for _, env := range []string{"dev", "prod"} {
		if r := a.do(t, "POST", "/v1/municipalities", a.platform, registration("131016", "千代田区", "東京都", env)); r.Code != http.StatusAccepted {
			t.Fatalf("register 131016-%s: %d %s", env, r.Code, r.Body)
		}
	}
	// dev holds the registration's plan (the platform token's): 2 more fit.
	for i := 0; i < 2; i++ {
		if r := a.do(t, "POST", "/v1/municipalities/131016/dev/jobs", a.owner, `{"operation":"up"}`); r.Code != http.StatusAccepted {
			t.Fatalf("job %d within the caps: %d %s", i+1, r.Code, r.Body)
		}
	}
	r := a.do(t, "POST", "/v1/municipalities/131016/dev/jobs", a.owner, `{"operation":"up"}`)
	if r.Code != http.StatusTooManyRequests || r.Header().Get("Retry-After") == "" ||
		!strings.Contains(r.Body.String(), "at most 3 queued jobs per stack") || !strings.Contains(r.Body.String(), "131016-dev") {
		t.Fatalf("a 4th queued job on a stack capped at 3: %d Retry-After %q %s; want 429 naming the per-stack cap",
			r.Code, r.Header().Get("Retry-After"), r.Body)
	}
	// prod holds its plan and takes the token's 3rd job; the 4th has room
	// on prod but not in the token's cap.
	if r := a.do(t, "POST", "/v1/municipalities/131016/prod/jobs", a.owner, `{"operation":"preview"}`); r.Code != http.StatusAccepted {
		t.Fatalf("the token's 3rd job: %d %s", r.Code, r.Body)
	}
	r = a.do(t, "POST", "/v1/municipalities/131016/prod/jobs", a.owner, `{"operation":"preview"}`)
	if r.Code != http.StatusTooManyRequests || r.Header().Get("Retry-After") == "" || !strings.Contains(r.Body.String(), "at most 3 queued jobs per token") {
		t.Fatalf("the token's 4th queued job: %d Retry-After %q %s; want 429 naming the per-token cap",
			r.Code, r.Header().Get("Retry-After"), r.Body)
	}
	// Another token is not held back by this one's flood.
	if r := a.do(t, "POST", "/v1/municipalities/131016/prod/jobs", a.platform, `{"operation":"preview"}`); r.Code != http.StatusAccepted {
		t.Fatalf("the platform token's job on prod: %d %s, want 202", r.Code, r.Body)
	}
}

// TestDefaultQueueCapsApply: a server given no caps still has them.
func TestDefaultQueueCapsApply(t *testing.T) {
	a := newSQLiteAPI(t, nil)
	if r := a.do(t, "POST", "/v1/municipalities", a.platform, registration("131016", "千代田区", "東京都", "dev")); r.Code != http.StatusAccepted {
		t.Fatalf("register: %d %s", r.Code, r.Body)
	}
	accepted := 0
	for i := 0; i < DefaultQueuedPerStack+5; i++ {
		if a.do(t, "POST", "/v1/municipalities/131016/dev/jobs", a.owner, `{"operation":"plan"}`).Code == http.StatusAccepted {
			accepted++
		}
	}
	if accepted != DefaultQueuedPerStack-1 { // the registration's plan holds one place
		t.Fatalf("%d jobs accepted on a stack, want %d (DefaultQueuedPerStack less the registration's plan)", accepted, DefaultQueuedPerStack-1)
	}
}
