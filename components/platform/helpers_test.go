// Package platform_test runs the whole program against the offline plan's
// recording mock (internal/harness) for dev, prod and municipality stacks
// and checks every tier's resources, one file per tier; this file holds
// what they share.
package platform_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// environments are the environment stacks every tier is checked in.
var environments = []string{config.Dev, config.Prod}

// stackRun is one run of the platform: what it registered and its outputs.
type stackRun struct {
	rec *harness.Recording
	// outputs are the platform's string outputs by their output name,
	// awaited on the test goroutine.
	outputs map[string]string
}

var (
	runsMu sync.Mutex
	runs   = map[string]stackRun{}
)

// runPlatform runs the platform once per stack and config (the recordings
// are shared by the tests of all tiers) and reads its outputs.
func runPlatform(t *testing.T, stack string, cfg map[string]string) stackRun {
	t.Helper()
	settings := make([]string, 0, len(cfg))
	for k, v := range cfg {
		settings = append(settings, k+"="+v)
	}
	sort.Strings(settings)
	id := stack + "|" + strings.Join(settings, ",")
	runsMu.Lock()
	defer runsMu.Unlock()
	if r, ok := runs[id]; ok {
		return r
	}
	var outputs map[string]string
	rec := harness.MustRun(t, stack, cfg, func(ctx *pulumi.Context) error {
		c, err := platform.LoadConfig(ctx)
		if err != nil {
			return err
		}
		p, err := platform.NewPlatform(ctx, "cats", platform.Args{Config: c, AccountID: plan.AccountID})
		if err != nil {
			return err
		}
		// An ApplyT on an output built from a plain value (pulumi.String(…).ToStringOutput())
		// belongs to no run, so the run does not wait for it: await each value here.
		outputs = harness.AwaitStrings(t, map[string]pulumi.StringOutput{
			"zoneId": p.ZoneID, "appUrl": p.AppURL, "apiUrl": p.APIURL, "cdnUrl": p.CDNURL,
			"alarmTopicArn": p.AlarmTopicArn, "trailArn": p.TrailArn,
		})
		return nil
	})
	runs[id] = stackRun{rec, outputs}
	return runs[id]
}

// run is runPlatform's recording.
func run(t *testing.T, stack string, cfg map[string]string) *harness.Recording {
	t.Helper()
	return runPlatform(t, stack, cfg).rec
}

// environmentOutput is what the environment stack env exports to its shared
// municipality stacks (the stub every run answers with).
func environmentOutput(env, name string) string {
	return plan.EnvironmentOutputs(env, config.DefaultRegion)[name].(string)
}

// stackKinds are the kinds of stack the serving tiers distinguish.
var stackKinds = []struct {
	name, stack  string
	cfg          map[string]string
	wantZone     string // "" none, "own" created here, else the referenced id
	wantURL      string
	prod         bool
	ownsBaseline bool
}{
	{"dev", "dev", nil, "own", "https://app.cats.example.com", false, true},
	{"prod", "prod", nil, "own", "https://app.cats.example.com", true, true},
	{"shared municipality", "131016-prod", nil, environmentOutput(config.Prod, "zoneId"), "https://app-131016.cats.example.com", true, false},
	{"municipality with its own account", "011002-dev", map[string]string{"cats:tenancy": "account"}, "own", "https://app-011002.cats.example.com", false, true},
	{"no domain", "dev", map[string]string{"cats:domain": "none"}, "", "http://", false, true},
}

// underPlatform checks that a tier's component is a child of the platform.
func underPlatform(t *testing.T, rec *harness.Recording, tierType string) {
	t.Helper()
	r := rec.One(t, tierType)
	if p, ok := rec.Parent(r); !ok || p.Type != platform.Type {
		t.Errorf("%s is not a child of the platform component", tierType)
	}
}

