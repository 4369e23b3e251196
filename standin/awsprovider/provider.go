// Package awsprovider is the stand-in pulumi-resource-aws: the resource
// provider protocol of the AWS provider, answered from awsmodel (the same
// outputs as the offline plan) and a stand-in directory instead of AWS.
package awsprovider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cats-analytics/cats-analytics/internal/awsmodel"
	"github.com/cats-analytics/cats-analytics/standin"
)

// Name is the package the plugin serves.
const Name = "aws"

// Provider is the stand-in AWS provider.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host  *provider.HostClient
	store *standin.Store

	mu     sync.Mutex
	region string
}

var _ pulumirpc.ResourceProviderServer = (*Provider)(nil)

// New returns the provider; host is the engine (nil in tests without one).
func New(host *provider.HostClient, store *standin.Store) *Provider {
	return &Provider{host: host, store: store}
}

// unmarshalOptions keep secrets (the plugin accepts them) and unknowns (a
// preview has them).
var unmarshalOptions = plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true, KeepResources: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	m, err := plugin.UnmarshalProperties(s, unmarshalOptions)
	if err != nil {
		return nil, standin.Errorf("decode properties: %w", err)
	}
	return m, nil
}

// unmarshalAll decodes several property structs of one request, in order.
func unmarshalAll(structs ...*structpb.Struct) ([]resource.PropertyMap, error) {
	out := make([]resource.PropertyMap, len(structs))
	for i, s := range structs {
		m, err := unmarshal(s)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	s, err := plugin.MarshalProperties(m, unmarshalOptions)
	if err != nil {
		return nil, standin.Errorf("encode properties: %w", err)
	}
	return s, nil
}

// GetPluginInfo reports the version the program's SDK asks for.
func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: standin.AWSVersion}, nil
}

// Handshake tells the engine what the plugin accepts: secrets (it keeps
// their secret-ness), but no resource references or output values.
func (p *Provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

// GetSchema answers a minimal valid schema: the program's SDK is generated
// already, so the engine needs no more than the package's name and version.
func (p *Provider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if v := req.GetVersion(); v != 0 {
		return nil, standin.Errorf("schema version %d is not supported", v)
	}
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, Name, standin.AWSVersion)}, nil
}

// CheckConfig accepts the provider's configuration; the region is required,
// as it is for the AWS provider.
func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.CheckResponse{Inputs: req.GetNews()}
	if region := news["region"]; region.IsNull() && envRegion() == "" {
		resp.Failures = []*pulumirpc.CheckFailure{{Property: "region",
			Reason: standin.Prefix + "the region is required: set aws:region in the stack's configuration"}}
	}
	return resp, nil
}

func envRegion() string {
	if r := os.Getenv("AWS_REGION"); r != "" {
		return r
	}
	return os.Getenv("AWS_DEFAULT_REGION")
}

// DiffConfig reports changed provider settings; none replaces the provider.
func (p *Provider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	m, err := unmarshalAll(req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	return diff("pulumi:providers:aws", m[0], m[1], nil, nil), nil
}

// Configure takes the region and says, once per provider, that this is the
// stand-in.
func (p *Provider) Configure(ctx context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	region := envRegion()
	if r := args["region"]; r.IsString() {
		region = r.StringValue()
	}
	if region == "" {
		return nil, standin.Errorf("the region is required: set aws:region in the stack's configuration")
	}
	p.mu.Lock()
	p.region = region
	p.mu.Unlock()
	p.log(ctx, diag.Info, "", fmt.Sprintf("%sthe stand-in AWS provider (region %s) serves this deployment: nothing is created in AWS; what it creates is kept in %s",
		standin.Prefix, region, p.store.Dir()))
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *Provider) currentRegion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.region
}

// log sends a message to the engine. It never holds a property value (one
// may be a secret). Operations are not logged: the engine reports them, and
// a message per resource would flood every deployment's event stream.
func (p *Provider) log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) {
	if p.host != nil {
		_ = p.host.Log(ctx, sev, urn, msg) // a lost log line must not fail the operation
	}
}

// Invoke answers the data sources the program reads.
func (p *Provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	result, err := awsmodel.CallResult(req.GetTok(), p.currentRegion(), args)
	if err != nil {
		return nil, standin.Errorf("%w", err)
	}
	ret, err := marshal(result)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}

// Check accepts the inputs as given: the outputs (names included) follow
// from them as in the offline plan.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// Diff compares the program's inputs with the resource's state.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	m, err := unmarshalAll(req.GetOlds(), req.GetNews(), req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	return diff(typeOf(req.GetUrn(), req.GetType()), m[0], m[1], m[2], req.GetIgnoreChanges()), nil
}

func typeOf(urn, typ string) string {
	if typ != "" {
		return typ
	}
	return string(resource.URN(urn).Type())
}

func nameOf(urn, name string) string {
	if name != "" {
		return name
	}
	return resource.URN(urn).Name()
}

