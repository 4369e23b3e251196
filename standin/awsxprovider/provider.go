// Package awsxprovider is the stand-in pulumi-resource-awsx: it constructs
// the awsx components the program uses by registering, through the engine,
// the aws resources the real awsx registers (which the stand-in aws plugin
// then creates).
package awsxprovider

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/standin"
)

// Name is the package the plugin serves.
const Name = "awsx"

// Provider is the stand-in awsx provider.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host *provider.HostClient
}

var _ pulumirpc.ResourceProviderServer = (*Provider)(nil)

// New returns the provider; host is the engine.
func New(host *provider.HostClient) *Provider {
	return &Provider{host: host}
}

// GetPluginInfo reports the version the program's SDK asks for.
func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: standin.AWSXVersion}, nil
}

// Handshake: a component provider takes secrets, resources and output
// values, so the component's inputs keep their dependencies.
func (p *Provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true, AcceptOutputs: true}, nil
}

// GetSchema answers a minimal valid schema (the program's SDK is generated already).
func (p *Provider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if v := req.GetVersion(); v != 0 {
		return nil, standin.Errorf("schema version %d is not supported", v)
	}
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, Name, standin.AWSXVersion)}, nil
}

// CheckConfig: awsx has no settings of its own.
func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig: nothing to change.
func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{}, nil
}

// Configure says, once per provider, that this is the stand-in.
func (p *Provider) Configure(ctx context.Context, _ *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	if p.host != nil {
		_ = p.host.Log(ctx, diag.Info, "", standin.Prefix+"the stand-in awsx provider serves this deployment: its components register stand-in AWS resources; nothing is created in AWS")
	}
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true, AcceptOutputs: true}, nil
}

// Construct builds a component through the engine.
func (p *Provider) Construct(ctx context.Context, req *pulumirpc.ConstructRequest) (*pulumirpc.ConstructResponse, error) {
	if p.host == nil {
		return nil, standin.Errorf("construct %s: no engine to register its children with", req.GetType())
	}
	return provider.Construct(ctx, req, p.host.EngineConn(), construct)
}

func construct(ctx *pulumi.Context, typ, name string, inputs provider.ConstructInputs, opts pulumi.ResourceOption) (*provider.ConstructResult, error) {
	switch typ {
	case awsmodel.AWSXVpcType:
		vpc, err := newVpc(ctx, name, inputs, opts)
		if err != nil {
			return nil, err
		}
		return provider.NewConstructResult(vpc)
	}
	return nil, standin.Errorf("the stand-in awsx provider models awsx:ec2:Vpc only, not %s", typ)
}

// Invoke: the program calls no awsx function.
func (p *Provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, standin.Errorf("the stand-in awsx provider does not model the function %s", req.GetTok())
}

// Check: awsx has no custom resource the program uses.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return nil, standin.Errorf("the stand-in awsx provider does not model the resource %s", req.GetType())
}

// Cancel: construction is the engine's to cancel.
func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
