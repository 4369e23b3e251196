package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/internal/apitest"
	"github.com/cats-analytics/cats-analytics/automation/process"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/standin"
)

// The stack the platform tests deploy: 千代田区 in prod, a shared-tenancy
// municipality that references its environment stack prod.
const (
	platformCode  = "131016"
	platformEnv   = config.Prod
	platformStack = platformCode + "-" + platformEnv
)

// standinPlugins is where `make standin` builds the stand-in plugins.
func standinPlugins() string { return filepath.Join(clitest.Root(), "bin", "standin") }

// platformOptions makes test options serve the real platform program on the
// stand-in cloud, as `cats serve --cloud standin` does: the server's own
// planner, the policy pack with its own settings, the production base config.
func platformOptions(o *ServeOptions) {
	o.Program = func(string) pulumi.RunFunc { return platform.Program }
	o.Planner = nil
	o.PolicyConfig = nil
	o.BaseConfig = baseConfig()
	o.Cloud = runner.CloudStandin
	o.StandinPlugins = standinPlugins()
}

// requireStandin fails (never skips) when the stand-in plugins are missing.
func requireStandin(t testing.TB) {
	t.Helper()
	for _, p := range standin.Plugins {
		if _, err := os.Stat(filepath.Join(standinPlugins(), p)); err != nil {
			t.Fatalf("the stand-in plugin %s is missing: run `make standin` (make test does) before these tests: %v", p, err)
		}
	}
}

