package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// The test binary doubles as the Pulumi CLI in these tests: run under the
// name pulumi, it answers `pulumi version` as the pinned CLI does and
// otherwise acts as its first argument after --non-interactive says, handling
// SIGINT as the real CLI does (signal.Notify while an "update" runs).
func fakePulumi(args []string) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Println(clitest.Version)
		return 0
	}
	record := os.Getenv("RECORD")
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(record, name), []byte(content+"\n"), 0o600); err != nil {
			panic(err)
		}
	}
	behaviour := ""
	if len(args) > 1 {
		behaviour = args[1]
	}
	interrupt := make(chan os.Signal, 1)
	switch behaviour {
	case "record":
		status, _ := os.ReadFile("/proc/self/status")
		ignored := ""
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "SigIgn:") {
				ignored = strings.TrimSpace(strings.TrimPrefix(line, "SigIgn:"))
			}
		}
		write("args", strings.Join(args, " "))
		write("automation", os.Getenv("PULUMI_AUTOMATION_API"))
		write("path", os.Getenv("PATH"))
		write("group", fmt.Sprintf("%d %d", os.Getpid(), syscall.Getpgrp()))
		write("ignored", ignored)
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		return 0
	case "stop-on-interrupt", "mark-interrupt":
		// An update: SIGINT cancels it, and the CLI exits by itself.
		signal.Notify(interrupt, os.Interrupt)
		write("started", "")
		select {
		case <-interrupt:
		case <-time.After(30 * time.Second):
			return 0
		}
		write("interrupted", "")
		fmt.Println("interrupted")
		return 3
	case "listen-late":
		// A CLI in its first moments: SIGINT is still ignored (the wrapper)
		// until its update starts.
		time.Sleep(300 * time.Millisecond)
		signal.Notify(interrupt, os.Interrupt)
		select {
		case <-interrupt:
		case <-time.After(30 * time.Second):
			return 0
		}
		fmt.Println("interrupted")
		return 3
	case "ignore-interrupt":
		// Outside an update the CLI does not ask for SIGINT.
		write("started", "")
		time.Sleep(30 * time.Second)
		return 0
	case "interrupted-as-update-ends":
		// The update has just ended (its scope stopped asking for SIGINT)
		// and the CLI writes its state and releases its lock.
		signal.Notify(interrupt, os.Interrupt)
		signal.Stop(interrupt)
		write("started", "")
		time.Sleep(300 * time.Millisecond)
		write("released", "")
		return 0
	}
	return 9
}

