package server

import (
	"net/http"
	"sync"
	"time"
)

// Limits are the connection limits of the API's HTTP server.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included: a client
	// that announces a body and never sends it is cut off then.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer. Event streams set their own
	// deadline before each write instead (streamWriteTimeout).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; past it the
	// client gets 431 before any handler runs.
	MaxHeaderBytes int
}

// DefaultLimits are the limits of cats serve. The largest legitimate request
// is a registration of a few kilobytes; headers hold a token or a session
// cookie.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    16 << 10,
}

// NewHTTPServer returns the HTTP server for the API's handler with the limits.
func NewHTTPServer(h http.Handler, l Limits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// Queue caps (issue 16: one token queued 2,000 jobs on its stack in 3 s).
const (
	// DefaultQueuedPerStack: a stack runs one job at a time, so a few
	// waiting jobs say all a client wants done; more is a loop or a flood.
	DefaultQueuedPerStack = 10
	// DefaultQueuedPerToken: a token may keep a few jobs waiting on each of
	// a handful of stacks (a municipality has dev and prod; the platform
	// team's own token covers its manual runs, rollouts queue as the fleet).
	DefaultQueuedPerToken = 50
	// queueFullRetryAfter is the Retry-After of a refused job, in seconds:
	// about the time a plan takes to leave the queue.
	queueFullRetryAfter = "30"
)

// Event stream limits.
const (
	// DefaultMaxStreamsPerToken: a console shows a few jobs at a time; one
	// token once held 2,000 streams open.
	DefaultMaxStreamsPerToken = 32
	// DefaultMaxStreamDuration: a stream ends after this long; the client
	// reconnects with Last-Event-ID.
	DefaultMaxStreamDuration = 30 * time.Minute
	// streamWriteTimeout bounds each write of a stream: a client that reads
	// nothing is dropped.
	streamWriteTimeout = 30 * time.Second
)

// streamLimiter counts the open event streams of each token.
type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes one of the token's streams; ok is false when it has max open.
func (l *streamLimiter) acquire(tokenID string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[tokenID] >= l.max {
		return nil, false
	}
	l.open[tokenID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[tokenID]--; l.open[tokenID] == 0 {
				delete(l.open, tokenID)
			}
		})
	}, true
}
