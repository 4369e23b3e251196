package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
)

// SessionStore keeps the console's sign-in sessions (store.DB): a token
// is exchanged once for a session whose id lives only in an HttpOnly cookie.
type SessionStore interface {
	// CreateSession starts a session for a token and returns its id, to be
	// given to the browser once.
	CreateSession(ctx context.Context, tokenID string, ttl time.Duration) (string, store.Session, error)
	// Session resolves a session id; store.ErrNoSession when it is unknown,
	// expired or ended, or its token was revoked.
	Session(ctx context.Context, id string) (store.Session, store.Token, error)
	DeleteSession(ctx context.Context, id string) error
}

// sessionTTL is a session's lifetime from sign-in: a working day.
const sessionTTL = 8 * time.Hour

// csrfHeader carries a session's CSRF token on every request that changes
// something.
const csrfHeader = "X-CSRF-Token"

// Session cookie names. Over TLS the __Host- prefix makes the browser refuse
// the cookie unless it is Secure, has Path=/ and no Domain, so no sibling
// host can set or shadow it (RFC 6265bis §4.1.3.2); over plain HTTP (the
// loopback default) the prefix cannot be used.
const (
	sessionCookie       = "cats_session"
	secureSessionCookie = "__Host-cats_session"
)

type sessionKey struct{}

// callerSession is the session a request was authenticated with, if any.
type callerSession struct {
	id string
	store.Session
}

func sessionFrom(ctx context.Context) (callerSession, bool) {
	s, ok := ctx.Value(sessionKey{}).(callerSession)
	return s, ok
}

// isTLS reports whether the browser reached the server over TLS: directly,
// or through a proxy whose X-Forwarded-Proto the server is told to trust.
func (s *server) isTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.TrustForwardedProto {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (s *server) sessionCookieName(r *http.Request) string {
	if s.isTLS(r) {
		return secureSessionCookie
	}
	return sessionCookie
}

// setSessionCookie gives the browser a session id: HttpOnly so no script
// reads it, SameSite=Strict so no other site's page sends it, Secure over
// TLS. It has no Max-Age: it ends with the browser, the session itself after
// sessionTTL on the server.
func (s *server) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, clear bool) {
	c := &http.Cookie{Name: s.sessionCookieName(r), Value: value, Path: "/", HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode}
	if clear {
		c.Value, c.MaxAge = "", -1
	}
	http.SetCookie(w, c)
}

// sessionID returns the session id a request carries, if any.
func (s *server) sessionID(r *http.Request) (string, bool) {
	if s.Sessions == nil {
		return "", false
	}
	c, err := r.Cookie(s.sessionCookieName(r))
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// mutating reports whether a method changes something: such requests made
// with a session cookie need the CSRF token.
func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// errCrossSite is the answer to a browser request that another site made.
var errCrossSite = errors.New("a request from another site is refused: use the console at this server's own address")

// sameOrigin checks what a browser says about where a request comes from
// (Fetch Metadata and Origin): a page of another site is refused even before
// its lack of a CSRF token is. Clients that send neither header (curl, the
// API's programs) are not browsers and carry a bearer token instead.
func (s *server) sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return errCrossSite
	}
	want := "http"
	if s.isTLS(r) {
		want = "https"
	}
	if u.Scheme != want {
		return errCrossSite
	}
	return nil
}

