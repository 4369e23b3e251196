package enginetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/plan"
	"github.com/cats-analytics/cats-analytics/standin"
)

const (
	envStack          = "prod"
	municipalityStack = "131016-prod" // 千代田区 in prod: shared tenancy, references prod
)

// TestMunicipalityStackLifecycle deploys 131016-prod through the real CLI and
// engine on the stand-in cloud, step by step: each step needs the state the
// previous one left, as a municipality's stack goes through them in life.
func TestMunicipalityStackLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newCloud(t)

	// A shared municipality stack reads the trail and the zone from its
	// environment stack by StackReference: deploy the real prod first.
	prod := c.stack(t, envStack)
	prodUp, err := prod.Up(ctx, optup.SuppressProgress())
	if err != nil {
		t.Fatalf("up %s (the environment stack 131016-prod references): %v\n%s", envStack, err, prodUp.StdErr)
	}
	// Never mistaken for the real thing: the CLI's own output says who
	// served the deployment.
	if !strings.Contains(prodUp.StdOut, "standin: the stand-in AWS provider") || !strings.Contains(prodUp.StdOut, "nothing is created in AWS") {
		t.Errorf("the CLI's output of an up on the stand-in must say so:\n%s", prodUp.StdOut)
	}
	prodOutputs := map[string]any{}
	for k, v := range prodUp.Outputs {
		prodOutputs[k] = v.Value
	}

	s := c.stack(t, municipalityStack)
	planned := mustPlan(t, c, prodOutputs)
	want := urnSet(planned)

	t.Run("preview lists every resource to create", func(t *testing.T) {
		log := newEventLog()
		res, err := s.Preview(ctx, optpreview.EventStreams(log.ch), optpreview.SuppressProgress())
		if err != nil {
			t.Fatalf("preview: %v\n%s", err, res.StdErr)
		}
		evs := log.all()
		creates, reads := stepURNs(evs, apitype.OpCreate), stepURNs(evs, apitype.OpRead)
		for urn, r := range want {
			switch {
			case isStackRoot(urn):
			case r.Type == "pulumi:pulumi:StackReference":
				if !reads[urn] {
					t.Errorf("the preview does not read the stack reference %s", urn)
				}
			case !creates[urn]:
				t.Errorf("the preview does not create %s, which the offline plan lists", urn)
			}
		}
		for urn := range creates {
			if _, planned := want[urn]; !planned && !engineOnly(urn) {
				t.Errorf("the preview creates %s, which the offline plan does not list", urn)
			}
		}
	})

	failing := findPlanned(t, planned, "aws:dynamodb/table:Table", "")
	t.Run("a failure knob fails the up naming the resource and keeps what was created", func(t *testing.T) {
		if err := standin.WriteFailures(c.dir, []standin.Failure{{Operation: standin.OpCreate, URN: failing.URN,
			Message: "ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput"}}); err != nil {
			t.Fatal(err)
		}
		log := newEventLog()
		_, err := s.Up(ctx, optup.EventStreams(log.ch), optup.SuppressProgress())
		if err == nil {
			t.Fatalf("the up must fail on the injected failure of %s; it succeeded", failing.URN)
		}
		wantText := fmt.Sprintf("standin: injected failure creating %s %q", failing.Type, failing.Name)
		if !strings.Contains(err.Error(), wantText) {
			t.Errorf("the up's error must name the failed resource (%s):\n%v", wantText, err)
		}
		if !hasDiagnostic(log.all(), failing.URN, "injected failure") {
			t.Errorf("no engine event carries the failure with the URN %s", failing.URN)
		}
		st := state(t, s)
		inState := customResources(st)
		if _, ok := inState[failing.URN]; ok {
			t.Errorf("%s failed to create but is in the state", failing.URN)
		}
		if len(inState) == 0 {
			t.Fatalf("the state must keep what the failed up created; it holds no resource")
		}
		// The stand-in holds exactly what the state says was created: no
		// resource leaked out of the state, none is missing from the cloud.
		assertCloudMatchesState(t, c, inState)
		t.Logf("after the failed up the state holds %d of %d resources", len(inState), len(want))
	})
	if err := standin.WriteFailures(c.dir, nil); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}

	t.Run("up creates what the offline plan lists", func(t *testing.T) {
		res, err := s.Up(ctx, optup.SuppressProgress())
		if err != nil {
			t.Fatalf("up: %v\n%s", err, res.StdErr)
		}
		st := state(t, s)
		got := map[string]apitype.ResourceV3{}
		for _, r := range st.Resources {
			got[string(r.URN)] = r
		}
		for urn, p := range want {
			r, ok := got[urn]
			switch {
			case !ok:
				t.Errorf("the offline plan lists %s; the state does not hold it", urn)
			case p.Custom && !strings.HasPrefix(p.Type, "pulumi:") && string(r.ID) != p.ID:
				// One source for both: the ids the plan's mocks answer are the
				// ids the stand-in gives.
				t.Errorf("%s: the state's id %q is not the plan's %q", urn, r.ID, p.ID)
			}
		}
		for urn := range got {
			if _, planned := want[urn]; !planned && !engineOnly(urn) {
				t.Errorf("the state holds %s, which the offline plan does not list", urn)
			}
		}
		assertCloudMatchesState(t, c, customResources(st))
		assertAWSXVpc(t, st, c.stackConfig(t, municipalityStack))
	})
	if t.Failed() {
		return
	}

	t.Run("a second up changes nothing", func(t *testing.T) {
		res, err := s.Up(ctx, optup.SuppressProgress())
		if err != nil {
			t.Fatalf("up: %v\n%s", err, res.StdErr)
		}
		for op, n := range *res.Summary.ResourceChanges {
			if op != string(apitype.OpSame) && n > 0 {
				t.Errorf("a second up with nothing changed must change nothing; it did %d %s: %v", n, op, *res.Summary.ResourceChanges)
			}
		}
	})

	drifted := findPlanned(t, planned, "aws:cloudwatch/logGroup:LogGroup", "flow-logs")
	t.Run("drift is reported by refresh and the following preview", func(t *testing.T) {
		if err := standin.WriteDrift(c.dir, map[string]any{drifted.URN: map[string]any{"retentionInDays": 1}}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := standin.WriteDrift(c.dir, nil); err != nil {
				t.Error(err)
			}
		}()
		log := newEventLog()
		ref, err := s.Refresh(ctx, optrefresh.EventStreams(log.ch), optrefresh.SuppressProgress())
		if err != nil {
			t.Fatalf("refresh: %v\n%s", err, ref.StdErr)
		}
		// A refresh's steps are "refresh"; the outcome is in the outputs event.
		refreshed := outcomeDiffs(log.all(), apitype.OpUpdate)
		if n := (*ref.Summary.ResourceChanges)[string(apitype.OpUpdate)]; n != 1 || !slices.Contains(refreshed[drifted.URN], "retentionInDays") {
			t.Errorf("refresh must report the drifted retentionInDays of the log group %s as the one update; got %v (%v)",
				drifted.URN, refreshed, *ref.Summary.ResourceChanges)
		}
		log = newEventLog()
		pre, err := s.Preview(ctx, optpreview.EventStreams(log.ch), optpreview.SuppressProgress())
		if err != nil {
			t.Fatalf("preview: %v\n%s", err, pre.StdErr)
		}
		updates := stepDiffs(log.all(), apitype.OpUpdate)
		if len(updates) != 1 || !slices.Contains(updates[drifted.URN], "retentionInDays") {
			t.Errorf("the preview after the refresh must update only %s's retentionInDays back to the program's; got %v (%v)",
				drifted.URN, updates, pre.ChangeSummary)
		}
	})

	t.Run("destroy leaves no resource", func(t *testing.T) {
		retained := map[string]bool{}
		for _, r := range state(t, s).Resources {
			if r.RetainOnDelete {
				retained[string(r.URN)] = true
			}
		}
		res, err := s.Destroy(ctx, optdestroy.SuppressProgress())
		if err != nil {
			t.Fatalf("destroy: %v\n%s", err, res.StdErr)
		}
		if left := state(t, s).Resources; len(left) != 0 {
			t.Errorf("the state must be empty after destroy; it holds %d resources", len(left))
		}
		// Prod data is retained on delete (DESIGN.md, data lake and
		// database): the engine leaves those in the cloud, and nothing else.
		for urn := range c.objects(t, municipalityStack) {
			if !retained[urn] {
				t.Errorf("the stand-in still holds %s after destroy", urn)
			}
		}
		if len(c.objects(t, municipalityStack)) != len(retained) {
			t.Errorf("the resources retained on delete (%d) must stay in the cloud; it holds %d", len(retained), len(c.objects(t, municipalityStack)))
		}
	})
}

