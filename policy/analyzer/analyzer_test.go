package analyzer

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cats-analytics/cats-analytics/policy/rules"
)

func props(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const keyURN = "urn:pulumi:dev::cats-analytics::aws:kms/key:Key::k"

// TestInfoBeforeConfigureStack is the `pulumi policy analyze` sequence:
// no ConfigureStack at all, GetPluginInfo and GetAnalyzerInfo first.
func TestInfoBeforeConfigureStack(t *testing.T) {
	srv, ctx := NewServer(), context.Background()
	if _, err := srv.Handshake(ctx, &pulumirpc.AnalyzerHandshakeRequest{}); err != nil {
		t.Fatal(err)
	}
	pi, err := srv.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil || pi.GetVersion() != rules.PackVersion {
		t.Fatalf("GetPluginInfo before ConfigureStack: %v %v", pi, err)
	}
	info, err := srv.GetAnalyzerInfo(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != rules.PackName || len(info.GetPolicies()) != len(rules.All()) || !info.GetSupportsConfig() {
		t.Fatalf("analyzer info: %v", info)
	}
	for _, p := range info.GetPolicies() {
		r, _ := rules.ByName(p.GetName())
		if p.GetEnforcementLevel() != pulumirpc.EnforcementLevel(r.Level) {
			t.Errorf("%s: the CLI must see the rule's own level %s, got %s (policyx ignores the pack level)", r.Name, rules.LevelName(r.Level), p.GetEnforcementLevel())
		}
		if p.GetConfigSchema().GetProperties().GetFields()["exemptResources"] == nil {
			t.Errorf("%s: schema lacks exemptResources", r.Name)
		}
	}
	resp, err := srv.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: "aws:kms/key:Key", Urn: keyURN, Name: "k",
		Properties: props(t, resource.PropertyMap{"enableKeyRotation": resource.NewBoolProperty(false)})})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDiagnostics()) != 1 || resp.GetDiagnostics()[0].GetEnforcementLevel() != pulumirpc.EnforcementLevel_MANDATORY {
		t.Fatalf("without ConfigureStack the pack must still analyse: %v", resp.GetDiagnostics())
	}
}

func TestUnknownValues(t *testing.T) {
	ctx := context.Background()
	computed := resource.PropertyMap{"enableKeyRotation": resource.MakeComputed(resource.NewStringProperty(""))}
	for _, tc := range []struct {
		dryRun bool
		want   pulumirpc.EnforcementLevel
	}{{true, pulumirpc.EnforcementLevel_ADVISORY}, {false, pulumirpc.EnforcementLevel_MANDATORY}} {
		srv := NewServer()
		if _, err := srv.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: "dev", DryRun: tc.dryRun}); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: "aws:kms/key:Key", Urn: keyURN, Name: "k", Properties: props(t, computed)})
		if err != nil {
			t.Fatalf("an unknown value must not break the analyzer: %v", err)
		}
		d := resp.GetDiagnostics()
		if len(d) != 1 || d[0].GetEnforcementLevel() != tc.want {
			t.Errorf("dryRun=%v: an unknown rotation flag must be reported at %s, got %v", tc.dryRun, tc.want, d)
		}
	}
}

func TestConfigureOverridesLevelAndProperties(t *testing.T) {
	ctx, srv := context.Background(), NewServer()
	cfg, err := structpb.NewStruct(map[string]any{"minimumRetentionDays": 365})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Configure(ctx, &pulumirpc.ConfigureAnalyzerRequest{PolicyConfig: map[string]*pulumirpc.PolicyConfig{
		"log-group-retention": {EnforcementLevel: pulumirpc.EnforcementLevel_MANDATORY, Properties: cfg},
		"kms-key-rotation":    {EnforcementLevel: pulumirpc.EnforcementLevel_DISABLED},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: "aws:cloudwatch/logGroup:LogGroup", Urn: "urn:pulumi:dev::p::aws:cloudwatch/logGroup:LogGroup::lg", Name: "lg",
		Properties: props(t, resource.PropertyMap{"retentionInDays": resource.NewNumberProperty(30), "kmsKeyId": resource.NewStringProperty("k")})})
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetDiagnostics(); len(d) != 1 || d[0].GetPolicyName() != "log-group-retention" || d[0].GetEnforcementLevel() != pulumirpc.EnforcementLevel_MANDATORY {
		t.Fatalf("configured minimum and level must apply: %v", d)
	}
	resp, _ = srv.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: "aws:kms/key:Key", Urn: keyURN, Name: "k", Properties: props(t, resource.PropertyMap{})})
	if len(resp.GetDiagnostics()) != 0 {
		t.Fatalf("a disabled rule must stay silent: %v", resp.GetDiagnostics())
	}
}

func TestAnalyzeStackLinksByPropertyDependencies(t *testing.T) {
	ctx, srv := context.Background(), NewServer()
	bucketURN := "urn:pulumi:dev::cats-analytics::aws:s3/bucketV2:BucketV2::b"
	unknownBucket := resource.PropertyMap{"bucket": resource.MakeComputed(resource.NewStringProperty(""))}
	sse := unknownBucket.Copy()
	sse["rules"] = resource.NewPropertyValue([]any{map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}})
	req := &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
		{Type: "pulumi:pulumi:Stack", Urn: "urn:pulumi:dev::cats-analytics::pulumi:pulumi:Stack::cats-analytics-dev", Name: "cats-analytics-dev", Properties: props(t, resource.PropertyMap{})},
		{Type: "aws:s3/bucketV2:BucketV2", Urn: bucketURN, Name: "b", Properties: props(t, unknownBucket)},
		{Type: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", Urn: "urn:pulumi:dev::cats-analytics::aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2::b-sse",
			Name: "b-sse", Properties: props(t, sse),
			PropertyDependencies: map[string]*pulumirpc.AnalyzerPropertyDependencies{"bucket": {Urns: []string{bucketURN}}}},
	}}
	resp, err := srv.AnalyzeStack(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.GetDiagnostics() {
		if d.GetPolicyName() == "s3-bucket-encryption" {
			t.Errorf("a preview's unknown bucket id is linked through propertyDependencies; got %v", d)
		}
	}
}