// newPlatformServer prepares a data directory whose backend already holds
// the environment stack prod on the stand-in cloud; no server runs yet.
//
// 131016-prod takes the trail and the zone from prod by StackReference, so
// prod must be in the same backend and the same stand-in account. The
// server's API operates municipality stacks only: environment stacks are
// the platform team's, deployed with `pulumi up` (README, Deploy an
// environment). The test does what the platform team does, through the
// runner the server itself uses (the same CLI, plugins, policy pack and
// workspace layout), so prod is deployed exactly as the server would.
func newPlatformServer(t testing.TB) *testServer {
	t.Helper()
	requireStandin(t)
	ts := newTestServer(t)
	for _, d := range []string{"state", "standin"} {
		if err := os.MkdirAll(filepath.Join(ts.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := maps.Clone(baseConfig())
	prodConfig, err := plan.StackConfig(clitest.Root(), config.Prod)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(env, prodConfig)
	operator := &runner.Stacks{Project: config.Project, Program: func(string) pulumi.RunFunc { return platform.Program },
		CLI: testCLI(t), WorkDir: ts.dir, Backend: ts.backend(), Passphrase: testPassphrase,
		Cloud: runner.CloudStandin, PluginDirs: []string{standinPlugins()}, Env: map[string]string{standin.DirEnv: ts.standinDir()},
		PolicyPack: testPolicyPack()}
	res, err := operator.Run(context.Background(), runner.Operation{Name: runner.Up, Stack: config.Prod, Config: env})
	if err != nil {
		t.Fatalf("up the environment stack prod on the stand-in (131016-prod references it): %v", err)
	}
	if res.Cloud != runner.CloudStandin || res.Changes.Create == 0 {
		t.Fatalf("up prod = %+v, want resources created on the stand-in", res)
	}
	return ts
}

func (ts *testServer) backend() string    { return fileBackend(filepath.Join(ts.dir, "state")) }
func (ts *testServer) standinDir() string { return filepath.Join(ts.dir, "standin") }

// restart stops the server running in the test process and starts it again
// on the same data directory with other options.
func (ts *testServer) restart(adjust func(*ServeOptions)) {
	ts.t.Helper()
	if ts.stop != nil {
		ts.stop()
		ts.stop = nil
	}
	ts.startWith(adjust)
}

// operationResult decodes a CLI job's result (also a failed job's).
func operationResult(t testing.TB, j store.Job) runner.Result {
	t.Helper()
	var r runner.Result
	if err := json.Unmarshal(j.Result, &r); err != nil {
		t.Fatalf("job %d (%s %s: %s) has no operation result: %v: %s", j.ID, j.Operation, j.State, j.Error, err, j.Result)
	}
	return r
}

// jobEvents are a job's engine events and the server's own steps.
func (ts *testServer) jobEvents(id int64) (engine []apitype.EngineEvent, steps []runner.Step) {
	ts.t.Helper()
	for _, e := range ts.events(id, "") {
		switch e.Type {
		case "engine":
			var ev apitype.EngineEvent
			if err := json.Unmarshal(e.Data, &ev); err != nil {
				ts.t.Fatalf("engine event %s: %v", e.Data, err)
			}
			engine = append(engine, ev)
		case "step":
			var s runner.Step
			if err := json.Unmarshal(e.Data, &s); err != nil {
				ts.t.Fatalf("step %s: %v", e.Data, err)
			}
			steps = append(steps, s)
		}
	}
	return engine, steps
}

func findStep(steps []runner.Step, name string) (runner.Step, bool) {
	for _, s := range steps {
		if s.Step == name {
			return s, true
		}
	}
	return runner.Step{}, false
}

// stackView is the stack's entry in GET /v1/municipalities/{code}.
func (ts *testServer) stackView(code, stack string) map[string]any {
	ts.t.Helper()
	r := ts.do("GET", "/v1/municipalities/"+code, "platform", nil)
	for _, s := range r.body["stacks"].([]any) {
		if m := s.(map[string]any); m["stack"] == stack {
			return m
		}
	}
	ts.t.Fatalf("GET /v1/municipalities/%s has no stack %s: %s", code, stack, r.raw)
	return nil
}

// viewResources is the resource count the stack's view shows (-1: none).
func (ts *testServer) viewResources(code, stack string) int {
	ts.t.Helper()
	n, ok := ts.stackView(code, stack)["resources"].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

// exportState is the stack's state as `pulumi stack export` gives it,
// through the Automation API, from the server's backend.
func exportState(t testing.TB, ts *testServer, stack string) apitype.DeploymentV3 {
	t.Helper()
	var d apitype.DeploymentV3
	if raw := exportRaw(t, ts, stack); len(raw) > 0 {
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("decode the state of %s: %v", stack, err)
		}
	}
	return d
}

// exportRaw is the deployment `pulumi stack export` gives, as JSON.
func exportRaw(t testing.TB, ts *testServer, stack string) json.RawMessage {
	t.Helper()
	ctx := context.Background()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: clitest.Root(), SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.Pulumi(cmd), auto.WorkDir(t.TempDir()), auto.PulumiHome(filepath.Join(t.TempDir(), "home")),
		auto.EnvVars(map[string]string{"PULUMI_BACKEND_URL": ts.backend(), "PULUMI_CONFIG_PASSPHRASE": testPassphrase,
			"PULUMI_SKIP_UPDATE_CHECK": "1", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true"}),
		auto.Project(workspace.Project{Name: config.Project, Runtime: workspace.NewProjectRuntimeInfo("go", nil)}))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ws.ExportStack(ctx, stack)
	if err != nil {
		t.Fatalf("export %s: %v", stack, err)
	}
	return raw.Deployment
}

// objects are what the stand-in cloud holds for a stack, by URN.
func (ts *testServer) objects(stack string) map[string]standin.Object {
	ts.t.Helper()
	st, err := standin.OpenStore(ts.standinDir())
	if err != nil {
		ts.t.Fatal(err)
	}
	all, err := st.List()
	if err != nil {
		ts.t.Fatal(err)
	}
	out := map[string]standin.Object{}
	for _, o := range all {
		if strings.HasPrefix(o.URN, "urn:pulumi:"+stack+"::") {
			out[o.URN] = o
		}
	}
	return out
}

// clearRetained deletes from the stand-in what a destroy of the stack left
// there (prod data is retained on delete), as an operator would before
// deploying the stack again: a new bucket of the same name would fail as it
// does in AWS.
func (ts *testServer) clearRetained(stack string) {
	ts.t.Helper()
	st, err := standin.OpenStore(ts.standinDir())
	if err != nil {
		ts.t.Fatal(err)
	}
	for urn, o := range ts.objects(stack) {
		if err := st.Delete(urn, o.ID); err != nil {
			ts.t.Fatal(err)
		}
	}
}

// plannedStack is the offline plan of the platform stack with the
// configuration the server gives it.
func plannedStack(t testing.TB) *plan.Result {
	t.Helper()
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: platformStack, Config: baseConfig()})
	if err != nil {
		t.Fatalf("plan %s: %v", platformStack, err)
	}
	return res
}

// engineOnly: resources a real deployment has that the offline plan does
// not list, because its mocks never run the code that registers them: the
// awsx VPC's children and awsx's provider (the awsx plugin registers them),
// and the engine's provider that reads stack references.
func engineOnly(urn string) bool {
	u := resource.URN(urn)
	return strings.Contains(string(u.QualifiedType()), awsmodel.AWSXVpcType+"$") ||
		u.Type() == "pulumi:providers:awsx" || u.Type() == "pulumi:providers:pulumi"
}

// typeAndName is how the plan and the state are compared.
func typeAndName(urn string) string {
	u := resource.URN(urn)
	return string(u.Type()) + " " + u.Name()
}

// violationKeys are the violations of a policy as "policy urn", sorted.
func violationKeys(vs []runner.Result, policy string) []string {
	var out []string
	for _, r := range vs {
		for _, v := range r.Violations {
			if v.Policy == policy && v.Level == "mandatory" {
				out = append(out, v.Policy+" "+v.URN)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// strictRetention makes log-group-retention mandatory with a minimum above
// the program's prod retention (365 days, cats:logRetentionDays), so the
// program breaks it: a platform team tightening a rule for the fleet.
const strictRetention = `{"log-group-retention": {"enforcementLevel": "mandatory", "minimumRetentionDays": 400}}`

// TestPlatformOnTheStandinCloud runs the real platform program through the
// server, the real CLI and the stand-in plugins for 131016-prod, step by
// step on one backend (each step needs the state the previous one left, as
// a municipality's stack goes through them in life): a tightened policy
// stops everything before anything changes; then preview, a failed up, up,
// a no-op up, drift, destroy; and a server killed mid-up is recovered.
func TestPlatformOnTheStandinCloud(t *testing.T) {
	ts := newPlatformServer(t)
	planned := plannedStack(t)

	t.Run("a mandatory violation stops the up before anything changes", func(t *testing.T) {
		ts.startWith(func(o *ServeOptions) { platformOptions(o); o.PolicyConfig = []byte(strictRetention) })
		planJob := ts.wait(ts.register(platformCode, "千代田区", "東京都", platformEnv, nil))
		if planJob.State != store.JobFailed || planJob.Reason != string(runner.ReasonPolicyViolation) {
			t.Errorf("plan with %s = %s %s %q; want failed with policy_violation: the plan applies the server's policy config",
				strictRetention, planJob.State, planJob.Reason, planJob.Error)
		}
		preview := ts.wait(ts.submit(platformCode, platformEnv, runner.Preview))
		up := ts.wait(ts.submit(platformCode, platformEnv, runner.Up))
		for _, j := range []store.Job{preview, up} {
			if j.State != store.JobFailed || j.Reason != string(runner.ReasonPolicyViolation) || strings.Contains(j.Error, "\n") {
				t.Errorf("%s with log retention below the mandatory minimum = %s %s %q; want failed, policy_violation, one line",
					j.Operation, j.State, j.Reason, j.Error)
			}
		}
		pre, u := operationResult(t, preview), operationResult(t, up)
		previewed, stopped := violationKeys([]runner.Result{pre}, "log-group-retention"), violationKeys([]runner.Result{u}, "log-group-retention")
		if len(stopped) == 0 || !slices.Equal(previewed, stopped) {
			t.Errorf("the up lists the mandatory violations %v, the preview %v; want the same, not none", stopped, previewed)
		}
		var fromPlan []string
		for _, v := range plannedWith(t, strictRetention).Violations {
			if v.Policy == "log-group-retention" && v.Mandatory() {
				fromPlan = append(fromPlan, v.Policy+" "+v.URN)
			}
		}
		sort.Strings(fromPlan)
		if !slices.Equal(fromPlan, stopped) {
			t.Errorf("the offline plan finds %v, the up %v: the same rules on the same program must agree", fromPlan, stopped)
		}
		if !strings.Contains(up.Error, "the up did not run") {
			t.Errorf("up error %q; want it to say the up did not run", up.Error)
		}
		if u.Resources == nil || *u.Resources != 0 || u.Changes != (runner.Changes{}) {
			t.Errorf("the stopped up reports %v resources and changes %+v; want 0 and none", u.Resources, u.Changes)
		}
		if n := len(exportState(t, ts, platformStack).Resources); n != 0 {
			t.Errorf("the state holds %d resources after the stopped up; a mandatory violation must stop it before anything changes", n)
		}
		if n := len(ts.objects(platformStack)); n != 0 {
			t.Errorf("the stand-in holds %d resources of %s after the stopped up; want none", n, platformStack)
		}
		if n := ts.viewResources(platformCode, platformStack); n != 0 {
			t.Errorf("the stack's view shows %d resources, want 0", n)
		}
		if last := ts.stackView(platformCode, platformStack)["lastUpdate"].(map[string]any); last["reason"] != "policy_violation" {
			t.Errorf("the stack's last update %v; want the failed up with its reason", last)
		}
		_, steps := ts.jobEvents(up.ID)
		if s, ok := findStep(steps, runner.StepPolicy); !ok || s.MandatoryViolations == nil || *s.MandatoryViolations == 0 {
			t.Errorf("the up's events have no policy step with the mandatory violations: %+v", steps)
		}
	})
	if t.Failed() {
		return
	}
	ts.restart(platformOptions)

	t.Run("preview lists every resource to create", func(t *testing.T) {
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Preview))
		mustSucceed(t, j)
		res := operationResult(t, j)
		engine, steps := ts.jobEvents(j.ID)
		if res.Cloud != runner.CloudStandin || res.Violations == nil {
			t.Errorf("preview result cloud %q, violations %v; want standin and the pack's findings (maybe none): a stand-in run says so", res.Cloud, res.Violations)
		}
		if s, ok := findStep(steps, runner.StepCloud); !ok || s.Cloud != runner.CloudStandin || !strings.Contains(s.Message, "nothing is created in AWS") {
			t.Errorf("the preview's events do not say that the stand-in serves it: %+v", steps)
		}
		creates, reads := map[string]bool{}, map[string]bool{}
		for _, e := range engine {
			if p := e.ResourcePreEvent; p != nil {
				switch p.Metadata.Op {
				case apitype.OpCreate:
					creates[p.Metadata.URN] = true
				case apitype.OpRead:
					reads[p.Metadata.URN] = true
				}
			}
		}
		for _, r := range planned.Resources {
			switch {
			case resource.URN(r.URN).QualifiedType() == resource.RootStackType:
			case r.Type == "pulumi:pulumi:StackReference":
				if !reads[r.URN] {
					t.Errorf("the preview does not read the stack reference %s", r.URN)
				}
			case !creates[r.URN]:
				t.Errorf("the preview does not create %s, which the offline plan lists", r.URN)
			}
		}
		for urn := range creates {
			if !slices.ContainsFunc(planned.Resources, func(r plan.Resource) bool { return r.URN == urn }) && !engineOnly(urn) {
				t.Errorf("the preview creates %s, which the offline plan does not list", urn)
			}
		}
		// The engine's summary leaves out the default providers it creates.
		counted := 0
		for urn := range creates {
			if u := resource.URN(urn); !(strings.HasPrefix(string(u.Type()), "pulumi:providers:") && strings.HasPrefix(u.Name(), "default")) {
				counted++
			}
		}
		if res.Changes.Create != counted {
			t.Errorf("preview changes %+v; want create = the %d resources it plans to create (default providers aside)", res.Changes, counted)
		}
	})

	failing := plannedResource(t, planned, "aws:dynamodb/table:Table", "")
	t.Run("a failure knob fails the up with provider_error and the state keeps what was created", func(t *testing.T) {
		if err := standin.WriteFailures(ts.standinDir(), []standin.Failure{{Operation: standin.OpCreate, URN: failing.URN,
			Message: "ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput"}}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := standin.WriteFailures(ts.standinDir(), nil); err != nil {
				t.Error(err)
			}
		}()
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Up))
		named := fmt.Sprintf("%s %q", failing.Type, failing.Name)
		if j.State != store.JobFailed || j.Reason != string(runner.ReasonProviderError) || !strings.Contains(j.Error, named) || strings.Contains(j.Error, "\n") {
			t.Fatalf("up with a failing %s = %s %s %q; want failed, provider_error, one line naming %s", failing.Type, j.State, j.Reason, j.Error, named)
		}
		if strings.Contains(j.Error, "stdout:") || strings.Contains(j.Error, "Updating (") {
			t.Errorf("the job's error carries the CLI's output: %q", j.Error)
		}
		_, steps := ts.jobEvents(j.ID)
		if s, ok := findStep(steps, runner.StepOutput); !ok || !strings.Contains(s.Output, "injected failure") {
			t.Errorf("the CLI's raw output is not in the job's events: %+v", steps)
		}
		state := exportState(t, ts, platformStack)
		for _, r := range state.Resources {
			if string(r.URN) == failing.URN {
				t.Errorf("%s failed to create but is in the state", failing.URN)
			}
		}
		res := operationResult(t, j)
		if len(state.Resources) == 0 || res.Resources == nil || *res.Resources != len(state.Resources) || res.Changes.Create == 0 {
			t.Errorf("after the failed up the state holds %d resources, the result says %v (changes %+v); want what was created, counted",
				len(state.Resources), res.Resources, res.Changes)
		}
		if n := ts.viewResources(platformCode, platformStack); n != len(state.Resources) {
			t.Errorf("the stack's view shows %d resources, the state holds %d", n, len(state.Resources))
		}
	})
	if t.Failed() {
		return
	}

	t.Run("up creates what the offline plan lists", func(t *testing.T) {
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Up))
		mustSucceed(t, j)
		res := operationResult(t, j)
		state := exportState(t, ts, platformStack)
		got := map[string]bool{}
		for _, r := range state.Resources {
			got[typeAndName(string(r.URN))] = true
		}
		want := map[string]bool{}
		for _, r := range planned.Resources {
			want[typeAndName(r.URN)] = true
			if !got[typeAndName(r.URN)] {
				t.Errorf("the offline plan lists %s; the state does not hold it", typeAndName(r.URN))
			}
		}
		for _, r := range state.Resources {
			if !want[typeAndName(string(r.URN))] && !engineOnly(string(r.URN)) {
				t.Errorf("the state holds %s, which the offline plan does not list", typeAndName(string(r.URN)))
			}
		}
		if res.Resources == nil || *res.Resources != len(state.Resources) || ts.viewResources(platformCode, platformStack) != len(state.Resources) {
			t.Errorf("result %v, view %d resources; the state holds %d", res.Resources, ts.viewResources(platformCode, platformStack), len(state.Resources))
		}
		if last := ts.stackView(platformCode, platformStack)["lastUpdate"].(map[string]any); last["state"] != "succeeded" || last["job"] != float64(j.ID) {
			t.Errorf("the stack's last update %v; want the succeeded up %d", last, j.ID)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a second up changes nothing", func(t *testing.T) {
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Up))
		mustSucceed(t, j)
		c := operationResult(t, j).Changes
		if c.Create+c.Update+c.Delete+c.Replace != 0 || c.Same == 0 {
			t.Errorf("a second up with nothing changed: %+v; want every resource the same", c)
		}
	})

	drifted := plannedResource(t, planned, "aws:cloudwatch/logGroup:LogGroup", "flow-logs")
	t.Run("drift is reported by refresh and the following preview", func(t *testing.T) {
		if err := standin.WriteDrift(ts.standinDir(), map[string]any{drifted.URN: map[string]any{"retentionInDays": 1}}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := standin.WriteDrift(ts.standinDir(), nil); err != nil {
				t.Error(err)
			}
		}()
		refresh := ts.wait(ts.submit(platformCode, platformEnv, runner.Refresh))
		mustSucceed(t, refresh)
		engine, _ := ts.jobEvents(refresh.ID)
		var refreshed []string
		for _, e := range engine {
			if o := e.ResOutputsEvent; o != nil && o.Metadata.Op == apitype.OpUpdate && o.Metadata.URN == drifted.URN {
				refreshed = o.Metadata.Diffs
			}
		}
		if c := operationResult(t, refresh).Changes; c.Update != 1 || !slices.Contains(refreshed, "retentionInDays") {
			t.Errorf("refresh reports %+v with diffs %v; want the drifted retentionInDays of %s as the one update", c, refreshed, drifted.URN)
		}
		preview := ts.wait(ts.submit(platformCode, platformEnv, runner.Preview))
		mustSucceed(t, preview)
		engine, _ = ts.jobEvents(preview.ID)
		var updates []string
		for _, e := range engine {
			if p := e.ResourcePreEvent; p != nil && p.Metadata.Op == apitype.OpUpdate {
				updates = append(updates, p.Metadata.URN)
			}
		}
		if c := operationResult(t, preview).Changes; c.Update != 1 || !slices.Equal(updates, []string{drifted.URN}) {
			t.Errorf("the preview after the refresh plans %+v, updates %v; want only %s back to the program's retention", c, updates, drifted.URN)
		}
	})

	t.Run("destroy leaves no resource", func(t *testing.T) {
		retained := map[string]bool{}
		for _, r := range exportState(t, ts, platformStack).Resources {
			if r.RetainOnDelete {
				retained[string(r.URN)] = true
			}
		}
		j := ts.wait(ts.submit(platformCode, platformEnv, runner.Destroy))
		mustSucceed(t, j)
		if n := len(exportState(t, ts, platformStack).Resources); n != 0 || ts.viewResources(platformCode, platformStack) != 0 {
			t.Errorf("after destroy the state holds %d resources, the view shows %d; want none", n, ts.viewResources(platformCode, platformStack))
		}
		// Prod data is retained on delete (DESIGN.md, data lake and
		// database): the engine leaves those in the cloud, and nothing else.
		for urn := range ts.objects(platformStack) {
			if !retained[urn] {
				t.Errorf("the stand-in still holds %s after destroy", urn)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("a server killed mid-up is recovered", func(t *testing.T) {
		ts.stop()
		ts.stop = nil
		ts.clearRetained(platformStack)
		child := ts.startChild(t)
		id := ts.submit(platformCode, platformEnv, runner.Up)
		ts.waitCreated(id, 20) // mid-up: resources are being created
		queuedBehind := ts.submit(platformCode, platformEnv, runner.Refresh)
		cli := recordedCLI(t, ts.dir, id)
		t.Cleanup(func() {
			if s, err := cli.Status(); err == nil && s == process.Running {
				_ = syscall.Kill(cli.PID, syscall.SIGKILL)
			}
		})
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()

		ts.startWith(func(o *ServeOptions) { platformOptions(o); o.OrphanWait = 20 * time.Second })
		j := ts.job(id)
		if j.State != store.JobFailed || j.Reason != string(runner.ReasonInterrupted) || j.Attempts != 1 {
			t.Fatalf("the up killed with its server = %s %s after %d attempts (%q); want failed, interrupted, run once", j.State, j.Reason, j.Attempts, j.Error)
		}
		if s, err := cli.Status(); err != nil || s == process.Running {
			t.Errorf("the orphaned CLI is %v (%v) after recovery, want ended", s, err)
		}
		// The job queued behind it runs at once: the stack's lock is free.
		if r := ts.wait(queuedBehind); r.State != store.JobSucceeded || r.Attempts != 1 {
			t.Errorf("refresh queued behind the killed up = %s after %d attempts (%s %q), want succeeded at once", r.State, r.Attempts, r.Reason, r.Error)
		}
		if j := ts.job(id); j.Attempts != 1 || j.State != store.JobFailed {
			t.Errorf("the killed up ran again: %+v", j)
		}
		t.Logf("recovered: %s", j.Error)
	})
}

// plannedWith is the offline plan of the platform stack under a policy config.
func plannedWith(t testing.TB, policyConfig string) *plan.Result {
	t.Helper()
	pc, err := parsePolicyConfig([]byte(policyConfig))
	if err != nil {
		t.Fatal(err)
	}
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: platformStack, Config: baseConfig(), PolicyConfig: pc})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// plannedResource is a planned resource of a type whose name contains a text.
func plannedResource(t testing.TB, res *plan.Result, typ, nameContains string) plan.Resource {
	t.Helper()
	for _, r := range res.Resources {
		if r.Type == typ && strings.Contains(r.Name, nameContains) {
			return r
		}
	}
	t.Fatalf("the plan of %s has no %s named like %q", res.Stack, typ, nameContains)
	return plan.Resource{}
}

// startChild starts the server in a child process (this test binary, see
// TestMain) serving the platform program on the stand-in, so the test can
// kill it.
func (ts *testServer) startChild(t *testing.T) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(ts.dir, "addr")
	_ = os.Remove(addrFile)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CATS_TEST_SERVE="+ts.dir, "CATS_TEST_PROGRAM=platform", "PULUMI="+clitest.Path(t))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var addr []byte
	for i := 0; i < 600 && len(addr) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		addr, _ = os.ReadFile(addrFile)
	}
	if len(addr) == 0 {
		t.Fatal("the child server did not start")
	}
	ts.url = "http://" + string(addr)
	return cmd
}

// waitCreated waits until a running up has created n resources (its events
// say so), so that a kill lands in the middle of it.
func (ts *testServer) waitCreated(id int64, n int) {
	ts.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		j := ts.job(id)
		if store.Terminal(j.State) {
			ts.t.Fatalf("up %d ended (%s %s) before it had created %d resources", id, j.State, j.Error, n)
		}
		created := 0
		for _, e := range ts.eventsSoFar(id) {
			if strings.Contains(string(e.Data), `"resOutputsEvent"`) && strings.Contains(string(e.Data), `"op":"create"`) {
				created++
			}
		}
		if created >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.t.Fatalf("up %d did not create %d resources in 3 minutes", id, n)
}

// eventsSoFar reads the events a running job has stored so far (the stream
// is cut after a moment: the job has not ended).
func (ts *testServer) eventsSoFar(id int64) []apitest.Event {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/jobs/%d/events", ts.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["platform"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body) // ends with the context's deadline
	events, _ := apitest.ParseEvents(raw)
	return events
}
