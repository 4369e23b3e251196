package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

type tokenKey struct{}

// callerKey holds a callerHolder through which authenticate tells the audit
// (in instrument, outside it) who made the request.
type callerKey struct{}

type callerHolder struct {
	token *store.Token
	// triedID is the id a bearer token that did not authenticate claimed
	// (a wrong secret for a real id shows up in the audit with that id).
	triedID string
}

func tokenFrom(ctx context.Context) (store.Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(store.Token)
	return t, ok
}

// authenticate requires a valid, unrevoked bearer token or, without an
// Authorization header, a console session (session.go).
func (s *server) authenticate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, ok := s.sessionID(r); ok && r.Header.Get("Authorization") == "" {
			s.authenticateSession(w, r, id, h)
			return
		}
		plain, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || plain == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cats"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "a bearer token is required"})
			return
		}
		t, ok := s.checkToken(w, r, plain)
		if !ok {
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, t)))
	}
}

// checkToken authenticates a token a client presented (a bearer token, or the
// console's sign-in) and tells the audit who it is, or which token id it
// claimed. On failure it has answered 401 (500 when the store fails).
func (s *server) checkToken(w http.ResponseWriter, r *http.Request, plain string) (store.Token, bool) {
	plain = strings.TrimSpace(plain)
	t, err := s.Tokens.Authenticate(r.Context(), plain)
	if errors.Is(err, store.ErrBadToken) {
		recordTried(r, plain)
		w.Header().Set("WWW-Authenticate", `Bearer realm="cats", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "invalid or revoked token"})
		return store.Token{}, false
	}
	if err != nil {
		s.fail(w, r, "authenticate", err)
		return store.Token{}, false
	}
	recordCaller(r, t)
	return t, true
}

// recordCaller tells the audit who made the request.
func recordCaller(r *http.Request, t store.Token) {
	if holder, ok := r.Context().Value(callerKey{}).(*callerHolder); ok {
		holder.token = &t
	}
}

// recordTried tells the audit which token id a failed bearer token claimed.
func recordTried(r *http.Request, plain string) {
	if holder, ok := r.Context().Value(callerKey{}).(*callerHolder); ok {
		holder.triedID, _ = store.TokenIDOf(plain)
	}
}

// mayAccess reports whether the request's token may see or change a
// municipality. It fails closed: a scope or a code that is not exactly a
// municipality's grants nothing (an empty code never matches an empty scope).
func mayAccess(r *http.Request, code string) bool {
	t, ok := tokenFrom(r.Context())
	if !ok {
		return false
	}
	if t.Scope == store.ScopePlatform {
		return true
	}
	own, ok := scopeCode(t)
	return ok && own == code
}

// scopeCode is the municipality a token is limited to; ok is false for any
// scope that is not exactly municipality:<valid code>.
func scopeCode(t store.Token) (code string, ok bool) {
	code, ok = t.Scope.Municipality()
	if !ok || municipality.Validate(code) != nil {
		return "", false
	}
	return code, true
}

// isPlatform reports whether the request's token is the platform team's.
func isPlatform(r *http.Request) bool {
	t, ok := tokenFrom(r.Context())
	return ok && t.Scope == store.ScopePlatform
}

func forbidden(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusForbidden, apiError{Error: "this token may not act for municipality " + code})
}
