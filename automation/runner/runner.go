// Package runner performs Pulumi operations on one stack with the Automation
// API and the real CLI: one workspace directory per stack (the CLI's workspace
// files are not safe to share between stacks), a file or PostgreSQL state
// backend, passphrase secrets, and engine events forwarded as they happen.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Operations the runner performs through the CLI.
const (
	Preview = "preview"
	Up      = "up"
	Refresh = "refresh"
	Destroy = "destroy"
)

// eventDrainTimeout bounds the wait for the last engine events after the CLI exits.
const eventDrainTimeout = 5 * time.Second

// Runner runs operations for one project.
type Runner struct {
	// Project is the Pulumi project name.
	Project string
	// Program returns the program of a stack. Production passes the platform
	// program; tests pass programs that need no cloud provider.
	Program func(stack string) pulumi.RunFunc
	// CLI is the path of the pulumi binary.
	CLI string
	// WorkDir holds one workspace directory per stack and the CLI's home.
	WorkDir string
	// Backend is the state backend URL (file://… or postgres://…).
	Backend string
	// Passphrase protects the stacks' secrets. It is passed to the CLI through
	// its environment only.
	Passphrase string
}

// Result is what an operation reports.
type Result struct {
	Operation string         `json:"operation"`
	Changes   map[string]int `json:"changes,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Removed   bool           `json:"removed,omitempty"`
}

// FindCLI returns the pulumi binary to drive: $PULUMI when set, else
// <root>/bin/pulumi (built by scripts/build-pulumi.sh), else pulumi on PATH.
func FindCLI(getenv func(string) string, root string) (string, error) {
	if p := getenv("PULUMI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("PULUMI=%s: %w", p, err)
		}
		return p, nil
	}
	if root != "" {
		p := filepath.Join(root, "bin", "pulumi")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("pulumi"); err == nil {
		return p, nil
	}
	return "", errors.New("no Pulumi CLI found: run `make pulumi` (builds bin/pulumi) or set PULUMI to the CLI's path")
}

func (r *Runner) env() map[string]string {
	return map[string]string{
		"PULUMI_BACKEND_URL":                          r.Backend,
		"PULUMI_CONFIG_PASSPHRASE":                    r.Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK":                    "1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
}

// Stack opens (creating if needed) the stack's workspace with its config.
func (r *Runner) Stack(ctx context.Context, stack string, config map[string]string) (auto.Stack, error) {
	dir := filepath.Join(r.WorkDir, "workspaces", stack)
	home := filepath.Join(r.WorkDir, "pulumi-home")
	for _, d := range []string{dir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return auto.Stack{}, fmt.Errorf("workspace for %s: %w", stack, err)
		}
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{
		Root:             filepath.Dir(filepath.Dir(r.CLI)),
		SkipVersionCheck: true,
	})
	if err != nil {
		return auto.Stack{}, fmt.Errorf("pulumi CLI %s: %w", r.CLI, err)
	}
	if filepath.Base(r.CLI) != "pulumi" || filepath.Base(filepath.Dir(r.CLI)) != "bin" {
		return auto.Stack{}, fmt.Errorf("pulumi CLI %s: must be at <root>/bin/pulumi", r.CLI)
	}
	s, err := auto.UpsertStackInlineSource(ctx, stack, r.Project, r.Program(stack),
		auto.WorkDir(dir),
		auto.PulumiHome(home),
		auto.Pulumi(cmd),
		auto.EnvVars(r.env()),
		auto.SecretsProvider("passphrase"),
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(r.Project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		}),
	)
	if err != nil {
		return auto.Stack{}, fmt.Errorf("select stack %s: %w", stack, err)
	}
	cm := auto.ConfigMap{}
	for k, v := range config {
		cm[k] = auto.ConfigValue{Value: v}
	}
	if len(cm) > 0 {
		if err := s.SetAllConfig(ctx, cm); err != nil {
			return auto.Stack{}, fmt.Errorf("set config of stack %s: %w", stack, err)
		}
	}
	return s, nil
}

// Run performs one operation and forwards each engine event, encoded as JSON,
// to onEvent. Cancelling ctx interrupts the CLI (SIGINT, then SIGKILL after
// 10 s), which releases the stack's lock.
func (r *Runner) Run(ctx context.Context, operation, stack string, config map[string]string, remove bool, onEvent func(json.RawMessage)) (Result, error) {
	s, err := r.Stack(ctx, stack, config)
	if err != nil {
		return Result{}, err
	}
	ch := make(chan events.EngineEvent)
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					return
				}
				if b, err := json.Marshal(ev.EngineEvent); err == nil {
					onEvent(b)
				}
			case <-stop:
				return
			}
		}
	}()
	res := Result{Operation: operation}
	switch operation {
	case Preview:
		var out auto.PreviewResult
		out, err = s.Preview(ctx, optpreview.EventStreams(ch))
		res.Changes = changes(out.ChangeSummary)
	case Up:
		var out auto.UpResult
		out, err = s.Up(ctx, optup.EventStreams(ch))
		res.Outputs = outputs(out.Outputs)
		res.Changes = summaryChanges(out.Summary)
	case Refresh:
		var out auto.RefreshResult
		out, err = s.Refresh(ctx, optrefresh.EventStreams(ch))
		res.Changes = summaryChanges(out.Summary)
	case Destroy:
		opts := []optdestroy.Option{optdestroy.EventStreams(ch)}
		if remove {
			opts = append(opts, optdestroy.Remove())
		}
		var out auto.DestroyResult
		out, err = s.Destroy(ctx, opts...)
		res.Changes = summaryChanges(out.Summary)
		res.Removed = remove && err == nil
	default:
		close(stop)
		<-done
		return Result{}, fmt.Errorf("unknown operation %q", operation)
	}
	// The SDK closes the event channel once it has read the CLI's whole event
	// log; when the CLI fails before writing one (a locked stack), it never
	// does, so wait only briefly.
	select {
	case <-done:
	case <-time.After(eventDrainTimeout):
		close(stop)
		<-done
	}
	if err != nil {
		return res, fmt.Errorf("%s %s: %w", operation, stack, err)
	}
	return res, nil
}

// orphanWait bounds how long Unlock waits for a CLI that outlived its server.
const orphanWait = time.Minute

// Unlock removes a stack's lock left by a CLI that was killed (pulumi cancel).
// A CLI started by a server that was killed runs on (it has its own process
// group) until it notices its program is gone and writes its last
// checkpoint: Unlock first waits for such a CLI on this host to exit, and
// kills it after orphanWait, so the state is whole when the lock goes.
func (r *Runner) Unlock(ctx context.Context, stack string) error {
	if err := r.waitForOrphans(ctx, stack); err != nil {
		return err
	}
	s, err := r.Stack(ctx, stack, nil)
	if err != nil {
		return err
	}
	if err := s.Cancel(ctx); err != nil {
		return fmt.Errorf("unlock stack %s: %w", stack, err)
	}
	return nil
}

// Outputs returns a stack's current outputs.
func (r *Runner) Outputs(ctx context.Context, stack string) (map[string]any, error) {
	s, err := r.Stack(ctx, stack, nil)
	if err != nil {
		return nil, err
	}
	out, err := s.Outputs(ctx)
	if err != nil {
		return nil, fmt.Errorf("outputs of %s: %w", stack, err)
	}
	return outputs(out), nil
}

func changes[K ~string](m map[K]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func summaryChanges(s auto.UpdateSummary) map[string]int {
	if s.ResourceChanges == nil {
		return nil
	}
	return changes(*s.ResourceChanges)
}

// outputs returns stack outputs with secret values masked: a response or a
// log never carries a secret.
func outputs(m auto.OutputMap) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v.Secret {
			out[k] = "[secret]"
			continue
		}
		out[k] = v.Value
	}
	return out
}

// lockHolder is the part of a file backend's lock file that names its process.
type lockHolder struct {
	Pid      int    `json:"pid"`
	Hostname string `json:"hostname"`
}

// waitForOrphans waits until no live process on this host holds the stack's
// lock in a file backend.
func (r *Runner) waitForOrphans(ctx context.Context, stack string) error {
	root, ok := strings.CutPrefix(r.Backend, "file://")
	if !ok {
		return nil
	}
	if i := strings.IndexByte(root, '?'); i >= 0 {
		root = root[:i]
	}
	host, _ := os.Hostname()
	locks, _ := filepath.Glob(filepath.Join(root, ".pulumi", "locks", "*", "*", stack, "*.json"))
	for _, lock := range locks {
		b, err := os.ReadFile(lock)
		if err != nil {
			continue
		}
		var h lockHolder
		if json.Unmarshal(b, &h) != nil || h.Hostname != host || h.Pid <= 0 || h.Pid == os.Getpid() {
			continue
		}
		deadline := time.Now().Add(orphanWait)
		for alive(h.Pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(h.Pid, syscall.SIGKILL)
				time.Sleep(100 * time.Millisecond)
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the CLI (pid %d) holding %s: %w", h.Pid, stack, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// alive reports whether a process exists (signal 0 checks without signalling).
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
