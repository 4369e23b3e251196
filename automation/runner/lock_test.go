package runner

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cats-analytics/cats-analytics/automation/process"
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
	pg := &Stacks{Project: "cats-analytics", Backend: "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"}
	if _, err := pg.ReleaseLock(context.Background(), "131016-dev", endedCLI(t)); !errors.Is(err, ErrForeignLocksOnly) {
		t.Errorf("on a PostgreSQL backend: %v, want ErrForeignLocksOnly (remove nothing)", err)
	}
}
