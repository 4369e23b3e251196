package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// start runs a long sleep under the given program name and stops it when the
// test ends.
func start(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("these tests need sleep(1): %v", err)
	}
	if name != "" {
		link := filepath.Join(t.TempDir(), name)
		if err := os.Symlink(sleep, link); err != nil {
			t.Fatal(err)
		}
		sleep = link
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func identify(t *testing.T, cmd *exec.Cmd) Identity {
	t.Helper()
	id, err := Identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func alive(cmd *exec.Cmd) bool { return cmd.Process.Signal(syscall.Signal(0)) == nil }

func TestIdentifyReadsTheStartTimeWhateverTheCommandName(t *testing.T) {
	// The command name is in parentheses in /proc/<pid>/stat and may hold
	// spaces and parentheses of its own.
	id := identify(t, start(t, "cli) (x y"))
	plain := identify(t, start(t, ""))
	if id.StartTime == 0 || plain.StartTime == 0 || id.BootID == "" || id.Host == "" {
		t.Fatalf("identities %+v and %+v lack a start time, a boot or a host", id, plain)
	}
	if s, err := id.Status(); err != nil || s != Running {
		t.Fatalf("status of a running process = %v, %v; want running", s, err)
	}
}

func TestStatusNeverMistakesAnotherProcessForTheRecordedOne(t *testing.T) {
	cmd := start(t, "")
	id := identify(t, cmd)
	tests := []struct {
		name   string
		change func(*Identity)
		want   Status
	}{
		{"same pid, another start time (the pid was reused)", func(i *Identity) { i.StartTime++ }, Ended},
		{"an earlier boot", func(i *Identity) { i.BootID = "00000000-0000-0000-0000-000000000000" }, EndedWithBoot},
		{"another host", func(i *Identity) { i.Host = "elsewhere.example" }, OnOtherHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := id
			tt.change(&other)
			if s, err := other.Status(); err != nil || s != tt.want {
				t.Errorf("status = %v, %v; want %v", s, err, tt.want)
			}
			// Settling it, even past its deadline, never touches the live process.
			if _, err := Settle(context.Background(), other, time.Now()); err != nil {
				t.Fatal(err)
			}
			if !alive(cmd) {
				t.Fatalf("Settle killed pid %d, which is not the recorded process: recovery must kill nothing but its own CLI", id.PID)
			}
		})
	}
}

func TestSettleWaitsForAProcessThatExits(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sleep, "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := identify(t, cmd)
	// Not waited for: it stays a zombie, as an orphan does until init reaps it.
	defer func() { _ = cmd.Wait() }()
	outcome, err := Settle(context.Background(), id, time.Now().Add(time.Minute))
	if err != nil || outcome != Exited {
		t.Fatalf("Settle = %v, %v; want exited (a process that ends by itself is never killed)", outcome, err)
	}
}

func TestSettleKillsItsProcessAtTheDeadline(t *testing.T) {
	cmd := start(t, "")
	id := identify(t, cmd)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	outcome, err := Settle(context.Background(), id, time.Now().Add(200*time.Millisecond))
	if err != nil || outcome != Killed {
		t.Fatalf("Settle = %v, %v; want killed", outcome, err)
	}
	select {
	case err := <-done:
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("the process ended with %v, want SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process still runs after Settle reported it killed")
	}
}

func TestCatchesReadsTheSignalHandlers(t *testing.T) {
	sh := exec.Command("/bin/sh", "-c", `trap 'exit 0' INT; echo ready; while :; do sleep 0.05; done`)
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
	if _, err := out.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if !Catches(sh.Process.Pid, syscall.SIGINT) {
		t.Error("a shell that traps SIGINT is not seen catching it")
	}
	if Catches(sh.Process.Pid, syscall.SIGUSR2) {
		t.Error("a shell is seen catching SIGUSR2, which it does not trap")
	}
	sleeper := start(t, "")
	if Catches(sleeper.Process.Pid, syscall.SIGINT) {
		t.Error("sleep(1) is seen catching SIGINT")
	}
}

// TestSettleNeverKillsAnotherProcessWithTheRecordedPID: recovery could
// SIGKILL a pid without checking it was the CLI the server started. A
// process that now has the recorded pid but another start time (the pid was
// reused: an operator's pulumi up, say) is left running.
func TestSettleNeverKillsAnotherProcessWithTheRecordedPID(t *testing.T) {
	other := start(t, "pulumi")
	recorded := identify(t, other)
	recorded.StartTime-- // the CLI the server started had this pid before
	outcome, err := Settle(context.Background(), recorded, time.Now())
	if err != nil || outcome != Exited {
		t.Fatalf("Settle = %v, %v; want exited: the recorded CLI is gone", outcome, err)
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(other) {
		t.Fatal("a process that only shares the recorded pid was killed")
	}
}
