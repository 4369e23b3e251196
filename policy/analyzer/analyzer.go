// Package analyzer serves the rules as a Pulumi analyzer plugin: the gRPC
// service the CLI starts for `--policy-pack` in `pulumi preview`, `pulumi up`
// and `pulumi policy analyze`.
//
// It replaces policyx.Main, which in sdk v3.274.1 cannot serve this pack from
// every entry point:
//   - policyx builds the pack in ConfigureStack, but `pulumi policy analyze`
//     never calls ConfigureStack (it has no stack) and asks GetAnalyzerInfo and
//     GetPluginInfo first: policyx dereferences a nil pack and the plugin
//     crashes. Here the pack exists from the start.
//     Remove when policyx answers GetPluginInfo/GetAnalyzerInfo before
//     ConfigureStack.
//   - policyx.NewPolicyPack drops its pack-level enforcement level. Every rule
//     carries its own level (rules.Rule.Level) and a level in the pack config
//     overrides it per rule. Remove nothing here.
//   - a rule that calls an accessor on an unknown property value (preview)
//     panics, and policyx lets the panic kill the plugin. The rules read values
//     through nil-safe helpers, and rules.Evaluator turns any panic into a
//     violation. Remove the recover in Evaluator.run when policyx recovers.
//
// When all three are fixed upstream, policy/main.go can call policyx.Main
// with a pack built from rules.All (policyx.NewResourceValidationPolicy and
// NewStackValidationPolicy over rules.Evaluator, one per rule) and this
// package can go.
package analyzer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/policy/rules"
)

// Server is the analyzer service.
type Server struct {
	pulumirpc.UnimplementedAnalyzerServer

	mu        sync.Mutex
	evaluator *rules.Evaluator
}

// NewServer serves the pack's rules with their default configuration.
func NewServer() *Server {
	return &Server{evaluator: rules.NewEvaluator(nil)}
}

// Serve listens on a free loopback port, writes the port on stdout (the
// plugin handshake the CLI reads) and serves until the CLI disconnects.
func Serve(printPort func(port int)) error {
	srv := NewServer()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterAnalyzerServer(s, srv)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("serve analyzer: %w", err)
	}
	printPort(handle.Port)
	if err := <-handle.Done; err != nil {
		return fmt.Errorf("analyzer stopped: %w", err)
	}
	return nil
}

func (s *Server) current() *rules.Evaluator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evaluator
}

// Handshake accepts the engine's handshake; the pack needs nothing from it.
func (s *Server) Handshake(context.Context, *pulumirpc.AnalyzerHandshakeRequest) (*pulumirpc.AnalyzerHandshakeResponse, error) {
	return &pulumirpc.AnalyzerHandshakeResponse{}, nil
}

// GetPluginInfo answers at any time, before or after ConfigureStack.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: rules.PackVersion}, nil
}

// GetAnalyzerInfo describes the pack and its policies.
func (s *Server) GetAnalyzerInfo(context.Context, *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	info := &pulumirpc.AnalyzerInfo{
		Name:           rules.PackName,
		DisplayName:    "cats-analytics security policies (AWS FSBP)",
		Version:        rules.PackVersion,
		SupportsConfig: true,
	}
	for _, r := range rules.All() {
		props := map[string]any{}
		for k, v := range r.Schema().Properties {
			props[k] = v
		}
		schema, err := structpb.NewStruct(jsonSafe(props))
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", r.Name, err)
		}
		policyType := pulumirpc.PolicyType_POLICY_TYPE_RESOURCE
		if r.Stack != nil {
			policyType = pulumirpc.PolicyType_POLICY_TYPE_STACK
		}
		info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{
			Name:             r.Name,
			DisplayName:      r.Name,
			Description:      r.FullDescription(),
			EnforcementLevel: pulumirpc.EnforcementLevel(r.Level),
			ConfigSchema:     &pulumirpc.PolicyConfigSchema{Properties: schema},
			PolicyType:       policyType,
		})
	}
	return info, nil
}

// jsonSafe round-trips a value through JSON so structpb accepts it ([]any{80}
// holds ints, which structpb rejects).
func jsonSafe(m map[string]any) map[string]any {
	raw, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return m
	}
	return out
}

