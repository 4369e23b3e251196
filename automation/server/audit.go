package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// maxAuditedPath bounds the request target (path and query) an audit entry
// keeps: a longer one is cut there and ends with the SHA-256 of the whole,
// so the entry still tells two long targets apart. 1 MiB paths sent without
// a token grew the database by 1 MiB a request.
const maxAuditedPath = 512

// maxAuditedTokenID bounds the token id an entry keeps (real ids are 12
// hex digits; a failed attempt may claim anything).
const maxAuditedTokenID = 64

// boundedText cuts s to max bytes (on a UTF-8 boundary) and appends the
// SHA-256 of the whole when it was longer.
func boundedText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes, sha256:" + hex.EncodeToString(sum[:16]) + ")"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// requestTarget is the path with its query string: a DELETE's environment
// and a probe's parameters are part of what was asked.
func requestTarget(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.Path
	}
	return r.URL.Path + "?" + r.URL.RawQuery
}

// auditBudget limits the audit entries of requests without a valid token,
// per client address: anyone can send them, so unlimited they fill the disk.
// Within a window an address gets perAddress entries; the rest are counted
// and the next entry written for that address says how many were left out.
// Past maxAddresses in one window (a spread-out flood), all such entries are
// counted only.
type auditBudget struct {
	perAddress   int
	maxAddresses int
	window       time.Duration
	now          func() time.Time

	mu      sync.Mutex
	started time.Time
	used    map[string]int // entries written in this window, by address
	skipped map[string]int // entries left out and not yet reported, by address
}

// DefaultUnauthenticatedAuditsPerMinute is the audit budget of one client
// address for requests without a valid token.
const DefaultUnauthenticatedAuditsPerMinute = 20

func newAuditBudget(perAddress int) *auditBudget {
	return &auditBudget{perAddress: perAddress, maxAddresses: 1000, window: time.Minute, now: time.Now,
		used: map[string]int{}, skipped: map[string]int{}}
}

// allow says whether an unauthenticated entry from addr is written, and how
// many earlier ones from that address were left out (to say so in it).
func (b *auditBudget) allow(addr string) (ok bool, skippedBefore int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.now(); t.Sub(b.started) >= b.window {
		b.started = t
		clear(b.used)
		if len(b.skipped) > b.maxAddresses {
			clear(b.skipped)
		}
	}
	_, known := b.used[addr]
	if b.used[addr] >= b.perAddress || (!known && len(b.used) >= b.maxAddresses) {
		if _, tracked := b.skipped[addr]; tracked || len(b.skipped) < b.maxAddresses {
			b.skipped[addr]++
		}
		return false, 0
	}
	b.used[addr]++
	skippedBefore = b.skipped[addr]
	delete(b.skipped, addr)
	return true, skippedBefore
}

// clientAddress is the address the connection came from (no port). Behind a
// proxy every request shares the proxy's: the budget then applies to all.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audited reports whether a request goes to the audit log: every mutating
// request, and every refusal for authentication or authorization (also of a
// GET: probing is worth knowing about).
func audited(r *http.Request, status int) bool {
	return (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		status == http.StatusUnauthorized || status == http.StatusForbidden
}

// audit writes the request's entry, within the budget when no valid token
// made it.
func (s *server) audit(r *http.Request, status int, detail string, caller *callerHolder) {
	if !audited(r, status) {
		return
	}
	entry := store.AuditEntry{Method: boundedText(r.Method, 16), Path: boundedText(requestTarget(r), maxAuditedPath),
		Status: status, Detail: detail}
	if t := caller.token; t != nil {
		entry.TokenID, entry.Scope = t.ID, t.Scope
	} else {
		entry.TokenID = boundedText(caller.triedID, maxAuditedTokenID)
		ok, skipped := s.auditBudget.allow(clientAddress(r))
		if !ok {
			s.metrics.auditSkipped.Inc()
			return
		}
		notes := []string{}
		if entry.Detail != "" {
			notes = append(notes, entry.Detail)
		}
		if caller.triedID != "" {
			notes = append(notes, "the token id was tried, not authenticated")
		}
		if skipped > 0 {
			notes = append(notes, strconv.Itoa(skipped)+" earlier unauthenticated requests from "+clientAddress(r)+" were not audited (rate limit)")
		}
		entry.Detail = strings.Join(notes, "; ")
	}
	// The audit outlives a client that hung up.
	if err := s.AuditLog.Audit(context.WithoutCancel(r.Context()), entry); err != nil {
		s.Logger.Error("audit", "method", entry.Method, "path", entry.Path, "err", err)
	}
}