// TestTheEnvironmentReferenceComesFromTheStacksConfig is what the engine
// sends a shared municipality stack's pack (pulumi v3.274.1): its
// configuration in ConfigureStack, and an AnalyzeStack without the
// StackReference read (the engine passes only the resources it manages).
// The trail the stack uses is its environment stack's, which its
// configuration names, so cloudtrail-enabled holds; a stack that owns its
// baseline (tenancy account, an environment stack) must still have a trail.
func TestTheEnvironmentReferenceComesFromTheStacksConfig(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		stack     string
		config    map[string]string
		wantTrail bool
	}{
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1"}, false},
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1", "cats:environmentStack": "organization/cats-analytics/prod"}, false},
		// Only this project's environment stack of the same environment
		// counts: another organization's, the other environment's, or a
		// staging stack does not.
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1", "cats:environmentStack": "acme/cats-analytics/prod"}, true},
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1", "cats:environmentStack": "organization/cats-analytics/dev"}, true},
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1", "cats:environmentStack": "organization/cats-analytics/staging"}, true},
		{"131016-dev", map[string]string{"aws:region": "ap-northeast-1"}, false},
		{"131016-prod", map[string]string{"aws:region": "ap-northeast-1", "cats:tenancy": "account"}, true},
		{"prod", map[string]string{"aws:region": "ap-northeast-1"}, true},
	} {
		srv := NewServer()
		if _, err := srv.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: tt.stack, Project: "cats-analytics",
			Organization: "organization", Config: tt.config}); err != nil {
			t.Fatal(err)
		}
		stackURN := "urn:pulumi:" + tt.stack + "::cats-analytics::pulumi:pulumi:Stack::cats-analytics-" + tt.stack
		resp, err := srv.AnalyzeStack(ctx, &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
			{Type: "pulumi:pulumi:Stack", Urn: stackURN, Name: "cats-analytics-" + tt.stack, Properties: props(t, resource.PropertyMap{})},
		}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range resp.GetDiagnostics() {
			found = found || d.GetPolicyName() == "cloudtrail-enabled"
		}
		if found != tt.wantTrail {
			t.Errorf("%s with %v: cloudtrail-enabled reported %v, want %v (FSBP CloudTrail.1: a shared municipality uses its environment's trail, a stack that owns its baseline needs its own)",
				tt.stack, tt.config, found, tt.wantTrail)
		}
	}
}

// TestTheStacksConfigDescribesTheStack: ConfigureStack tells the rules which
// stack they judge. A cats:tenancy account municipality owns its account's
// baseline, so it needs the account-level public access block, which a
// shared municipality leaves to its environment stack; a prod municipality
// keeps logs at the prod minimum.
func TestTheStacksConfigDescribesTheStack(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		config  map[string]string
		wantPAB bool
	}{
		{map[string]string{"aws:region": "ap-northeast-1"}, false},
		{map[string]string{"aws:region": "ap-northeast-1", "cats:tenancy": "account"}, true},
	} {
		srv := NewServer()
		if _, err := srv.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: "131016-prod", Project: "cats-analytics",
			Organization: "organization", Config: tt.config}); err != nil {
			t.Fatal(err)
		}
		stackURN := "urn:pulumi:131016-prod::cats-analytics::pulumi:pulumi:Stack::cats-analytics-131016-prod"
		resp, err := srv.AnalyzeStack(ctx, &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{
			{Type: "pulumi:pulumi:Stack", Urn: stackURN, Name: "cats-analytics-131016-prod", Properties: props(t, resource.PropertyMap{})},
		}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, d := range resp.GetDiagnostics() {
			found = found || d.GetPolicyName() == "s3-account-public-access-block"
		}
		if found != tt.wantPAB {
			t.Errorf("%v: s3-account-public-access-block reported %v, want %v (FSBP S3.1 belongs to the stack that owns the account)", tt.config, found, tt.wantPAB)
		}
	}
	// The log group's URN names a stack the retention rule could not place;
	// the configuration says it is prod.
	srv := NewServer()
	if _, err := srv.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: "131016-prod", Project: "cats-analytics", Organization: "organization",
		Config: map[string]string{"aws:region": "ap-northeast-1"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Analyze(ctx, &pulumirpc.AnalyzeRequest{Type: "aws:cloudwatch/logGroup:LogGroup", Urn: "urn:pulumi:x::cats-analytics::aws:cloudwatch/logGroup:LogGroup::lg", Name: "lg",
		Properties: props(t, resource.PropertyMap{"retentionInDays": resource.NewNumberProperty(30), "kmsKeyId": resource.NewStringProperty("k")})})
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetDiagnostics(); len(d) != 1 || d[0].GetPolicyName() != "log-group-retention" {
		t.Fatalf("30 days in a prod stack must fail the prod minimum of 365: %v", d)
	}
}