// mustPlan is the offline plan of the municipality stack, with the outputs
// its environment stack really has.
func mustPlan(t *testing.T, c *cloud, envOutputs map[string]any) *plan.Result {
	t.Helper()
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{
		Stack:        municipalityStack,
		Config:       c.stackConfig(t, municipalityStack),
		StackOutputs: map[string]map[string]any{"organization/cats-analytics/" + envStack: envOutputs},
	})
	if err != nil {
		t.Fatalf("plan %s: %v", municipalityStack, err)
	}
	return res
}

func urnSet(res *plan.Result) map[string]plan.Resource {
	out := map[string]plan.Resource{}
	for _, r := range res.Resources {
		out[r.URN] = r
	}
	return out
}

func isStackRoot(urn string) bool {
	return resource.URN(urn).QualifiedType() == resource.RootStackType
}

// stepURNs are the resources a step of the given kind was planned for.
func stepURNs(evs []events.EngineEvent, op apitype.OpType) map[string]bool {
	out := map[string]bool{}
	for _, e := range evs {
		if e.ResourcePreEvent != nil && e.ResourcePreEvent.Metadata.Op == op {
			out[e.ResourcePreEvent.Metadata.URN] = true
		}
	}
	return out
}

// findPlanned is the planned resource of a type whose name contains a text.
func findPlanned(t *testing.T, res *plan.Result, typ, nameContains string) plan.Resource {
	t.Helper()
	for _, r := range res.Resources {
		if r.Type == typ && strings.Contains(r.Name, nameContains) {
			return r
		}
	}
	t.Fatalf("the plan of %s has no %s named like %q", res.Stack, typ, nameContains)
	return plan.Resource{}
}

