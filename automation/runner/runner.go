// Package runner performs Pulumi operations on one stack with the Automation
// API and the real CLI: a temporary workspace directory per operation (the
// CLI's workspace files are not safe to share between stacks, and no replica
// keeps one a later operation needs), a file or PostgreSQL state
// backend, passphrase secrets, and engine events forwarded as they happen.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/policy/rules"
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

// Clouds the AWS resources of an operation can go to.
const (
	// CloudAWS is the real AWS provider: resources are created in AWS.
	CloudAWS = "aws"
	// CloudStandin is the stand-in cloud (standin/README.md): provider
	// plugins that keep resources in a directory; nothing is created in AWS.
	CloudStandin = "standin"
)

// Stacks runs operations on the stacks of one project.
type Stacks struct {
	// Project is the Pulumi project name.
	Project string
	// Program returns the program of a stack. Production passes the platform
	// program; tests pass programs that need no cloud provider.
	Program func(stack string) pulumi.RunFunc
	// CLI is the Pulumi CLI to run.
	CLI CLI
	// WorkDir holds the operations' workspace directories (each removed
	// when its operation ends) and the CLI's home.
	WorkDir string
	// Backend is the state backend URL (file://… or postgres://…).
	Backend string
	// Passphrase protects the stacks' secrets. It is passed to the CLI through
	// its environment only.
	Passphrase string
	// Cloud is CloudAWS (the default when empty) or CloudStandin; every
	// result and event stream says which served the operation.
	Cloud string
	// PluginDirs go first on the CLI's PATH, before the CLI's own directory
	// (the stand-in plugins: the CLI takes pulumi-resource-aws from PATH).
	PluginDirs []string
	// Env is set in the CLI's environment (CATS_STANDIN_DIR).
	Env map[string]string
	// PolicyPack is the policy pack binary every preview and up runs with
	// (bin/cats-policy); both refuse to run without one.
	PolicyPack string
	// PolicyConfig is the policy pack config file applied to them (the
	// format of --policy-pack-config); "" keeps the rules' own settings.
	PolicyConfig string
}

// Operation is one operation on one stack.
type Operation struct {
	// Name is Preview, Up, Refresh, Destroy or Drift.
	Name   string
	Stack  string
	Config map[string]string
	// Remove removes the stack from the backend after a successful destroy.
	Remove bool
	// OnEvent receives each event, encoded as JSON: the engine's events and
	// the server's own steps (Step).
	OnEvent func(json.RawMessage)
	// OnCLIStart is told of each CLI process as soon as it runs, or why it
	// could not be identified.
	OnCLIStart func(process.Identity, error)
}