// previewOutputs are the outputs of a resource not yet created: its inputs,
// and the attributes AWS computes as unknowns.
func previewOutputs(typ, name, region string, inputs resource.PropertyMap) resource.PropertyMap {
	_, computed := awsmodel.ResourceOutputs(typ, name, region, true, inputs)
	out := inputs.Copy()
	for k := range computed {
		if _, given := inputs[k]; !given {
			out[k] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	}
	return out
}

// Create makes a resource in the stand-in's directory.
func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	urn, typ, name := req.GetUrn(), typeOf(req.GetUrn(), req.GetType()), nameOf(req.GetUrn(), req.GetName())
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	region := p.currentRegion()
	if req.GetPreview() {
		props, err := marshal(previewOutputs(typ, name, region, inputs))
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}
	if err := p.store.InjectedFailure(standin.OpCreate, urn); err != nil {
		return nil, err
	}
	id, outputs := awsmodel.ResourceOutputs(typ, name, region, true, inputs)
	id, err = p.freeID(urn, typ, name, id, inputs)
	if err != nil {
		return nil, err
	}
	if err := p.store.Put(standin.Object{URN: urn, Type: typ, Name: name, ID: id, Region: region,
		Inputs: inputs, Outputs: outputs}); err != nil {
		return nil, err
	}
	props, err := marshal(outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// freeID returns the id a new resource gets. When the stand-in still holds
// one with the same URN and id (a replacement created before the old one is
// deleted, or a resource a destroy retained), a resource named in AWS
// conflicts, as in AWS; any other gets a fresh id, as AWS would give it.
func (p *Provider) freeID(urn, typ, name, id string, inputs resource.PropertyMap) (string, error) {
	_, exists, err := p.store.Get(urn, id)
	if err != nil || !exists {
		return id, err
	}
	if gone, _, err := p.store.Drift(urn, id); err != nil {
		return "", err
	} else if gone {
		// The drift knob deleted it: the cloud no longer has it.
		return id, p.store.Delete(urn, id)
	}
	if physical := inputs[resource.PropertyKey(awsmodel.PhysicalNameProperty(typ))]; physical.IsString() {
		return "", standin.Errorf("creating %s %q: %s %q already exists", typ, name, awsmodel.PhysicalNameProperty(typ), physical.StringValue())
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", standin.Errorf("creating %s %q: %w", typ, name, err)
	}
	return id + "-" + hex.EncodeToString(suffix), nil
}

// Read returns what the stand-in holds for a resource, changed by the drift
// knob; an empty id tells the engine the resource is gone.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	urn, id := req.GetUrn(), req.GetId()
	obj, ok, err := p.store.Get(urn, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &pulumirpc.ReadResponse{}, nil
	}
	gone, overrides, err := p.store.Drift(urn, id)
	if err != nil {
		return nil, err
	}
	if gone {
		return &pulumirpc.ReadResponse{}, nil
	}
	outputs := standin.ApplyDrift(obj.Outputs, overrides)
	// The drift of a property the program sets shows in the inputs too, as
	// the AWS provider reads its inputs back from the cloud.
	inputOverrides := map[string]any{}
	for k, v := range overrides {
		if _, isInput := obj.Inputs[resource.PropertyKey(k)]; isInput {
			inputOverrides[k] = v
		}
	}
	inputs := standin.ApplyDrift(obj.Inputs, inputOverrides)
	props, err := marshal(outputs)
	if err != nil {
		return nil, err
	}
	in, err := marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: id, Properties: props, Inputs: in}, nil
}

// Update changes a resource in place.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	urn, id := req.GetUrn(), req.GetId()
	typ, name := typeOf(urn, req.GetType()), nameOf(urn, req.GetName())
	m, err := unmarshalAll(req.GetOlds(), req.GetNews(), req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	olds, news, oldInputs := m[0], m[1], m[2]
	region := p.currentRegion()
	if req.GetPreview() {
		// Computed attributes keep their values; the inputs are the new ones.
		out := news.Copy()
		for k, v := range olds {
			if _, isInput := oldInputs[k]; !isInput {
				if _, given := news[k]; !given {
					out[k] = v
				}
			}
		}
		props, err := marshal(out)
		if err != nil {
			return nil, err
		}
		return &pulumirpc.UpdateResponse{Properties: props}, nil
	}
	if err := p.store.InjectedFailure(standin.OpUpdate, urn); err != nil {
		return nil, err
	}
	outputs := awsmodel.UpdatedOutputs(typ, name, region, olds, news)
	if err := p.store.Put(standin.Object{URN: urn, Type: typ, Name: name, ID: id, Region: region,
		Inputs: news, Outputs: outputs}); err != nil {
		return nil, err
	}
	props, err := marshal(outputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete removes a resource from the stand-in's directory.
func (p *Provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	urn := req.GetUrn()
	if err := p.store.InjectedFailure(standin.OpDelete, urn); err != nil {
		return nil, err
	}
	if err := p.store.Delete(urn, req.GetId()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Construct: the AWS provider has no components.
func (p *Provider) Construct(_ context.Context, req *pulumirpc.ConstructRequest) (*pulumirpc.ConstructResponse, error) {
	return nil, standin.Errorf("the AWS provider has no component %s", req.GetType())
}

// Cancel: operations are quick local file writes; nothing to abort.
func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
