package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// fakeCLIScript stands in for the Pulumi CLI in the command's tests: it
// answers `pulumi version` as the pinned CLI does, and otherwise acts as its
// first argument after --non-interactive says.
const fakeCLIScript = `#!/bin/sh
if [ "$1" = version ]; then echo ` + clitest.Version + `; exit 0; fi
case "$2" in
record)
	printf '%s\n' "$*" > "$RECORD/args"
	printf '%s\n' "$PULUMI_AUTOMATION_API" > "$RECORD/automation"
	printf '%s\n' "$PATH" > "$RECORD/path"
	printf '%s %s\n' $$ "$(cut -d' ' -f5 /proc/$$/stat)" > "$RECORD/group"
	echo "to stdout"; echo "to stderr" >&2
	exit 0 ;;
stop-on-interrupt)
	trap 'kill $!; echo interrupted; exit 3' INT
	sleep 30 & wait $! ;;
ignore-interrupt)
	trap '' INT
	exec sleep 30 ;;
mark-interrupt)
	trap 'kill $!; echo interrupted > "$RECORD/interrupted"; exit 3' INT
	echo $$ > "$RECORD/started"
	sleep 30 & wait $! ;;
esac
exit 9
`

// fakeCLI installs the fake as <dir>/bin/pulumi and validates it as NewCLI
// validates the real one.
func fakeCLI(t *testing.T) CLI {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "pulumi"), []byte(fakeCLIScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cli, err := NewCLI(filepath.Join(bin, "pulumi"), "test")
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCommandRunsTheCLIAsTheAutomationAPIDoes: what the SDK's own command
// does (non-interactive, PULUMI_AUTOMATION_API, the CLI's directory first on
// PATH, output to the caller's writers), in the CLI's own process group,
// reported with its identity when it starts.
func TestCommandRunsTheCLIAsTheAutomationAPIDoes(t *testing.T) {
	cli := fakeCLI(t)
	record := t.TempDir()
	var started []process.Identity
	cmd := &command{cli: cli, onStart: func(id process.Identity, err error) {
		if err != nil {
			t.Errorf("identify the CLI: %v", err)
		}
		started = append(started, id)
	}}
	var progress bytes.Buffer
	stdout, stderr, code, err := cmd.Run(context.Background(), t.TempDir(), nil, []io.Writer{&progress}, nil, []string{"RECORD=" + record}, "record", "--yes")
	if err != nil || code != 0 {
		t.Fatalf("run: code %d, %v", code, err)
	}
	if got := read(t, filepath.Join(record, "args")); got != "--non-interactive record --yes" {
		t.Errorf("args %q: every command runs --non-interactive, or a prompt would hang the job", got)
	}
	if got := read(t, filepath.Join(record, "automation")); got != "true" {
		t.Errorf("PULUMI_AUTOMATION_API=%q, want true as the Automation API sets it", got)
	}
	if got := read(t, filepath.Join(record, "path")); !strings.HasPrefix(got, filepath.Dir(cli.Path)+string(os.PathListSeparator)) {
		t.Errorf("PATH %q does not start with the CLI's directory: the CLI finds its language hosts and plugins there", got)
	}
	pid, group, _ := strings.Cut(read(t, filepath.Join(record, "group")), " ")
	if pid != group {
		t.Errorf("the CLI (pid %s) runs in process group %s, not its own: a terminal's ^C would interrupt it a second time, which stops it at once, lock held", pid, group)
	}
	if len(started) != 1 || strconv.Itoa(started[0].PID) != pid || started[0].StartTime == 0 {
		t.Errorf("reported starts %+v, want the CLI (pid %s) with its start time: recovery finds it by both", started, pid)
	}
	if stdout != "to stdout\n" || stderr != "to stderr\n" || progress.String() != "to stdout\n" {
		t.Errorf("stdout %q, stderr %q, progress %q: the output must reach the SDK and the caller's writers", stdout, stderr, progress.String())
	}
	if cmd.killed.Load() {
		t.Error("a CLI that exited by itself is reported killed")
	}
}

// TestCommandInterruptsThenKills: a cancelled CLI gets SIGINT; one that
// stops on it is not reported killed (it released its lock), one that ignores
// it is killed after the grace and reported killed (its lock is left).
func TestCommandInterruptsThenKills(t *testing.T) {
	for _, tt := range []struct {
		behaviour  string
		wantKilled bool
	}{{"stop-on-interrupt", false}, {"ignore-interrupt", true}} {
		t.Run(tt.behaviour, func(t *testing.T) {
			cli := fakeCLI(t)
			var mu sync.Mutex
			var started bool
			cmd := &command{cli: cli, grace: 300 * time.Millisecond, onStart: func(process.Identity, error) {
				mu.Lock()
				started = true
				mu.Unlock()
			}}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for {
					mu.Lock()
					s := started
					mu.Unlock()
					if s {
						time.Sleep(100 * time.Millisecond) // let the script set its trap
						cancel()
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			stdout, _, code, err := cmd.Run(ctx, t.TempDir(), nil, nil, nil, nil, tt.behaviour)
			if err == nil {
				t.Fatal("a cancelled command reports no error")
			}
			if got := cmd.killed.Load(); got != tt.wantKilled {
				t.Errorf("killed = %v, want %v (code %d, %v)", got, tt.wantKilled, code, err)
			}
			if !tt.wantKilled && (code != 3 || stdout != "interrupted\n") {
				t.Errorf("code %d, stdout %q: the CLI must get SIGINT and stop by itself", code, stdout)
			}
		})
	}
}

func TestCommandKeepsTheSDKsDefaults(t *testing.T) {
	cmd := &command{cli: fakeCLI(t)}
	if got := cmd.Version().String(); "v"+got != clitest.Version {
		t.Errorf("version %s, want the one `pulumi version` reports (%s)", got, clitest.Version)
	}
	if got := withNonInteractiveArg([]string{"up", "--", "--non-interactive"}); strings.Join(got, " ") != "--non-interactive up -- --non-interactive" {
		t.Errorf("args after -- belong to the program, not the CLI: %v", got)
	}
	if got := withPathFirst([]string{"HOME=/h"}, "/cli/bin"); strings.Join(got, " ") != "HOME=/h PATH=/cli/bin" {
		t.Errorf("an environment without PATH gets the CLI's directory: %v", got)
	}
	_, _, _, err := cmd.Run(context.Background(), t.TempDir(), nil, nil, nil, nil, "unknown")
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("a failing CLI: %v, want its exit status", err)
	}
}

// TestMain doubles the test binary as a server that dies: with
// RUNNER_TEST_SERVER set, it runs the fake CLI at $PULUMI (mark-interrupt)
// and waits to be killed.
func TestMain(m *testing.M) {
	if record := os.Getenv("RUNNER_TEST_SERVER"); record != "" {
		cmd := &command{cli: CLI{Path: os.Getenv("PULUMI")}}
		_, _, _, err := cmd.Run(context.Background(), record, nil, nil, nil, []string{"RECORD=" + record}, "mark-interrupt")
		fmt.Fprintln(os.Stderr, "the fake CLI ended before its server was killed:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestACLIWhoseServerDiesIsInterrupted: when the server is killed, its CLI
// gets SIGINT (the parent-death signal) and stops as on a cancellation,
// releasing its lock, instead of running on for as long as its operation
// lasts.
func TestACLIWhoseServerDiesIsInterrupted(t *testing.T) {
	cli := fakeCLI(t)
	record := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	server := exec.Command(exe, "-test.run=^$")
	server.Env = append(os.Environ(), "RUNNER_TEST_SERVER="+record, "PULUMI="+cli.Path)
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, filepath.Join(record, "started"))
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	waitForFile(t, filepath.Join(record, "interrupted"))
}

// waitForFile waits for a file the fake CLI writes; the deadline only stops a
// broken test from hanging (the fake CLI sleeps 30 s unless interrupted).
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared: the CLI of a killed server was not interrupted", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