// get walks nested object properties; a missing step gives a null value.
func get(v resource.PropertyValue, path ...string) resource.PropertyValue {
	for _, p := range path {
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return v
}

// in walks a resource's inputs.
func in(r plan.Resource, path ...string) resource.PropertyValue {
	return get(resource.NewObjectProperty(r.Inputs), path...)
}

func str(v resource.PropertyValue) string {
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func num(v resource.PropertyValue) float64 {
	if v.IsNumber() {
		return v.NumberValue()
	}
	return -1
}

func boolean(v resource.PropertyValue) bool { return v.IsBool() && v.BoolValue() }

// out reads a string output.
func out(r plan.Resource, key string) string {
	v := r.Outputs[resource.PropertyKey(key)]
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// named returns the one resource of a type whose input name (or other key) is value.
func named(t *testing.T, rec *harness.Recording, token, key, value string) plan.Resource {
	t.Helper()
	var found []plan.Resource
	for _, r := range rec.ByType(token) {
		if r.Str(key) == value {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		var seen []string
		for _, r := range rec.ByType(token) {
			seen = append(seen, r.Str(key))
		}
		t.Fatalf("want one %s with %s=%q, got %d (have %v)", token, key, value, len(found), seen)
	}
	return found[0]
}

// configuring returns the resources of a type whose `bucket` (or other) input is id.
func configuring(rec *harness.Recording, token, key, id string) []plan.Resource {
	var out []plan.Resource
	for _, r := range rec.ByType(token) {
		if r.Str(key) == id {
			out = append(out, r)
		}
	}
	return out
}

// underTier checks that a resource belongs to the tier component.
func underTier(t *testing.T, rec *harness.Recording, r plan.Resource, tierType string) {
	t.Helper()
	if a, ok := rec.Ancestor(r, "cats:"); !ok || a.Type != tierType {
		t.Errorf("%s %s must be a child of the %s component (STYLE: children parented to their tier), got %v", r.Type, r.Name, tierType, a.Type)
	}
}

// policyJSON returns a policy input (a JSON string) for substring checks.
func policyJSON(r plan.Resource) string { return r.Str("policy") }

func mustContain(t *testing.T, haystack, needle, why string) {
	t.Helper()
	if !strings.Contains(haystack, needle) {
		t.Errorf("%s: %q not found in %s", why, needle, haystack)
	}
}

// policyDoc is an IAM policy document as iamdoc writes it.
type policyDoc struct {
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]any
		Action    any // a string or a list
		Resource  any
		Condition map[string]map[string]any
	}
}

func parsePolicy(t *testing.T, policy string) policyDoc {
	t.Helper()
	var doc policyDoc
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("policy %q is not JSON: %v", policy, err)
	}
	return doc
}

// list reads a policy element that is a string or a list of strings.
func list(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// statement finds a statement by its Sid.
func statement(t *testing.T, policy, sid string) (found bool, resource any, condition map[string]map[string]any) {
	t.Helper()
	for _, s := range parsePolicy(t, policy).Statement {
		if s.Sid == sid {
			return true, s.Resource, s.Condition
		}
	}
	return false, nil, nil
}

// noWildcards fails on any wildcard action or bare "*" resource in a policy,
// but X-Ray's: its actions have no resources to name.
func noWildcards(t *testing.T, policy string) {
	t.Helper()
	for _, s := range parsePolicy(t, policy).Statement {
		if xrayOnly(list(s.Action)) {
			continue
		}
		for _, a := range list(s.Action) {
			if strings.Contains(a, "*") {
				t.Errorf("least privilege: wildcard action %q", a)
			}
		}
		for _, r := range list(s.Resource) {
			if r == "*" {
				t.Errorf("least privilege: statement on every resource (%v)", s.Action)
			}
		}
	}
}

func xrayOnly(actions []string) bool {
	for _, a := range actions {
		if !strings.HasPrefix(a, "xray:") {
			return false
		}
	}
	return len(actions) > 0
}

// tracesActively checks a function's X-Ray active tracing (FSBP Lambda.7)
// and that its role may send the traces, with nothing more than that.
func tracesActively(t *testing.T, fn plan.Resource, rolePolicy string) {
	t.Helper()
	if got := str(in(fn, "tracingConfig", "mode")); got != "Active" {
		t.Errorf("%s tracing mode %q, want Active (X-Ray)", fn.Str("name"), got)
	}
	var actions []string
	for _, s := range parsePolicy(t, rolePolicy).Statement {
		if a := list(s.Action); xrayOnly(a) {
			actions = append(actions, a...)
		}
	}
	sort.Strings(actions)
	if !equal(actions, []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}) {
		t.Errorf("%s may call %v of X-Ray, want exactly PutTraceSegments and PutTelemetryRecords", fn.Str("name"), actions)
	}
}

// assertPrivateBucket checks a storage.PrivateBucket: versioned, encrypted,
// public access blocked, ACLs disabled and TLS-only.
func assertPrivateBucket(t *testing.T, rec *harness.Recording, name string) {
	t.Helper()
	bucket, ok := rec.Find("aws:s3/bucketV2:BucketV2", name)
	if !ok {
		t.Fatalf("no bucket %s", name)
	}
	id := bucket.ID
	configOf := func(token, suffix string) plan.Resource {
		r, ok := rec.Find(token, name+suffix)
		if !ok || r.Str("bucket") != id {
			t.Fatalf("bucket %s has no %s", name, token)
		}
		return r
	}
	v := configOf("aws:s3/bucketVersioningV2:BucketVersioningV2", "-versioning")
	if v.Input("versioningConfiguration").ObjectValue()["status"].StringValue() != "Enabled" {
		t.Errorf("%s is not versioned", name)
	}
	sse := configOf("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "-encryption")
	rule := sse.Input("rules").ArrayValue()[0].ObjectValue()["applyServerSideEncryptionByDefault"].ObjectValue()
	if alg := rule["sseAlgorithm"].StringValue(); alg != "AES256" && alg != "aws:kms" {
		t.Errorf("%s encryption = %q", name, alg)
	}
	pab := configOf("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-public-access-block")
	for _, p := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if !pab.Input(p).BoolValue() {
			t.Errorf("%s public access block %s is off (FSBP S3.8)", name, p)
		}
	}
	own := configOf("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "-ownership")
	if own.Input("rule").ObjectValue()["objectOwnership"].StringValue() != "BucketOwnerEnforced" {
		t.Errorf("%s must disable ACLs (FSBP S3.12)", name)
	}
	pol := configOf("aws:s3/bucketPolicy:BucketPolicy", "-policy")
	tlsOnly := false
	for _, s := range parsePolicy(t, pol.Str("policy")).Statement {
		if s.Effect == "Deny" && s.Condition["Bool"]["aws:SecureTransport"] == "false" {
			tlsOnly = true
		}
	}
	if !tlsOnly {
		t.Errorf("%s policy does not deny insecure transport (FSBP S3.5)", name)
	}
}

func ingressPorts(sg plan.Resource) []string {
	var out []string
	for _, r := range sg.Input("ingress").ArrayValue() {
		o := r.ObjectValue()
		port := fmt.Sprintf("%s/%v", o["protocol"].StringValue(), o["fromPort"].NumberValue())
		for _, c := range strs(o["cidrBlocks"]) {
			out = append(out, port+" from "+c)
		}
		for _, g := range strs(o["securityGroups"]) {
			out = append(out, port+" from sg:"+g)
		}
	}
	sort.Strings(out)
	return out
}

func egressRules(sg plan.Resource) []string {
	var out []string
	for _, r := range sg.Input("egress").ArrayValue() {
		o := r.ObjectValue()
		for _, c := range strs(o["cidrBlocks"]) {
			out = append(out, fmt.Sprintf("%s/%v to %s", o["protocol"].StringValue(), o["fromPort"].NumberValue(), c))
		}
	}
	sort.Strings(out)
	return out
}

func aclRules(acl plan.Resource, dir string) []string {
	var out []string
	for _, r := range acl.Input(dir).ArrayValue() {
		o := r.ObjectValue()
		out = append(out, fmt.Sprintf("%v %s %s %v-%v %s", o["ruleNo"].NumberValue(), o["action"].StringValue(),
			o["protocol"].StringValue(), o["fromPort"].NumberValue(), o["toPort"].NumberValue(), o["cidrBlock"].StringValue()))
	}
	sort.Strings(out)
	return out
}

// strs reads a list of strings, sorted.
func strs(v resource.PropertyValue) []string {
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		out = append(out, e.StringValue())
	}
	sort.Strings(out)
	return out
}

// equal compares a sorted list with the wanted one in any order.
func equal(a, b []string) bool {
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
