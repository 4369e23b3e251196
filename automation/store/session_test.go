package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// TestSessionsAreStoredHashedAndEndWithTheirToken: a session id is stored
// only as its hash, resolves to its token while it lives, and ends when it
// expires, when it is deleted (sign out) and when its token is revoked.
func TestSessionsAreStoredHashedAndEndWithTheirToken(t *testing.T) {
	storetest.Run(t, testSessionsAreStoredHashedAndEndWithTheirToken)
}

func testSessionsAreStoredHashedAndEndWithTheirToken(t *testing.T, s *store.DB) {
	ctx := context.Background()
	tok, _, err := s.CreateToken(ctx, store.MunicipalityScope("131016"), "千代田区")
	if err != nil {
		t.Fatal(err)
	}
	id, sess, err := s.CreateSession(ctx, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) < 43 || len(sess.CSRFToken) < 43 {
		t.Errorf("session id %d and CSRF token %d characters, want 256 random bits each (43 base64url characters)", len(id), len(sess.CSRFToken))
	}
	var stored string
	if err := s.DB.QueryRow(`SELECT hash FROM sessions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, id) {
		t.Fatal("the session id is stored in plain text: a copy of the database would sign anyone in")
	}
	got, gotTok, err := s.Session(ctx, id)
	if err != nil || gotTok.ID != tok.ID || gotTok.Scope != tok.Scope || got.CSRFToken != sess.CSRFToken {
		t.Fatalf("Session(valid) = %+v %+v %v, want the session of token %s", got, gotTok, err, tok.ID)
	}
	if !got.ExpiresAt.After(time.Now().Add(59*time.Minute)) || got.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Errorf("session expires at %s, want an hour from now", got.ExpiresAt)
	}
	for _, bad := range []string{id + "x", "", strings.ToUpper(id)} {
		if _, _, err := s.Session(ctx, bad); !errors.Is(err, store.ErrNoSession) {
			t.Errorf("Session(%q) = %v, want ErrNoSession", bad, err)
		}
	}

	expired, _, err := s.CreateSession(ctx, tok.ID, -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, expired); !errors.Is(err, store.ErrNoSession) {
		t.Errorf("an expired session still resolves: %v", err)
	}
	// Starting a session removes the expired ones.
	if _, _, err := s.CreateSession(ctx, tok.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB.QueryRow(`SELECT COUNT(*) FROM sessions WHERE expires_at <= ?`, time.Now().Unix()).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d expired sessions kept (%v), want them removed", n, err)
	}

	if err := s.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, id); !errors.Is(err, store.ErrNoSession) {
		t.Errorf("a signed-out session still resolves: %v", err)
	}

	other, _, err := s.CreateSession(ctx, tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, other); !errors.Is(err, store.ErrNoSession) {
		t.Errorf("the session of a revoked token still resolves: %v; revoking a token must end its console sessions", err)
	}
}