// Result is what an operation reports (openapi.yaml, OperationResult), also
// when it failed: the changes made and the violations found until then.
type Result struct {
	Operation string `json:"operation"`
	// Cloud is the cloud that served the operation: CloudAWS or CloudStandin.
	Cloud   string  `json:"cloud"`
	Changes Changes `json:"changes"`
	// Violations are the policy pack's findings (preview and up), in the
	// shape of `cats plan --json`; empty, never absent, when it found none.
	Violations []rules.Violation `json:"violations,omitzero"`
	// Resources is the number of resources in the stack's state after an up,
	// refresh or destroy (nil when it could not be read).
	Resources *int           `json:"resources,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Removed   bool           `json:"removed,omitempty"`
	// Drifted are the resources a drift check found changed or gone in the
	// cloud (empty, never absent, for a drift check that found none).
	Drifted []DriftedResource `json:"drifted,omitzero"`
}

func (st *Stacks) cloud() string {
	if st.Cloud == "" {
		return CloudAWS
	}
	return st.Cloud
}

func (st *Stacks) env() map[string]string {
	env := map[string]string{
		"PULUMI_BACKEND_URL":                          st.Backend,
		"PULUMI_CONFIG_PASSPHRASE":                    st.Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK":                    "1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
	maps.Copy(env, st.Env)
	return env
}

func (st *Stacks) command(onStart func(process.Identity, error)) *command {
	return &command{cli: st.CLI, onStart: onStart, pathFirst: st.PluginDirs}
}

// workspace creates the operation's own workspace directory, a new one under
// WorkDir/workspaces, and returns it with the function that removes it: a
// workspace lives as long as its operation, so nothing an operation needs
// stays on one replica's disk (the stack's state and its secrets' salt are
// in the backend, its config comes with each job), and any replica can run
// the stack's next one.
func (st *Stacks) workspace(stack string) (string, func(), error) {
	root := filepath.Join(st.WorkDir, "workspaces")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil, fmt.Errorf("create the workspace of %s: %w", stack, err)
	}
	dir, err := os.MkdirTemp(root, stack+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create the workspace of %s: %w", stack, err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// open opens the stack in the workspace dir with its config; cmd runs its
// CLI commands.
func (st *Stacks) open(ctx context.Context, dir, stack string, config map[string]string, cmd *command) (auto.Stack, error) {
	home := filepath.Join(st.WorkDir, "pulumi-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return auto.Stack{}, fmt.Errorf("create the CLI's home for %s: %w", stack, err)
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

// Run performs one operation. A preview and an up run with the policy pack,
// and an up runs only after a preview with the pack found no mandatory
// violation (the pack's stack policies run after the engine has created
// the resources, so the up alone would fail only once they exist).
//
// A failed operation returns a *Failure (its reason and a one-line
// message) with the result so far; the CLI's raw output goes to OnEvent as
// a StepOutput step. Cancelling ctx interrupts the CLI (SIGINT, then
// SIGKILL after 10 s); an interrupted CLI releases the stack's lock itself,
// a killed one does not, and the error then also wraps ErrCLIKilled.
func (st *Stacks) Run(ctx context.Context, op Operation) (Result, error) {
	emit := op.OnEvent
	if emit == nil {
		emit = func(json.RawMessage) {}
	}
	cmd := st.command(op.OnCLIStart)
	res, err := st.run(ctx, op, cmd, emit)
	if err == nil {
		return res, nil
	}
	if f, ok := errors.AsType[*Failure](err); ok && f.Err != nil {
		emitStep(emit, Step{Step: StepOutput, Message: "the Pulumi CLI's output (" + string(f.Reason) + ")",
			Output: tail(f.Err.Error(), maxOutput)})
	}
	if cmd.killed.Load() {
		return res, fmt.Errorf("%w (%w)", err, ErrCLIKilled)
	}
	return res, err
}

func emitStep(emit func(json.RawMessage), s Step) {
	if b, err := json.Marshal(s); err == nil {
		emit(b)
	}
}

// cloudStep says which cloud serves an operation: a stand-in deployment is
// never mistaken for a real one.
func (st *Stacks) cloudStep() Step {
	msg := "the AWS provider serves this operation: resources are created, changed and deleted in AWS"
	if st.cloud() == CloudStandin {
		msg = "the stand-in cloud serves this operation (stand-in pulumi-resource-aws and -awsx plugins): nothing is created in AWS"
	}
	return Step{Step: StepCloud, Message: msg, Cloud: st.cloud()}
}

func (st *Stacks) run(ctx context.Context, op Operation, cmd *command, emit func(json.RawMessage)) (Result, error) {
	res := Result{Operation: op.Name, Cloud: st.cloud()}
	switch op.Name {
	case Preview, Up:
		res.Violations = []rules.Violation{}
		if st.PolicyPack == "" {
			return res, fmt.Errorf("%s %s: no policy pack: every preview and up runs with the project's policy pack", op.Name, op.Stack)
		}
	case Refresh, Destroy:
	case Drift:
		res.Drifted = []DriftedResource{}
	default:
		return res, fmt.Errorf("run %q on %s: unknown operation", op.Name, op.Stack)
	}
	emitStep(emit, st.cloudStep())
	dir, remove, err := st.workspace(op.Stack)
	if err != nil {
		return res, classify(op.Name, op.Stack, err, newObserver())
	}
	defer remove()
	s, err := st.open(ctx, dir, op.Stack, op.Config, cmd)
	if err != nil {
		return res, classify(op.Name, op.Stack, err, newObserver())
	}
	seen := newObserver()
	switch op.Name {
	case Preview:
		var out auto.PreviewResult
		out, err = st.preview(ctx, s, emit, seen)
		res.Changes = changesOr(seen, out.ChangeSummary)
		res.Violations = seen.sortedViolations()
	case Up:
		// The gate: nothing changes when the pack forbids it.
		if _, err := st.preview(ctx, s, emit, seen); err != nil {
			res.Violations = seen.sortedViolations()
			if len(seen.mandatory()) > 0 {
				emitStep(emit, policyStep(seen))
			}
			f := classify(Preview, op.Stack, err, seen)
			f.Message = "the preview before the up failed, so the up did not run: " + f.Message
			st.recordState(ctx, s, op.Stack, &res, emit)
			return res, f
		}
		emitStep(emit, policyStep(seen))
		var out auto.UpResult
		seen = newObserver()
		err = st.stream(emit, seen, func(ch chan<- events.EngineEvent) error {
			var err error
			out, err = s.Up(ctx, append(st.policyOptionsUp(), optup.EventStreams(ch))...)
			return err
		})
		res.Outputs = outputs(out.Outputs)
		res.Changes = changesOr(seen, summaryMap(out.Summary))
		res.Violations = seen.sortedViolations()
		st.recordState(ctx, s, op.Stack, &res, emit)
	case Refresh:
		var out auto.RefreshResult
		err = st.stream(emit, seen, func(ch chan<- events.EngineEvent) error {
			var err error
			out, err = s.Refresh(ctx, optrefresh.EventStreams(ch))
			return err
		})
		res.Changes = changesOr(seen, summaryMap(out.Summary))
		st.recordState(ctx, s, op.Stack, &res, emit)
	case Drift:
		found := &driftCollector{}
		var out auto.PreviewResult
		out, err = st.drift(ctx, s, emit, seen, found)
		res.Changes = changesOr(seen, out.ChangeSummary)
		res.Drifted = found.resources()
	case Destroy:
		opts := []optdestroy.Option{}
		if op.Remove {
			opts = append(opts, optdestroy.Remove())
		}
		var out auto.DestroyResult
		err = st.stream(emit, seen, func(ch chan<- events.EngineEvent) error {
			var err error
			out, err = s.Destroy(ctx, append(opts, optdestroy.EventStreams(ch))...)
			return err
		})
		res.Changes = changesOr(seen, summaryMap(out.Summary))
		res.Removed = op.Remove && err == nil
		if res.Removed { // no stack, no state, no resource
			res.Resources = new(int)
		} else {
			st.recordState(ctx, s, op.Stack, &res, emit)
		}
	}
	if err != nil {
		return res, classify(op.Name, op.Stack, err, seen)
	}
	return res, nil
}

// recordState counts the resources in the stack's state after an update,
// also a failed one (the state keeps what it did), and reports them.
func (st *Stacks) recordState(ctx context.Context, s auto.Stack, stack string, res *Result, emit func(json.RawMessage)) {
	res.Resources = st.count(ctx, s)
	if res.Resources != nil {
		emitStep(emit, Step{Step: StepState, Message: fmt.Sprintf("the state of %s holds %d resources", stack, *res.Resources),
			Resources: res.Resources})
	}
}

func (st *Stacks) policyOptionsPreview() []optpreview.Option {
	opts := []optpreview.Option{optpreview.PolicyPacks(st.PolicyPack)}
	if st.PolicyConfig != "" {
		opts = append(opts, optpreview.PolicyPackConfigs(st.PolicyConfig))
	}
	return opts
}

func (st *Stacks) policyOptionsUp() []optup.Option {
	opts := []optup.Option{optup.PolicyPacks(st.PolicyPack)}
	if st.PolicyConfig != "" {
		opts = append(opts, optup.PolicyPackConfigs(st.PolicyConfig))
	}
	return opts
}

// preview runs a preview with the policy pack.
func (st *Stacks) preview(ctx context.Context, s auto.Stack, emit func(json.RawMessage), seen *observer) (auto.PreviewResult, error) {
	var out auto.PreviewResult
	err := st.stream(emit, seen, func(ch chan<- events.EngineEvent) error {
		var err error
		out, err = s.Preview(ctx, append(st.policyOptionsPreview(), optpreview.EventStreams(ch))...)
		return err
	})
	return out, err
}

// stream runs one CLI command, passing its engine events to emit and to the
// observer as they come.
func (st *Stacks) stream(emit func(json.RawMessage), seen *observer, run func(chan<- events.EngineEvent) error) error {
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
				seen.observe(ev)
				if b, err := json.Marshal(ev.EngineEvent); err == nil {
					emit(b)
				}
			case <-stop:
				return
			}
		}
	}()
	err := run(ch)
	// The SDK closes the event channel once it has read the CLI's whole event
	// log; when the CLI fails before writing one (a locked stack), it never
	// does, so wait only briefly.
	select {
	case <-done:
	case <-time.After(eventDrainTimeout):
		close(stop)
		<-done
	}
	return err
}

// count is the number of resources in the stack's state (`pulumi stack
// export` through the Automation API), or nil when it cannot be read. It
// runs after the operation, even a cancelled one: the state is what it left.
func (st *Stacks) count(ctx context.Context, s auto.Stack) *int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	raw, err := s.Export(ctx)
	if err != nil {
		return nil
	}
	var d apitype.DeploymentV3
	if len(raw.Deployment) > 0 {
		if err := json.Unmarshal(raw.Deployment, &d); err != nil {
			return nil
		}
	}
	n := len(d.Resources)
	return &n
}

