package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/automation/store/storetest"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// replica is one `cats serve` process of the several-replicas test.
type replica struct {
	cmd *exec.Cmd
	ts  *testServer
}

// countingCLIScript is a wrapper CLI: it appends a line "OPERATION STACK PID"
// to $CATS_TEST_CLI_RUNS for each run of an operation (up, preview, refresh,
// destroy), then becomes the real CLI (exec: the same process, so the
// server's record of the CLI it started stays true).
const countingCLIScript = `#!/bin/sh
op= stack= next=
for a in "$@"; do
	if [ -n "$next" ]; then stack=$a; next=; continue; fi
	case "$a" in
	--stack|-s) next=1 ;;
	--stack=*) stack=${a#--stack=} ;;
	-*) ;;
	*) [ -z "$op" ] && op=$a ;;
	esac
done
case "$op" in
up|preview|refresh|destroy) printf '%s %s %s\n' "$op" "${stack##*/}" "$$" >>"$CATS_TEST_CLI_RUNS" ;;
esac
exec REAL_CLI "$@"
`

// countingCLI installs countingCLIScript as <dir>/bin/pulumi in front of the
// real CLI (the rest of the real CLI's directory linked beside it, as the CLI
// finds plugins there) and returns its path and the file it records the runs in.
func countingCLI(t *testing.T) (cli, runs string) {
	t.Helper()
	real := clitest.Path(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(real))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "pulumi" {
			if err := os.Symlink(filepath.Join(filepath.Dir(real), e.Name()), filepath.Join(bin, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	cli = filepath.Join(bin, "pulumi")
	if err := os.WriteFile(cli, []byte(strings.Replace(countingCLIScript, "REAL_CLI", "'"+strings.ReplaceAll(real, "'", `'\''`)+"'", 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	return cli, filepath.Join(dir, "runs")
}

// cliRuns reads the runs countingCLI recorded, counted by "OPERATION STACK".
func cliRuns(t *testing.T, runs string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatalf("the CLI runs were not recorded: %v", err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("CLI run record %q, want OPERATION STACK PID", line)
		}
		count[f[0]+" "+f[1]]++
	}
	return count
}

// startReplica starts a server process (this test binary, see TestMain) on
// the shared database and state backend, with its own data directory, running
// the CLI at cli (recording its runs in runs).
func startReplica(t *testing.T, database, backend, cli, runs string, tokens map[string]string) *replica {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CATS_TEST_SERVE="+dir, "CATS_TEST_DELAY=2s", "PULUMI="+cli, "CATS_TEST_CLI_RUNS="+runs,
		"CATS_TEST_DATABASE="+database, "CATS_TEST_BACKEND="+backend, "CATS_TEST_LEASE=3s", "CATS_TEST_ORPHAN_WAIT=5s")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var addr []byte
	for i := 0; i < 600 && len(addr) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		addr, _ = os.ReadFile(filepath.Join(dir, "addr"))
	}
	if len(addr) == 0 {
		t.Fatal("replica did not start")
	}
	return &replica{cmd: cmd, ts: &testServer{t: t, dir: dir, url: "http://" + string(addr), tokens: tokens, checker: apitest.NewChecker(t, server.OpenAPI())}}
}

// TestThreeReplicasSurviveTheLossOfOne: three server processes on one
// PostgreSQL database and one postgres:// state backend run the jobs of 30
// stacks; one is SIGKILLed while it runs an up. Every job ends, none runs
// twice, one stack's operations never overlap and keep their order, no stack
// stays locked, every request is audited, and a client streaming from one
// replica sees the events of a job another replica ran.
func TestThreeReplicasSurviveTheLossOfOne(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 60 CLI operations")
	}
	requirePolicyPack(t)
	isolateCLI(t)
	database := storetest.NewDatabase(t)
	backend := storetest.NewDatabase(t)
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens := map[string]string{}
	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--database", database, "--scope", "platform"}, os.Getenv, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	tokens["platform"] = lines[len(lines)-1]

	// The CLI creates the backend's table on its first use, checking for it
	// first: CLIs of several replicas using a new backend together can race
	// on it. The README says to log in once before the replicas' first start.
	env := clitest.NewEnv(t)
	env.Vars = append(env.Vars, "PULUMI_BACKEND_URL="+backend)
	env.Run(t, t.TempDir(), "stack", "ls", "--all", "--json")

	cli, runs := countingCLI(t)
	replicas := []*replica{}
	for range 3 {
		replicas = append(replicas, startReplica(t, database, backend, cli, runs, tokens))
	}
	var codes []string
	var names = map[string]municipality.Municipality{}
	for _, m := range municipality.All() {
		if !m.IsPrefecture() && len(codes) < 30 {
			codes = append(codes, m.Code)
			names[m.Code] = m
		}
	}
	requests := 0
	var ups []int64
	for i, code := range codes {
		r := replicas[i%3].ts
		r.register(code, names[code].Name, names[code].Prefecture, "dev", nil)
		ups = append(ups, r.submit(code, "dev", runner.Up))
		requests += 2
	}
	// Kill the replica running an up, once that up's CLI holds the lock.
	var victim *replica
	var killedJob int64
	var victimID string
	deadline := time.Now().Add(5 * time.Minute)
	for victim == nil {
		if time.Now().After(deadline) {
			t.Fatal("no up started on any replica")
		}
		for _, id := range ups {
			var replicaID string
			var cliPID int
			if err := st.DB.QueryRowContext(ctx, `SELECT replica_id, cli_pid FROM jobs WHERE id = ? AND state = 'running'`, id).Scan(&replicaID, &cliPID); err != nil || cliPID == 0 {
				continue
			}
			for _, r := range replicas {
				if strings.Contains(replicaID, fmt.Sprintf("-%d-", r.cmd.Process.Pid)) {
					victim, killedJob, victimID = r, id, replicaID
				}
			}
			if victim != nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	survivor := replicas[0]
	if survivor == victim {
		survivor = replicas[1]
	}
	time.Sleep(time.Second) // into the update itself
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	// The jobs the dead replica was running: another replica takes them over
	// only once its lease has expired, seconds from now.
	interrupted := map[int64]bool{}
	rows, err := st.DB.QueryContext(ctx, `SELECT id FROM jobs WHERE state = 'running' AND replica_id = ?`, victimID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		interrupted[id] = true
	}
	rows.Close()
	if !interrupted[killedJob] {
		t.Fatalf("the killed replica's up %d is not among its running jobs %v", killedJob, interrupted)
	}
	t.Logf("killed replica pid %d while it ran jobs %v", victim.cmd.Process.Pid, interrupted)

	// A job run by another replica, streamed from the survivor.
	var streamed int
	for _, id := range ups {
		if id == killedJob {
			continue
		}
		events := survivor.ts.events(id, "")
		var runBy string
		_ = st.DB.QueryRowContext(ctx, `SELECT replica_id FROM jobs WHERE id = ?`, id).Scan(&runBy)
		if !strings.Contains(runBy, fmt.Sprintf("-%d-", survivor.cmd.Process.Pid)) && len(events) > 1 {
			streamed = len(events)
			break
		}
	}
	if streamed == 0 {
		t.Error("no job run by another replica was streamed from the survivor with its events")
	}

	all, err := st.DB.QueryContext(ctx, `SELECT id FROM jobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for all.Next() {
		var id int64
		_ = all.Scan(&id)
		ids = append(ids, id)
	}
	all.Close()
	byStack := map[string][]store.Job{}
	for _, id := range ids {
		j := survivor.ts.wait(id)
		byStack[j.Stack] = append(byStack[j.Stack], j)
		switch {
		case interrupted[id]:
			if j.State != store.JobFailed || j.Reason != string(runner.ReasonInterrupted) || j.Attempts != 1 {
				t.Errorf("job %d of the killed replica = %s %s after %d attempts (%s); want failed, interrupted, never run again", id, j.State, j.Reason, j.Attempts, j.Error)
			}
		case j.State != store.JobSucceeded:
			t.Errorf("job %d (%s %s) = %s %s: %s", id, j.Operation, j.Stack, j.State, j.Reason, j.Error)
		case j.Attempts != 1:
			// A job the killed replica was running is failed, not retried; a
			// job handed to another replica starts once.
			t.Errorf("job %d ran %d times", id, j.Attempts)
		}
	}
	if len(ids) != 60 {
		t.Errorf("%d jobs recorded, want 60 (a plan and an up per stack)", len(ids))
	}
	for stack, jobs := range byStack {
		sort.Slice(jobs, func(a, b int) bool { return jobs[a].ID < jobs[b].ID })
		for i := 1; i < len(jobs); i++ {
			prev, next := jobs[i-1], jobs[i]
			if next.StartedAt != "" && parseTime(t, next.StartedAt).Before(parseTime(t, prev.FinishedAt)) {
				t.Errorf("%s: job %d started at %s, before job %d ended at %s", stack, next.ID, next.StartedAt, prev.ID, prev.FinishedAt)
			}
		}
	}
	// No stack is left locked: a refresh of each stack the killed replica
	// was running, and of two others, succeeds at its first attempt (a lock
	// would make it retry).
	stacks := []string{codes[0] + "-dev", codes[29] + "-dev"}
	killedStacks := map[string]bool{}
	for id := range interrupted {
		j, _ := st.GetJob(ctx, id)
		killedStacks[j.Stack] = true
		if !slices.Contains(stacks, j.Stack) {
			stacks = append(stacks, j.Stack)
		}
	}
	for _, stack := range stacks {
		code, env, _ := strings.Cut(stack, "-")
		id := survivor.ts.submit(code, env, runner.Refresh)
		requests++
		if j := survivor.ts.wait(id); j.State != store.JobSucceeded || j.Attempts != 1 {
			t.Errorf("refresh of %s after the kill = %s after %d attempts (%s); want succeeded at once: the stack is unlocked", stack, j.State, j.Attempts, j.Error)
		}
	}
	// None ran twice, counted in CLI runs: each stack's up ran its CLI
	// once, but for the killed replica's jobs, which ran it at most once (the
	// kill may come during the policy preview before it) and never again;
	// and no operation ran twice on one stack (an up's policy preview once,
	// each refresh once).
	count := cliRuns(t, runs)
	for _, code := range codes {
		stack := code + "-dev"
		if n := count[runner.Up+" "+stack]; n != 1 && !(killedStacks[stack] && n == 0) {
			t.Errorf("the up of %s ran the CLI %d times, want once", stack, n)
		}
	}
	for _, stack := range stacks {
		if n := count[runner.Refresh+" "+stack]; n != 1 {
			t.Errorf("the refresh of %s ran the CLI %d times, want once", stack, n)
		}
	}
	for run, n := range count {
		if n > 1 {
			t.Errorf("%s: the CLI ran %d times, want at most once", run, n)
		}
	}
	t.Logf("CLI runs: %d operations on %d stacks", len(count), len(codes))
	audit, err := st.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != requests {
		t.Errorf("%d audit rows, want one per request (%d)", len(audit), requests)
	}
}
