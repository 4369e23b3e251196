package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

type tokenKey struct{}

// callerKey holds a callerHolder through which authenticate tells the audit
// (in instrument, outside it) who made the request.
type callerKey struct{}

type callerHolder struct{ token *store.Token }

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
		t, err := s.Tokens.Authenticate(r.Context(), strings.TrimSpace(plain))
		if errors.Is(err, store.ErrBadToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cats", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "invalid or revoked token"})
			return
		}
		if err != nil {
			s.fail(w, r, "authenticate", err)
			return
		}
		recordCaller(r, t)
		h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, t)))
	}
}

// recordCaller tells the audit who made the request.
func recordCaller(r *http.Request, t store.Token) {
	if holder, ok := r.Context().Value(callerKey{}).(*callerHolder); ok {
		holder.token = &t
	}
}

// mayAccess reports whether the request's token may see or change a municipality.
func mayAccess(r *http.Request, code string) bool {
	t, ok := tokenFrom(r.Context())
	if !ok {
		return false
	}
	return t.Scope == store.ScopePlatform || t.Scope == store.MunicipalityScope(code)
}

// isPlatform reports whether the request's token is the platform team's.
func isPlatform(r *http.Request) bool {
	t, ok := tokenFrom(r.Context())
	return ok && t.Scope == store.ScopePlatform
}

func forbidden(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusForbidden, apiError{Error: "this token may not act for municipality " + code})
}
