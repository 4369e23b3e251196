package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ErrNoSession is returned for an unknown, expired or ended session, or one
// whose token was revoked.
var ErrNoSession = errors.New("no such session: it ended, expired or its token was revoked")

// Session is a console sign-in, exchanged for a token. A session belongs to
// the token it was exchanged for: it is honoured only while that token is
// unrevoked, so revoking a token ends its sessions. Only the SHA-256 of a
// session id is stored, as for tokens.
type Session struct {
	TokenID string
	// CSRFToken must accompany every request that changes something (the
	// synchronizer token pattern): a cross-site page can make the browser
	// send the session cookie, but cannot read this value.
	CSRFToken string
	CreatedAt string
	ExpiresAt time.Time
}

// randomString is n random bytes, base64url-encoded.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateSession starts a session for a token, valid for ttl, and returns the
// session id to give the browser once (only its hash is stored). Sessions
// that have expired are removed on the way.
func (s *DB) CreateSession(ctx context.Context, tokenID string, ttl time.Duration) (_ string, _ Session, err error) {
	defer wrap(&err, "start a session for token %s", tokenID)
	id, err := randomString(32)
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := randomString(32)
	if err != nil {
		return "", Session{}, err
	}
	created := time.Now()
	sess := Session{TokenID: tokenID, CSRFToken: csrf, CreatedAt: created.UTC().Format(time.RFC3339Nano), ExpiresAt: created.Add(ttl).UTC().Truncate(time.Second)}
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, created.Unix()); err != nil {
		return "", Session{}, fmt.Errorf("remove expired sessions: %w", err)
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO sessions (hash, token_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hashSecret(id), tokenID, csrf, sess.CreatedAt, sess.ExpiresAt.Unix()); err != nil {
		return "", Session{}, err
	}
	return id, sess, nil
}

// Session resolves a session id to the session and its token. It answers
// ErrNoSession when the session is unknown, has expired or has ended, or its
// token has been revoked.
func (s *DB) Session(ctx context.Context, id string) (Session, Token, error) {
	var sess Session
	var t Token
	var expires int64
	err := s.DB.QueryRowContext(ctx, `SELECT s.token_id, s.csrf_token, s.created_at, s.expires_at, t.scope, t.description, t.created_at, t.revoked_at
		FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = ?`, hashSecret(id)).
		Scan(&sess.TokenID, &sess.CSRFToken, &sess.CreatedAt, &expires, &t.Scope, &t.Description, &t.CreatedAt, &t.RevokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, Token{}, ErrNoSession
	}
	if err != nil {
		return Session{}, Token{}, fmt.Errorf("look up a session: %w", err)
	}
	t.ID, sess.ExpiresAt = sess.TokenID, time.Unix(expires, 0).UTC()
	if t.RevokedAt != "" || !time.Now().Before(sess.ExpiresAt) {
		return Session{}, Token{}, ErrNoSession
	}
	return sess, t, nil
}

// DeleteSession ends a session (sign out).
func (s *DB) DeleteSession(ctx context.Context, id string) (err error) {
	defer wrap(&err, "end a session")
	_, err = s.DB.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hashSecret(id))
	return err
}
