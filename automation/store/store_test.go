package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTokensAreStoredHashed(t *testing.T) {
	s, ctx := open(t), context.Background()
	tok, plain, err := s.CreateToken(ctx, MunicipalityScope("131016"), "千代田区 onboarding")
	if err != nil {
		t.Fatal(err)
	}
	secret := plain[strings.LastIndex(plain, "_")+1:]
	var stored string
	if err := s.DB.QueryRow(`SELECT hash FROM tokens WHERE id = ?`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) {
		t.Fatal("the token's secret is stored in plain text")
	}
	got, err := s.Authenticate(ctx, plain)
	if err != nil || got.Scope != "municipality:131016" {
		t.Fatalf("Authenticate(valid) = %+v, %v", got, err)
	}
	for _, bad := range []string{plain + "x", "cats_" + tok.ID + "_" + strings.Repeat("0", 64), "cats_", "Bearer " + plain, ""} {
		if _, err := s.Authenticate(ctx, bad); err != ErrBadToken {
			t.Errorf("Authenticate(%q) = %v, want ErrBadToken", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, plain); err != ErrBadToken {
		t.Errorf("a revoked token still authenticates: %v", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err == nil {
		t.Error("revoking twice must say the token is unknown or already revoked")
	}
}

func noQueue(*sql.Tx, int64) error { return nil }

// TestStartKeepsOneOperationPerStackInOrder: the second job of a stack waits
// for the first; another stack's job does not.
func TestStartKeepsOneOperationPerStackInOrder(t *testing.T) {
	s, ctx := open(t), context.Background()
	m := Municipality{Code: "131016", Environment: "dev", Name: "千代田区", Prefecture: "東京都", Config: map[string]string{}}
	_, first, err := s.CreateMunicipality(ctx, m, Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.CreateJob(ctx, Job{Stack: "131016-dev", Code: "131016", Environment: "dev", Operation: "refresh", CreatedBy: "t"}, noQueue)
	other, _ := s.CreateJob(ctx, Job{Stack: "011002-dev", Code: "011002", Environment: "dev", Operation: "up", CreatedBy: "t"}, noQueue)

	if _, ok, _ := s.Start(ctx, second.ID); ok {
		t.Fatal("the second job started before the first: operations on a stack must run in order")
	}
	if _, ok, _ := s.Start(ctx, first.ID); !ok {
		t.Fatal("the first job could not start")
	}
	if _, ok, _ := s.Start(ctx, second.ID); ok {
		t.Fatal("the second job started while the first runs")
	}
	if _, ok, _ := s.Start(ctx, other.ID); !ok {
		t.Fatal("another stack's job must not wait")
	}
	if again, ok, _ := s.Start(ctx, first.ID); ok || again.State != JobRunning {
		t.Fatal("a running job was claimed twice")
	}
	if done, _ := s.Finish(ctx, first.ID, JobSucceeded, "", map[string]int{"create": 1}); !done {
		t.Fatal("finish failed")
	}
	if done, _ := s.Finish(ctx, first.ID, JobFailed, "late", nil); done {
		t.Fatal("a finished job finished again")
	}
	if _, ok, _ := s.Start(ctx, second.ID); !ok {
		t.Fatal("the second job could not start after the first finished")
	}
	if cancelled, _ := s.CancelQueued(ctx, second.ID, "x"); cancelled {
		t.Fatal("a running job was cancelled as if queued")
	}
}