func changesOr(o *observer, summary map[apitype.OpType]int) Changes {
	if c, ok := o.changes(); ok {
		return c
	}
	return changesOf(summary)
}

func summaryMap(s auto.UpdateSummary) map[apitype.OpType]int {
	out := map[apitype.OpType]int{}
	if s.ResourceChanges != nil {
		for k, v := range *s.ResourceChanges {
			out[apitype.OpType(k)] = v
		}
	}
	return out
}

// ErrForeignLocksOnly is returned by ReleaseLock on a backend whose locks it
// cannot tell apart: it leaves them all.
var ErrForeignLocksOnly = errors.New("this backend's locks cannot be told apart, so none was removed")

// diyLock is what the Pulumi CLI writes into a lock file of a self-managed
// backend (pkg/backend/diy, lockContent): the process that holds the lock.
type diyLock struct {
	PID      int    `json:"pid"`
	Hostname string `json:"hostname"`
}

// ReleaseLock removes the lock that one CLI of this server left on a stack
// (it was killed, so it could not remove it itself), and no other: `pulumi
// cancel` would remove every lock of the stack, another host's or an
// operator's running `pulumi up` included. The CLI must have ended.
//
// The Pulumi CLI offers no command that removes one lock, so this reads the
// backend's lock entries (.pulumi/locks/<org>/<project>/<stack>/<id>.json,
// one per holder, naming its pid and host: files of a file:// backend, rows
// of a postgres:// backend's state table) and deletes those of that CLI's
// pid and host only. On another backend it removes nothing and returns
// ErrForeignLocksOnly. It returns the number of locks removed.
func (st *Stacks) ReleaseLock(ctx context.Context, stack string, cli process.Identity) (int, error) {
	status, err := cli.Status()
	if err != nil {
		return 0, fmt.Errorf("release the lock of %s on %s: %w", cli, stack, err)
	}
	if status == process.Running {
		return 0, fmt.Errorf("release the lock of %s on %s: that CLI still runs", cli, stack)
	}
	if strings.HasPrefix(st.Backend, "postgres://") || strings.HasPrefix(st.Backend, "postgresql://") {
		n, err := releasePostgresLock(ctx, st.Backend, path.Join(".pulumi", "locks", config.DefaultOrganization, st.Project, stack), cli)
		if err != nil {
			return n, fmt.Errorf("release the lock of %s on %s: %w", cli, stack, err)
		}
		return n, nil
	}
	root, ok := strings.CutPrefix(st.Backend, "file://")
	if !ok {
		return 0, fmt.Errorf("release the lock of %s on %s: %w", cli, stack, ErrForeignLocksOnly)
	}
	dir := filepath.Join(root, ".pulumi", "locks", config.DefaultOrganization, st.Project, stack)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("release the lock of %s on %s: %w", cli, stack, err)
	}
	removed := 0
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile: released by its holder
		}
		var lock diyLock
		if json.Unmarshal(raw, &lock) != nil || lock.PID != cli.PID || lock.Hostname != cli.Host {
			continue // another holder's, or not a lock: never ours to remove
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("release the lock of %s on %s: %w", cli, stack, err)
		}
		removed++
	}
	return removed, nil
}

// SettleCLI waits for a CLI started by an earlier server process to end, and
// kills it (that very process, checked by its identity) if it still runs at
// the deadline.
func (st *Stacks) SettleCLI(ctx context.Context, cli process.Identity, deadline time.Time) (process.Outcome, error) {
	return process.Settle(ctx, cli, deadline)
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
