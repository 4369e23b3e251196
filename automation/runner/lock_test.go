package runner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
)

// endedCLI starts and reaps a process, returning the identity it had: a CLI
// of this server that has ended (killed) and may have left its lock.
func endedCLI(t *testing.T) process.Identity {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := process.Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return id
}

func writeLock(t *testing.T, dir, name string, pid int, host string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"pid": pid, "username": "ops", "hostname": host, "timestamp": "2026-12-01T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReleaseLockLeavesForeignLocks: cancelling a job deleted another
// host's lock on the stack (pulumi cancel on the file backend removes every
// lock of a stack). Only the lock of the job's own, ended CLI goes.
func TestReleaseLockLeavesForeignLocks(t *testing.T) {
	state := t.TempDir()
	st := &Stacks{Project: "cats-analytics", Backend: "file://" + state}
	dir := filepath.Join(state, ".pulumi", "locks", "organization", "cats-analytics", "131016-dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cli := endedCLI(t)
	own := writeLock(t, dir, "own.json", cli.PID, cli.Host)
	foreignHost := writeLock(t, dir, "other-host.json", cli.PID, "ops-laptop") // same pid, another host
	foreignPID := writeLock(t, dir, "operator.json", os.Getpid(), cli.Host)    // an operator's pulumi up here
	otherStack := filepath.Join(state, ".pulumi", "locks", "organization", "cats-analytics", "011002-dev")
	if err := os.MkdirAll(otherStack, 0o700); err != nil {
		t.Fatal(err)
	}
	otherStackLock := writeLock(t, otherStack, "own-elsewhere.json", cli.PID, cli.Host)

	n, err := st.ReleaseLock(context.Background(), "131016-dev", cli)
	if err != nil || n != 1 {
		t.Fatalf("ReleaseLock = %d, %v; want the one lock of the job's CLI", n, err)
	}
	if _, err := os.Stat(own); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lock the killed CLI left is still there: %v", err)
	}
	for _, foreign := range []string{foreignHost, foreignPID, otherStackLock} {
		if _, err := os.Stat(foreign); err != nil {
			t.Errorf("a foreign lock was removed: %s: %v", filepath.Base(foreign), err)
		}
	}
	// Nothing left of its own: nothing removed, no error.
	if n, err := st.ReleaseLock(context.Background(), "131016-dev", cli); n != 0 || err != nil {
		t.Errorf("a second release = %d, %v; want 0, nil", n, err)
	}
}

// TestReleaseLockNeverTouchesARunningCLIOrAnotherBackend: a CLI that still
// runs holds its lock for a reason; a backend whose locks cannot be told
// apart keeps them all.
func TestReleaseLockNeverTouchesARunningCLIOrAnotherBackend(t *testing.T) {
	self, err := process.Identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	dir := filepath.Join(state, ".pulumi", "locks", "organization", "cats-analytics", "131016-dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := writeLock(t, dir, "running.json", self.PID, self.Host)
	st := &Stacks{Project: "cats-analytics", Backend: "file://" + state}
	if n, err := st.ReleaseLock(context.Background(), "131016-dev", self); err == nil || n != 0 {
		t.Errorf("released the lock of a running CLI: %d, %v", n, err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("the running CLI's lock was removed: %v", err)
	}
	s3 := &Stacks{Project: "cats-analytics", Backend: "s3://cats-state"}
	if _, err := s3.ReleaseLock(context.Background(), "131016-dev", endedCLI(t)); !errors.Is(err, ErrForeignLocksOnly) {
		t.Errorf("on a backend whose locks it cannot read: %v, want ErrForeignLocksOnly (remove nothing)", err)
	}
}

// TestReleaseLockOnAPostgresBackend: the postgres:// backend keeps each lock
// as a row of its state table; only the row of the job's own, ended CLI goes.
func TestReleaseLockOnAPostgresBackend(t *testing.T) {
	ctx := context.Background()
	backend := storetest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE pulumi_state (key TEXT PRIMARY KEY, data JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	cli := endedCLI(t)
	put := func(key string, pid int, host string) {
		lock, _ := json.Marshal(map[string]any{"pid": pid, "username": "ops", "hostname": host, "timestamp": "2026-12-01T10:00:00Z"})
		data, _ := json.Marshal(map[string]string{"data": base64.StdEncoding.EncodeToString(lock)})
		if _, err := conn.Exec(ctx, `INSERT INTO pulumi_state (key, data) VALUES ($1, $2)`, key, string(data)); err != nil {
			t.Fatal(err)
		}
	}
	locks := ".pulumi/locks/organization/cats-analytics/"
	put(locks+"131016-dev/own.json", cli.PID, cli.Host)
	put(locks+"131016-dev/other-host.json", cli.PID, "ops-laptop")
	put(locks+"131016-dev/operator.json", os.Getpid(), cli.Host)
	put(locks+"011002-dev/own-elsewhere.json", cli.PID, cli.Host)
	put(locks+"131016-dev-2/own-similar-name.json", cli.PID, cli.Host)

	st := &Stacks{Project: "cats-analytics", Backend: backend}
	if n, err := st.ReleaseLock(ctx, "131016-dev", cli); err != nil || n != 1 {
		t.Fatalf("ReleaseLock = %d, %v; want the one lock of the job's CLI", n, err)
	}
	rows, err := conn.Query(ctx, `SELECT key FROM pulumi_state ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{locks + "011002-dev/own-elsewhere.json", locks + "131016-dev-2/own-similar-name.json",
		locks + "131016-dev/operator.json", locks + "131016-dev/other-host.json"}
	if !slices.Equal(keys, want) {
		t.Fatalf("locks left %v, want every other holder's %v", keys, want)
	}
}