// Configure receives the policy config (levels and properties per policy).
func (s *Server) Configure(_ context.Context, req *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	config := map[string]rules.PolicyConfig{}
	for name, pc := range req.GetPolicyConfig() {
		level := policyx.EnforcementLevel(pc.GetEnforcementLevel())
		config[name] = rules.PolicyConfig{EnforcementLevel: &level, Properties: pc.GetProperties().AsMap()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evaluator = &rules.Evaluator{Rules: s.evaluator.Rules, Config: config, DryRun: s.evaluator.DryRun, References: s.evaluator.References}
	return &emptypb.Empty{}, nil
}

// ConfigureStack learns whether this is a preview, and which stacks the
// stack references: the engine sends the stack's configuration here but
// never the StackReference reads themselves (rules.Evaluator.References).
func (s *Server) ConfigureStack(_ context.Context, req *pulumirpc.AnalyzerStackConfigureRequest) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	refs, stack := references(req.GetOrganization(), req.GetProject(), req.GetStack(), req.GetConfig())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evaluator = &rules.Evaluator{Rules: s.evaluator.Rules, Config: s.evaluator.Config, DryRun: req.GetDryRun(),
		References: refs, StackContext: stack}
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

// references are the stacks the program references for this stack's
// configuration, read as the program reads it (components/config): a
// shared-tenancy municipality stack references its environment stack. The
// stack context says which stack this is and whether it owns its account's
// baseline (cats:tenancy account). A configuration the program refuses
// references nothing and describes nothing: the rules then read the
// resources alone.
func references(org, project, stack string, values map[string]string) ([]string, *rules.StackContext) {
	c, err := config.Parse(org, project, stack, config.FromMap(values))
	if err != nil {
		return nil, nil
	}
	if org == "" {
		org = config.DefaultOrganization
	}
	sc := &rules.StackContext{Organization: org, Project: project, Stack: stack, Environment: c.Environment, OwnsBaseline: c.OwnsBaseline()}
	if c.OwnsBaseline() {
		return nil, sc
	}
	return []string{c.EnvironmentStack}, sc
}

// Analyze runs the resource rules on one resource.
func (s *Server) Analyze(_ context.Context, req *pulumirpc.AnalyzeRequest) (*pulumirpc.AnalyzeResponse, error) {
	res, err := convert(req.GetType(), req.GetUrn(), req.GetName(), req.GetProperties(), req.GetOptions().GetParent(), req.GetProvider())
	if err != nil {
		return nil, err
	}
	return diagnostics(s.current().Resource(res)), nil
}

// AnalyzeStack runs the stack rules on the whole stack.
func (s *Server) AnalyzeStack(_ context.Context, req *pulumirpc.AnalyzeStackRequest) (*pulumirpc.AnalyzeResponse, error) {
	resources := make([]policyx.AnalyzerResource, 0, len(req.GetResources()))
	for _, r := range req.GetResources() {
		res, err := convert(r.GetType(), r.GetUrn(), r.GetName(), r.GetProperties(), r.GetParent(), r.GetProvider())
		if err != nil {
			return nil, err
		}
		res.Dependencies = r.GetDependencies()
		res.PropertyDependencies = map[string][]string{}
		for k, deps := range r.GetPropertyDependencies() {
			if urns := deps.GetUrns(); len(urns) > 0 {
				res.PropertyDependencies[k] = urns
			}
		}
		resources = append(resources, res)
	}
	return diagnostics(s.current().Stack(resources)), nil
}

// Remediate has nothing to remediate: the pack only validates.
func (s *Server) Remediate(context.Context, *pulumirpc.AnalyzeRequest) (*pulumirpc.RemediateResponse, error) {
	return &pulumirpc.RemediateResponse{}, nil
}

// Cancel has nothing to stop: every call is short and synchronous.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func convert(typ, urn, name string, props *structpb.Struct, parent string, provider *pulumirpc.AnalyzerProviderResource) (policyx.AnalyzerResource, error) {
	opts := plugin.MarshalOptions{
		Label: "cats-analytics.analyze", KeepUnknowns: true, KeepSecrets: true, KeepResources: true, KeepOutputValues: true,
	}
	pm, err := plugin.UnmarshalProperties(props, opts)
	if err != nil {
		return policyx.AnalyzerResource{}, fmt.Errorf("read properties of %s: %w", urn, err)
	}
	res := policyx.AnalyzerResource{
		Type: typ, URN: urn, Name: name, Parent: parent,
		Properties: resource.FromResourcePropertyMap(pm),
	}
	if provider != nil {
		pp, err := plugin.UnmarshalProperties(provider.GetProperties(), opts)
		if err != nil {
			return policyx.AnalyzerResource{}, fmt.Errorf("read provider of %s: %w", urn, err)
		}
		res.Provider = policyx.AnalyzerProviderResource{
			Type: provider.GetType(), URN: provider.GetUrn(), Name: provider.GetName(),
			Properties: resource.FromResourcePropertyMap(pp),
		}
	}
	return res, nil
}

func diagnostics(vs []rules.Violation) *pulumirpc.AnalyzeResponse {
	resp := &pulumirpc.AnalyzeResponse{}
	for _, v := range vs {
		resp.Diagnostics = append(resp.Diagnostics, &pulumirpc.AnalyzeDiagnostic{
			PolicyName:        v.Policy,
			PolicyPackName:    rules.PackName,
			PolicyPackVersion: rules.PackVersion,
			Description:       v.Description,
			Message:           v.Description + "\n" + v.Message,
			EnforcementLevel:  pulumirpc.EnforcementLevel(v.EnforcementLevel),
			Urn:               v.URN,
		})
	}
	return resp
}