// fakeCLI installs the test binary as <dir>/bin/pulumi and validates it as
// NewCLI validates the real one.
func fakeCLI(t *testing.T) CLI {
	t.Helper()
	cli, err := NewCLI(installFake(t, filepath.Join(t.TempDir(), "bin", "pulumi")), "test")
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// installFake links the test binary, the fake CLI, at path.
func installFake(t *testing.T, path string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, path); err != nil {
		t.Fatal(err)
	}
	return path
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
// PATH, output to the caller's writers), in the CLI's own process group, with
// SIGINT ignored until the CLI asks for it, reported with its identity when
// it starts.
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
	if mask, err := strconv.ParseUint(read(t, filepath.Join(record, "ignored")), 16, 64); err != nil || mask&(1<<(syscall.SIGINT-1)) == 0 {
		t.Errorf("SigIgn %s (%v): the CLI must start with SIGINT ignored, so an interrupt outside an update cannot kill it before it releases its lock", read(t, filepath.Join(record, "ignored")), err)
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

// runAndCancel runs the fake CLI and cancels the run once it has started.
func runAndCancel(t *testing.T, behaviour string, grace time.Duration) (cmd *command, record, stdout string, code int, err error) {
	t.Helper()
	cmd = &command{cli: fakeCLI(t), grace: grace}
	record = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitForFile(t, filepath.Join(record, "started"))
		cancel()
	}()
	stdout, _, code, err = cmd.Run(ctx, t.TempDir(), nil, nil, nil, []string{"RECORD=" + record}, behaviour)
	return cmd, record, stdout, code, err
}

// TestCommandInterruptsThenKills: a cancelled CLI gets SIGINT; one that
// stops on it is not reported killed (it released its lock), one that does
// not stop is killed after the grace and reported killed (its lock is left).
func TestCommandInterruptsThenKills(t *testing.T) {
	cmd, _, stdout, code, err := runAndCancel(t, "stop-on-interrupt", 300*time.Millisecond)
	if err == nil || code != 3 || stdout != "interrupted\n" || cmd.killed.Load() {
		t.Errorf("an update interrupted: code %d, stdout %q, %v, killed %v; want it to stop by itself on SIGINT", code, stdout, err, cmd.killed.Load())
	}
	cmd, _, _, code, err = runAndCancel(t, "ignore-interrupt", 300*time.Millisecond)
	if err == nil || !cmd.killed.Load() {
		t.Errorf("a CLI that does not stop: code %d, %v, killed %v; want it killed after the grace and reported so", code, err, cmd.killed.Load())
	}
}

// TestACancellationInTheCLIsFirstMomentsIsNotLost: cancelled before its
// update listens for SIGINT, the CLI still gets it once it does, and stops by
// itself, rather than being killed at the end of the grace with its lock held.
func TestACancellationInTheCLIsFirstMomentsIsNotLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := &command{cli: fakeCLI(t), grace: 10 * time.Second, onStart: func(process.Identity, error) { cancel() }}
	stdout, _, code, err := cmd.Run(ctx, t.TempDir(), nil, nil, nil, []string{"RECORD=" + t.TempDir()}, "listen-late")
	if err == nil || code != 3 || stdout != "interrupted\n" || cmd.killed.Load() {
		t.Errorf("code %d, stdout %q, %v, killed %v; want the CLI interrupted once it listens, stopping by itself", code, stdout, err, cmd.killed.Load())
	}
}

// TestAnInterruptAsAnUpdateEndsDoesNotKillTheCLI: SIGINT that arrives once
// the CLI has stopped asking for it (its update just ended), as the
// parent-death signal can, is ignored, so the CLI still writes its state and
// releases its lock.
func TestAnInterruptAsAnUpdateEndsDoesNotKillTheCLI(t *testing.T) {
	record := t.TempDir()
	pid := make(chan int, 1)
	cmd := &command{cli: fakeCLI(t), onStart: func(id process.Identity, _ error) { pid <- id.PID }}
	go func() {
		p := <-pid
		waitForFile(t, filepath.Join(record, "started"))
		_ = syscall.Kill(p, syscall.SIGINT)
	}()
	_, _, code, err := cmd.Run(context.Background(), t.TempDir(), nil, nil, nil, []string{"RECORD=" + record}, "interrupted-as-update-ends")
	if _, statErr := os.Stat(filepath.Join(record, "released")); statErr != nil || cmd.killed.Load() || err != nil || code != 0 {
		t.Errorf("code %d, %v, killed %v, released: %v; an interrupt after the update must not stop the CLI before it releases its lock",
			code, err, cmd.killed.Load(), statErr)
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
	_, _, code, err := cmd.Run(context.Background(), t.TempDir(), nil, nil, nil, []string{"RECORD=" + t.TempDir()}, "unknown")
	if err == nil || code != 9 {
		t.Errorf("a failing CLI: code %d, %v; want its exit status", code, err)
	}
}

// TestMain doubles the test binary as the fake CLI (run as pulumi) and as a
// server that dies: with RUNNER_TEST_SERVER set, it runs the fake CLI at
// $PULUMI (mark-interrupt) and waits to be killed.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "pulumi" {
		os.Exit(fakePulumi(os.Args[1:]))
	}
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
			t.Errorf("%s never appeared", path)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
