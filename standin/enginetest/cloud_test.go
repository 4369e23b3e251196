// Package enginetest runs the real platform program (components/platform)
// through the real Pulumi CLI and engine against the stand-in provider
// plugins in bin/standin: real state, diffs, refresh and destroy, with
// nothing created in AWS.
package enginetest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/standin"
)

// standinBin is where `make standin` builds the plugins.
func standinBin() string { return filepath.Join(clitest.Root(), "bin", "standin") }

// requirePlugins fails (never skips) when the plugins are not built: these
// tests exist to prove deploys, and a skipped proof proves nothing.
func requirePlugins(t testing.TB) {
	t.Helper()
	for _, p := range []string{"pulumi-resource-aws", "pulumi-resource-awsx"} {
		if _, err := os.Stat(filepath.Join(standinBin(), p)); err != nil {
			t.Fatalf("the stand-in plugin %s is missing from %s: run `make standin` (make test does) before these tests: %v",
				p, standinBin(), err)
		}
	}
	if _, err := exec.LookPath(filepath.Join(clitest.Root(), "bin", "pulumi")); err != nil {
		t.Fatalf("the pinned Pulumi CLI is missing from bin/: run `make pulumi` (make test does): %v", err)
	}
}

// cloud is one stand-in account: a state backend, a PULUMI_HOME and a
// stand-in directory shared by the stacks a test deploys into it (as an
// environment stack and its municipalities share an AWS account).
type cloud struct {
	root  string // the repository: the CLI is bin/pulumi there, the program's module
	dir   string // the stand-in's directory
	env   map[string]string
	cmd   auto.PulumiCommand
	store *standin.Store
	base  string
}

func newCloud(t testing.TB) *cloud {
	t.Helper()
	requirePlugins(t)
	root := clitest.Root()
	// The program builds its Lambda archives from the module on first use.
	// It runs in this process (an inline program), whose working directory
	// is this package's, inside the module: no CATS_MODULE_DIR needed.
	base := t.TempDir()
	c := &cloud{root: root, dir: filepath.Join(base, "standin"), base: base}
	for _, d := range []string{"home", "state", "standin"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.env = map[string]string{
		"PULUMI_HOME":                                 filepath.Join(base, "home"),
		"PULUMI_BACKEND_URL":                          "file://" + filepath.Join(base, "state"),
		"PULUMI_CONFIG_PASSPHRASE":                    "stand-in test passphrase",
		"PULUMI_SKIP_UPDATE_CHECK":                    "1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		// The stand-in plugins first: the CLI takes pulumi-resource-aws
		// and -awsx from PATH (it warns that it does).
		"PATH":         standinBin() + string(os.PathListSeparator) + os.Getenv("PATH"),
		standin.DirEnv: c.dir,
		// The region is the stack's (aws:region), never the machine's.
		"AWS_REGION":         "",
		"AWS_DEFAULT_REGION": "",
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatalf("the pinned CLI in %s/bin: %v", root, err)
	}
	c.cmd = cmd
	store, err := standin.OpenStore(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	c.store = store
	return c
}

// stack selects (creating it) a stack of the platform program with the
// configuration the project gives it, in a workspace of its own.
func (c *cloud) stack(t testing.TB, name string) auto.Stack {
	t.Helper()
	ctx := context.Background()
	work := filepath.Join(c.base, "workspaces", name)
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := auto.UpsertStackInlineSource(ctx, name, config.Project, platform.Program,
		auto.Pulumi(c.cmd), auto.PulumiHome(c.env["PULUMI_HOME"]), auto.EnvVars(c.env), auto.WorkDir(work),
		auto.Project(workspace.Project{Name: config.Project, Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: c.env["PULUMI_BACKEND_URL"]}}))
	if err != nil {
		t.Fatalf("select the stack %s: %v", name, err)
	}
	cfg, err := plan.StackConfig(c.root, name)
	if err != nil {
		t.Fatal(err)
	}
	all := auto.ConfigMap{}
	for k, v := range cfg {
		all[k] = auto.ConfigValue{Value: v}
	}
	if err := s.SetAllConfig(ctx, all); err != nil {
		t.Fatalf("configure the stack %s: %v", name, err)
	}
	return s
}

// stackConfig is the configuration the stack runs with (the plan's input).
func (c *cloud) stackConfig(t testing.TB, name string) map[string]string {
	t.Helper()
	cfg, err := plan.StackConfig(c.root, name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// state is the stack's deployment as `pulumi stack export` gives it.
func state(t testing.TB, s auto.Stack) apitype.DeploymentV3 {
	t.Helper()
	raw, err := s.Export(context.Background())
	if err != nil {
		t.Fatalf("export %s: %v", s.Name(), err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(raw.Deployment, &d); err != nil {
		t.Fatalf("decode the state of %s: %v", s.Name(), err)
	}
	return d
}

// objects are what the stand-in holds for one stack, by URN.
func (c *cloud) objects(t testing.TB, stack string) map[string]standin.Object {
	t.Helper()
	all, err := c.store.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]standin.Object{}
	for _, o := range all {
		if strings.HasPrefix(o.URN, "urn:pulumi:"+stack+"::") {
			out[o.URN] = o
		}
	}
	return out
}

// eventLog collects the engine events of one operation.
type eventLog struct {
	ch     chan events.EngineEvent
	done   chan struct{}
	mu     sync.Mutex
	events []events.EngineEvent
}

func newEventLog() *eventLog {
	l := &eventLog{ch: make(chan events.EngineEvent), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for e := range l.ch {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
		}
	}()
	return l
}

// all returns the events, waiting a little for the stream to end (a failed
// operation may not close it).
func (l *eventLog) all() []events.EngineEvent {
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.EngineEvent(nil), l.events...)
}
