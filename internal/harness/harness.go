// Package harness runs Pulumi programs against recording mocks: every
// registration (type, name, parent, provider, inputs) is kept behind a mutex so
// tests can assert on the whole resource graph after the run, and Await reads an
// output on the test goroutine without hand-counted WaitGroups.
package harness

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/plan"
)

// Project is the project name the harness runs programs under.
const Project = "cats-analytics"

// AccountID is the account the mocks answer for (the offline plan's).
const AccountID = plan.AccountID

// Resource is one registration seen by the mocks.
type Resource struct {
	URN      string
	Type     string
	Name     string
	Parent   string // URN of the parent, empty for the stack itself
	Provider string // provider reference (urn::id), empty for the default provider
	Custom   bool
	ID       string
	Inputs   resource.PropertyMap
	Outputs  resource.PropertyMap
	// RetainOnDelete is the resource option: the engine leaves the resource
	// in the cloud when the stack is destroyed.
	RetainOnDelete bool
}

// Input returns an input by its (camelCase) property name, or a null value.
func (r Resource) Input(name string) resource.PropertyValue {
	return r.Inputs[resource.PropertyKey(name)]
}

// Str returns a string input, "" when absent.
func (r Resource) Str(name string) string {
	v := r.Input(name)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// Mocks records every resource and answers the invokes the program makes.
type Mocks struct {
	Stack string
	// StackOutputs are the outputs of stacks the program references, by stack name.
	StackOutputs map[string]map[string]any

	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// NewResource records a registration and returns plausible outputs: the inputs,
// an id, an ARN and a name, plus type-specific outputs the program reads.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, outputs := plan.ResourceOutputs(args.TypeToken, args.Name, "ap-northeast-1", args.Custom, args.Inputs)
	if args.TypeToken == "pulumi:pulumi:StackReference" {
		name := args.Inputs["name"].StringValue()
		stackOutputs, ok := m.StackOutputs[name]
		if !ok {
			return "", nil, fmt.Errorf("mock: no outputs for referenced stack %q", name)
		}
		outputs["outputs"] = resource.NewPropertyValue(stackOutputs)
		id = name
	}

	r := Resource{
		Type:     args.TypeToken,
		Name:     args.Name,
		Provider: args.Provider,
		Custom:   args.Custom,
		ID:       id,
		Inputs:   args.Inputs,
		Outputs:  outputs,
		// The getter is nil-safe: reads (stack references) are never retained.
		RetainOnDelete: args.RegisterRPC.GetRetainOnDelete(),
	}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
	} else if rpc := args.ReadRPC; rpc != nil { // stack references are reads
		r.Parent = rpc.GetParent()
	}
	r.URN = m.urn(r)
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, outputs, nil
}

// Call answers the provider functions the program invokes.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return plan.CallResult(args.Token, "ap-northeast-1", args.Args)
}

// urn rebuilds the URN the engine would give the resource, from its parent's URN.
func (m *Mocks) urn(r Resource) string {
	if r.Type == "pulumi:pulumi:Stack" {
		return fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", m.Stack, Project, r.Type, r.Name)
	}
	qualified := r.Type
	if r.Parent != "" {
		if parent := parseURN(r.Parent); parent.qualifiedType != "pulumi:pulumi:Stack" {
			qualified = parent.qualifiedType + "$" + r.Type
		}
	}
	return fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", m.Stack, Project, qualified, r.Name)
}

type urnParts struct{ qualifiedType, name string }

func parseURN(urn string) urnParts {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return urnParts{}
	}
	return urnParts{qualifiedType: parts[2], name: parts[3]}
}

// Recording is what a finished program registered.
type Recording struct {
	Resources []Resource
	byURN     map[string]int
}

// Resources returns a snapshot of the registrations so far, ordered by URN.
func (m *Mocks) Recording() *Recording {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := &Recording{Resources: append([]Resource(nil), m.resources...), byURN: map[string]int{}}
	sort.Slice(rec.Resources, func(i, j int) bool { return rec.Resources[i].URN < rec.Resources[j].URN })
	for i, r := range rec.Resources {
		rec.byURN[r.URN] = i
	}
	return rec
}

// ByType returns the resources of one type token.
func (rec *Recording) ByType(token string) []Resource {
	var out []Resource
	for _, r := range rec.Resources {
		if r.Type == token {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource of a type and logical name.
func (rec *Recording) Find(token, name string) (Resource, bool) {
	for _, r := range rec.Resources {
		if r.Type == token && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// One returns the only resource of a type, failing the test otherwise.
func (rec *Recording) One(t testing.TB, token string) Resource {
	t.Helper()
	rs := rec.ByType(token)
	if len(rs) != 1 {
		t.Fatalf("want exactly one %s, got %d: %v", token, len(rs), names(rs))
	}
	return rs[0]
}

// Parent returns the parent of a resource.
func (rec *Recording) Parent(r Resource) (Resource, bool) {
	i, ok := rec.byURN[r.Parent]
	if !ok {
		return Resource{}, false
	}
	return rec.Resources[i], true
}

// Ancestor returns the nearest ancestor of a resource whose type starts with prefix.
func (rec *Recording) Ancestor(r Resource, prefix string) (Resource, bool) {
	for p, ok := rec.Parent(r); ok; p, ok = rec.Parent(p) {
		if strings.HasPrefix(p.Type, prefix) {
			return p, true
		}
	}
	return Resource{}, false
}

func names(rs []Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// Option adjusts a run.
type Option func(*runOptions)

type runOptions struct {
	stackOutputs map[string]map[string]any
}

// WithStackOutputs sets the outputs of a stack the program references.
func WithStackOutputs(stack string, outputs map[string]any) Option {
	return func(o *runOptions) {
		if o.stackOutputs == nil {
			o.stackOutputs = map[string]map[string]any{}
		}
		o.stackOutputs[stack] = outputs
	}
}

// Run runs a program for a stack with config (full keys, e.g. "cats:vpcCidr")
// against fresh recording mocks and returns what it registered and its error.
func Run(stack string, config map[string]string, program pulumi.RunFunc, opts ...Option) (*Recording, error) {
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	mocks := &Mocks{Stack: stack, StackOutputs: o.stackOutputs}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(Project, stack, mocks),
		func(info *pulumi.RunInfo) { info.Config = config })
	return mocks.Recording(), err
}

// MustRun is Run for programs that must succeed.
func MustRun(t testing.TB, stack string, config map[string]string, program pulumi.RunFunc, opts ...Option) *Recording {
	t.Helper()
	rec, err := Run(stack, config, program, opts...)
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