// authenticateSession serves a request authenticated by its session cookie.
// A request that changes something must come from the console's own origin
// and carry the session's CSRF token: the browser adds the cookie to any
// request to this server, the token only the console's script can send.
func (s *server) authenticateSession(w http.ResponseWriter, r *http.Request, id string, h http.HandlerFunc) {
	sess, t, err := s.Sessions.Session(r.Context(), id)
	if errors.Is(err, store.ErrNoSession) {
		s.setSessionCookie(w, r, "", true)
		w.Header().Set("WWW-Authenticate", `Bearer realm="cats", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "the session has ended: sign in again"})
		return
	}
	if err != nil {
		s.fail(w, r, "authenticate the session", err)
		return
	}
	recordCaller(r, t)
	if mutating(r.Method) {
		if err := s.sameOrigin(r); err != nil {
			writeJSON(w, http.StatusForbidden, apiError{Error: err.Error()})
			return
		}
		sent := r.Header.Get(csrfHeader)
		if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(sess.CSRFToken)) != 1 {
			writeJSON(w, http.StatusForbidden, apiError{Error: "the " + csrfHeader + " header must carry the session's CSRF token (GET /v1/session)"})
			return
		}
	}
	ctx := context.WithValue(r.Context(), sessionKey{}, callerSession{id: id, Session: sess})
	h(w, r.WithContext(context.WithValue(ctx, tokenKey{}, t)))
}

// SignInRequest exchanges a token for a console session.
type SignInRequest struct {
	Token string `json:"token"`
}

// SessionView says who the caller is; for a console session, also its CSRF
// token and when it ends.
type SessionView struct {
	Scope string `json:"scope"`
	// Municipality is the code a municipality token acts for.
	Municipality string `json:"municipality,omitempty"`
	TokenID      string `json:"tokenId"`
	Description  string `json:"description,omitempty"`
	CSRFToken    string `json:"csrfToken,omitempty"`
	ExpiresAt    string `json:"expiresAt,omitempty"`
}

func sessionView(t store.Token, sess *store.Session) SessionView {
	v := SessionView{Scope: string(t.Scope), TokenID: t.ID, Description: t.Description}
	if code, ok := t.Scope.Municipality(); ok {
		v.Municipality = code
	}
	if sess != nil {
		v.CSRFToken, v.ExpiresAt = sess.CSRFToken, sess.ExpiresAt.Format(time.RFC3339)
	}
	return v
}

// signIn exchanges a token for a session cookie. The token travels once, in
// the body of a same-origin POST; the browser keeps only the HttpOnly cookie.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.Sessions == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: "console sessions are not enabled on this server"})
		return
	}
	// Another site's page must not sign a browser in with a token of its
	// choosing (login CSRF).
	if err := s.sameOrigin(r); err != nil {
		writeJSON(w, http.StatusForbidden, apiError{Error: err.Error()})
		return
	}
	req, err := decode[SignInRequest](w, r)
	if err != nil {
		writeDecodeError(w, err)
		return
	}
	if strings.TrimSpace(req.Token) == "" {
		badRequest(w, "token", "is required: the token `cats token create` printed (cats_<ID>_<secret>)")
		return
	}
	t, ok := s.checkToken(w, r, req.Token)
	if !ok {
		return
	}
	// A browser signing in again gets a new session id, and the one it had
	// ends: an id known before sign-in is never the signed-in one.
	if old, ok := s.sessionID(r); ok {
		if err := s.Sessions.DeleteSession(r.Context(), old); err != nil {
			s.fail(w, r, "end the previous session", err)
			return
		}
	}
	id, sess, err := s.Sessions.CreateSession(r.Context(), t.ID, sessionTTL)
	if err != nil {
		s.fail(w, r, "start a session", err)
		return
	}
	s.setSessionCookie(w, r, id, false)
	writeJSON(w, http.StatusCreated, sessionView(t, &sess))
}

// whoAmI answers who the caller is (and, for a session, its CSRF token).
func (s *server) whoAmI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	t, _ := tokenFrom(r.Context())
	var sess *store.Session
	if cs, ok := sessionFrom(r.Context()); ok {
		sess = &cs.Session
	}
	writeJSON(w, http.StatusOK, sessionView(t, sess))
}

// signOut ends the caller's session and clears its cookie.
func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	cs, ok := sessionFrom(r.Context())
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no console session: this request carries a bearer token (revoke a token with cats token revoke)"})
		return
	}
	if err := s.Sessions.DeleteSession(r.Context(), cs.id); err != nil {
		s.fail(w, r, "end the session", err)
		return
	}
	s.setSessionCookie(w, r, "", true)
	w.WriteHeader(http.StatusNoContent)
}
