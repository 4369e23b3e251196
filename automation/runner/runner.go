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
	"path/filepath"
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

	"github.com/cats-analytics/cats-analytics/automation/process"
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

// ErrCLIKilled marks an operation whose CLI did not exit by itself (it was
// killed after ignoring its interrupt, or from outside): it released nothing,
// so the stack's lock may be left and must be released with Unlock.
var ErrCLIKilled = errors.New("the Pulumi CLI was killed before it could release the stack's lock")

// Stacks runs operations on the stacks of one project.
type Stacks struct {
	// Project is the Pulumi project name.
	Project string
	// Program returns the program of a stack. Production passes the platform
	// program; tests pass programs that need no cloud provider.
	Program func(stack string) pulumi.RunFunc
	// CLI is the Pulumi CLI to run.
	CLI CLI
	// WorkDir holds one workspace directory per stack and the CLI's home.
	WorkDir string
	// Backend is the state backend URL (file://… or postgres://…).
	Backend string
	// Passphrase protects the stacks' secrets. It is passed to the CLI through
	// its environment only.
	Passphrase string
}

// Operation is one operation on one stack.
type Operation struct {
	// Name is Preview, Up, Refresh or Destroy.
	Name   string
	Stack  string
	Config map[string]string
	// Remove removes the stack from the backend after a successful destroy.
	Remove bool
	// OnEvent receives each engine event, encoded as JSON.
	OnEvent func(json.RawMessage)
	// OnCLIStart is told of each CLI process as soon as it runs, or why it
	// could not be identified.
	OnCLIStart func(process.Identity, error)
}

// Result is what an operation reports.
type Result struct {
	Operation string         `json:"operation"`
	Changes   map[string]int `json:"changes,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Removed   bool           `json:"removed,omitempty"`
}

func (st *Stacks) env() map[string]string {
	return map[string]string{
		"PULUMI_BACKEND_URL":                          st.Backend,
		"PULUMI_CONFIG_PASSPHRASE":                    st.Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK":                    "1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
}

// open opens (creating if needed) the stack's workspace with its config; cmd
// runs its CLI commands.
func (st *Stacks) open(ctx context.Context, stack string, config map[string]string, cmd *command) (auto.Stack, error) {
	dir := filepath.Join(st.WorkDir, "workspaces", stack)
	home := filepath.Join(st.WorkDir, "pulumi-home")
	for _, d := range []string{dir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return auto.Stack{}, fmt.Errorf("create the workspace of %s: %w", stack, err)
		}
	}
	s, err := auto.UpsertStackInlineSource(ctx, stack, st.Project, st.Program(stack),
		auto.WorkDir(dir),
		auto.PulumiHome(home),
		auto.Pulumi(cmd),
		auto.EnvVars(st.env()),
		auto.SecretsProvider("passphrase"),
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(st.Project),
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
			return auto.Stack{}, fmt.Errorf("set the config of stack %s: %w", stack, err)
		}
	}
	return s, nil
}

// Run performs one operation. Cancelling ctx interrupts the CLI (SIGINT, then
// SIGKILL after 10 s); an interrupted CLI releases the stack's lock itself,
// a killed one does not, and the error then wraps ErrCLIKilled.
func (st *Stacks) Run(ctx context.Context, op Operation) (Result, error) {
	cmd := &command{cli: st.CLI, onStart: op.OnCLIStart}
	res, err := st.run(ctx, op, cmd)
	if err != nil && cmd.killed.Load() {
		return res, fmt.Errorf("%w (%w)", err, ErrCLIKilled)
	}
	return res, err
}

func (st *Stacks) run(ctx context.Context, op Operation, cmd *command) (Result, error) {
	s, err := st.open(ctx, op.Stack, op.Config, cmd)
	if err != nil {
		return Result{}, err
	}
	onEvent := op.OnEvent
	if onEvent == nil {
		onEvent = func(json.RawMessage) {}
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
	res := Result{Operation: op.Name}
	switch op.Name {
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
		if op.Remove {
			opts = append(opts, optdestroy.Remove())
		}
		var out auto.DestroyResult
		out, err = s.Destroy(ctx, opts...)
		res.Changes = summaryChanges(out.Summary)
		res.Removed = op.Remove && err == nil
	default:
		close(stop)
		<-done
		return Result{}, fmt.Errorf("run %q on %s: unknown operation", op.Name, op.Stack)
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
		return res, fmt.Errorf("%s %s: %w", op.Name, op.Stack, err)
	}
	return res, nil
}

// Unlock releases a stack's lock through the CLI (`pulumi cancel`). On a file
// backend that removes every lock of the stack: call it only when a CLI of
// this server was killed while it may have held the lock.
func (st *Stacks) Unlock(ctx context.Context, stack string) error {
	s, err := st.open(ctx, stack, nil, &command{cli: st.CLI})
	if err != nil {
		return fmt.Errorf("unlock stack %s: %w", stack, err)
	}
	if err := s.Cancel(ctx); err != nil {
		return fmt.Errorf("unlock stack %s: %w", stack, err)
	}
	return nil
}

// SettleCLI waits for a CLI started by an earlier server process to end, and
// kills it (that very process, checked by its identity) if it still runs at
// the deadline.
func (st *Stacks) SettleCLI(ctx context.Context, cli process.Identity, deadline time.Time) (process.Outcome, error) {
	return process.Settle(ctx, cli, deadline)
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
