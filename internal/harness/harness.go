// Package harness runs Pulumi programs in tests against the offline plan's
// recording mock (plan.Monitor: one recorder, one URN builder, the same
// outputs the plan answers), and gives tests the graph it recorded and an
// await helper for outputs, so assertions run in order on the test goroutine
// without hand-counted WaitGroups.
package harness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/plan"
)

// Recording is what a finished program registered, ordered by URN.
type Recording struct {
	Resources []plan.Resource
	byURN     map[string]int
}

func newRecording(m *plan.Monitor) *Recording {
	rec := &Recording{Resources: m.Resources(), byURN: map[string]int{}}
	slices.SortFunc(rec.Resources, func(a, b plan.Resource) int { return strings.Compare(a.URN, b.URN) })
	for i, r := range rec.Resources {
		rec.byURN[r.URN] = i
	}
	return rec
}

// ByType returns the resources of one type token.
func (rec *Recording) ByType(token string) []plan.Resource {
	var out []plan.Resource
	for _, r := range rec.Resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource of a type and logical name.
func (rec *Recording) Find(token, name string) (plan.Resource, bool) {
	for _, r := range rec.Resources {
		if r.Type == token && r.Name == name {
			return r, true
		}
	}
	return plan.Resource{}, false
}

// One returns the only resource of a type, failing the test otherwise.
func (rec *Recording) One(t testing.TB, token string) plan.Resource {
	t.Helper()
	rs := rec.ByType(token)
	if len(rs) != 1 {
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		t.Fatalf("want exactly one %s, got %d: %v", token, len(rs), names)
	}
	return rs[0]
}

// Parent returns the parent of a resource (none for the stack's children:
// the root stack is not a registration).
func (rec *Recording) Parent(r plan.Resource) (plan.Resource, bool) {
	i, ok := rec.byURN[r.Parent]
	if !ok {
		return plan.Resource{}, false
	}
	return rec.Resources[i], true
}

// Ancestor returns the nearest ancestor of a resource whose type starts with prefix.
func (rec *Recording) Ancestor(r plan.Resource, prefix string) (plan.Resource, bool) {
	for p, ok := rec.Parent(r); ok; p, ok = rec.Parent(p) {
		if strings.HasPrefix(p.Type, prefix) {
			return p, true
		}
	}
	return plan.Resource{}, false
}

// Run runs a program for a stack with config (full keys, e.g. "cats:vpcCidr")
// against a fresh plan.Monitor and returns what it registered and its error.
// The environment stacks dev and prod a shared municipality stack references
// answer with plan.EnvironmentOutputs.
func Run(stack string, cfg map[string]string, program pulumi.RunFunc) (*Recording, error) {
	region := cfg[config.RegionKey]
	if region == "" {
		region = config.DefaultRegion
	}
	m := &plan.Monitor{Stack: stack, Project: config.Project, Region: region, StackOutputs: map[string]map[string]any{}}
	for _, env := range []string{config.Dev, config.Prod} {
		m.StackOutputs[EnvironmentStack(env)] = plan.EnvironmentOutputs(env, region)
	}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(config.Project, stack, m),
		func(info *pulumi.RunInfo) {
			info.Config = cfg
			info.Organization = config.DefaultOrganization
		})
	return newRecording(m), err
}

// EnvironmentStack is the fully qualified name of an environment stack in a
// self-managed backend, as shared municipality stacks reference it.
func EnvironmentStack(env string) string {
	return config.DefaultOrganization + "/" + config.Project + "/" + env
}

// MustRun is Run for programs that must succeed.
func MustRun(t testing.TB, stack string, cfg map[string]string, program pulumi.RunFunc) *Recording {
	t.Helper()
	rec, err := Run(stack, cfg, program)
	if err != nil {
		t.Fatalf("program failed on stack %s: %v", stack, err)
	}
	return rec
}

// Await waits for an output on the calling goroutine and returns its value.
// It fails the test if the output is unknown, rejected or slower than 10 s.
func Await(t testing.TB, output pulumi.Output) any {
	t.Helper()
	ch := make(chan any, 1)
	output.ApplyT(func(v any) any {
		ch <- v
		return nil
	})
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("output did not resolve within 10s (unknown or rejected)")
		return nil
	}
}

// AwaitStrings awaits several string outputs on the calling goroutine (in a
// program, before it returns) and returns their values by key.
func AwaitStrings(t testing.TB, outputs map[string]pulumi.StringOutput) map[string]string {
	t.Helper()
	values := make(map[string]string, len(outputs))
	for key, out := range outputs {
		v, ok := Await(t, out).(string)
		if !ok {
			t.Fatalf("output %s is not a string", key)
		}
		values[key] = v
	}
	return values
}
