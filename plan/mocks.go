package plan

import (
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
)

// AccountID is the AWS account the offline plan runs in: the AWS model's.
const AccountID = awsmodel.AccountID

// Resource is one resource of the planned graph.
type Resource struct {
	URN      string `json:"urn"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	Parent   string `json:"parent,omitempty"`
	Provider string `json:"provider,omitempty"` // provider reference urn::id; empty for the default provider
	Custom   bool   `json:"custom"`
	ID       string `json:"id,omitempty"`
	// Inputs are what the program gave; Outputs what the mocks answered (the
	// inputs plus ids, ARNs and names).
	Inputs               resource.PropertyMap `json:"-"`
	Outputs              resource.PropertyMap `json:"-"`
	Dependencies         []string             `json:"-"`
	PropertyDependencies map[string][]string  `json:"-"`
	// RetainOnDelete is the resource option: the engine leaves the resource
	// in the cloud when the stack is destroyed.
	RetainOnDelete bool `json:"-"`
	// version is the provider plugin version the SDK asked for.
	version string
}

// Monitor is the mock resource monitor the plan runs the program against:
// it records every registration and answers with plausible outputs, with no
// cloud and no credentials.
type Monitor struct {
	Stack   string
	Project string
	Region  string
	// StackOutputs are the outputs of stacks the program references, by
	// fully qualified name.
	StackOutputs map[string]map[string]any
	// Mutate, when set, changes a registration before it is recorded and
	// answered: a test breaks a resource input this way and checks that a
	// rule fires.
	Mutate func(*Resource)

	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Monitor)(nil)

// NewResource records a registration (or a read, e.g. a StackReference).
func (m *Monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type: args.TypeToken, Name: args.Name, Provider: args.Provider, Custom: args.Custom,
		Inputs: args.Inputs, PropertyDependencies: map[string][]string{},
	}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		for k, deps := range rpc.GetPropertyDependencies() {
			if urns := deps.GetUrns(); len(urns) > 0 {
				r.PropertyDependencies[k] = urns
			}
		}
		r.version = rpc.GetVersion()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
	}
	if rpc := args.ReadRPC; rpc != nil {
		r.Custom = true // a read (StackReference) is a custom resource in the state
		r.Parent = rpc.GetParent()
		r.Dependencies = rpc.GetDependencies()
		r.version = rpc.GetVersion()
	}
	if m.Mutate != nil {
		r.Inputs = r.Inputs.Copy()
		m.Mutate(&r)
	}
	r.URN = m.urn(r.Parent, r.Type, r.Name)

	id, outputs := awsmodel.ResourceOutputs(args.TypeToken, args.Name, m.Region, args.Custom, r.Inputs)
	if args.TypeToken == "pulumi:pulumi:StackReference" {
		name := r.Inputs["name"]
		if !name.IsString() {
			return "", nil, fmt.Errorf("plan: stack reference %s has no name", args.Name)
		}
		stackOutputs, ok := m.StackOutputs[name.StringValue()]
		if !ok {
			return "", nil, fmt.Errorf("plan: no outputs for referenced stack %q", name.StringValue())
		}
		outputs["outputs"] = resource.NewPropertyValue(stackOutputs)
		outputs["secretOutputNames"] = resource.NewPropertyValue([]any{})
		id = name.StringValue()
	}
	if args.Custom || args.ReadRPC != nil {
		r.ID = id // components have no id in a state file
	}
	r.Outputs = outputs

	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return id, outputs, nil
}

// Call answers the provider functions the program invokes.
func (m *Monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return awsmodel.CallResult(args.Token, m.Region, args.Args)
}

// Resources returns the registrations in the order they happened (parents
// and dependencies before the resources that use them).
func (m *Monitor) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// urn builds the URN the engine gives a resource (the same as the SDK's
// mock monitor does).
func (m *Monitor) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType, tokens.Type(typ), name))
}

// StackURN is the URN of the stack's root resource.
func (m *Monitor) StackURN() string {
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), "", resource.RootStackType,
		m.Project+"-"+m.Stack))
}