// engineOnly: resources a real deployment has and the offline plan does not
// list, because its mocks never run the code that registers them: the awsx
// VPC's children and awsx's default provider (the awsx plugin registers
// them), and the engine's built-in provider that reads stack references.
func engineOnly(urn string) bool {
	u := resource.URN(urn)
	return isAWSXChild(u) || u.Type() == "pulumi:providers:awsx" || u.Type() == "pulumi:providers:pulumi"
}

// isAWSXChild: a resource under the awsx VPC component.
func isAWSXChild(u resource.URN) bool {
	return strings.Contains(string(u.QualifiedType()), awsmodel.AWSXVpcType+"$")
}

// stepDiffs are the changed properties of the steps of the given kind, by URN.
func stepDiffs(evs []events.EngineEvent, op apitype.OpType) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		if e.ResourcePreEvent != nil && e.ResourcePreEvent.Metadata.Op == op {
			out[e.ResourcePreEvent.Metadata.URN] = e.ResourcePreEvent.Metadata.Diffs
		}
	}
	return out
}

// outcomeDiffs are the changed properties of the resources whose step
// ended as the given kind, by URN.
func outcomeDiffs(evs []events.EngineEvent, op apitype.OpType) map[string][]string {
	out := map[string][]string{}
	for _, e := range evs {
		if e.ResOutputsEvent != nil && e.ResOutputsEvent.Metadata.Op == op {
			out[e.ResOutputsEvent.Metadata.URN] = e.ResOutputsEvent.Metadata.Diffs
		}
	}
	return out
}

// hasDiagnostic: an engine event reports a text about the resource.
func hasDiagnostic(evs []events.EngineEvent, urn, text string) bool {
	for _, e := range evs {
		if d := e.DiagnosticEvent; d != nil && d.URN == urn && strings.Contains(d.Message, text) {
			return true
		}
	}
	return false
}

// customResources are the resources of a state the cloud holds: neither
// providers, components nor reads (stack references).
func customResources(d apitype.DeploymentV3) map[string]apitype.ResourceV3 {
	out := map[string]apitype.ResourceV3{}
	for _, r := range d.Resources {
		if r.Custom && !r.External && !strings.HasPrefix(string(r.Type), "pulumi:") {
			out[string(r.URN)] = r
		}
	}
	return out
}

// assertCloudMatchesState: the stand-in holds exactly the resources of the
// state, with the same ids.
func assertCloudMatchesState(t *testing.T, c *cloud, inState map[string]apitype.ResourceV3) {
	t.Helper()
	objects := c.objects(t, municipalityStack)
	for urn, r := range inState {
		o, ok := objects[urn]
		switch {
		case !ok:
			t.Errorf("the state holds %s; the stand-in does not", urn)
		case o.ID != string(r.ID):
			t.Errorf("%s: the state's id %q is not the stand-in's %q", urn, r.ID, o.ID)
		}
	}
	for urn := range objects {
		if _, ok := inState[urn]; !ok {
			t.Errorf("the stand-in holds %s; the state does not (a leaked resource)", urn)
		}
	}
}
