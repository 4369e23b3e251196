// Package datatiers_test runs the whole program against mocks for dev, prod
// and a municipality stack, and checks the data tiers' resources.
package datatiers_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

// stacks are the environments every tier is checked in.
var stacks = []string{"dev", "prod"}

var (
	runsMu sync.Mutex
	runs   = map[string]*harness.Recording{}
)

// run runs the program once per stack and config (the recordings are
// shared by the tests of all tiers).
func run(t *testing.T, stack string, config map[string]string) *harness.Recording {
	t.Helper()
	keys := make([]string, 0, len(config))
	for k, v := range config {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	id := stack + "|" + strings.Join(keys, ",")
	runsMu.Lock()
	defer runsMu.Unlock()
	if rec, ok := runs[id]; ok {
		return rec
	}
	rec := harness.MustRun(t, stack, config, platform.Program, environmentOutputs()...)
	runs[id] = rec
	return rec
}

func environmentOutputs() []harness.Option {
	var opts []harness.Option
	for _, env := range stacks {
		opts = append(opts, harness.WithStackOutputs("organization/cats-analytics/"+env, map[string]any{
			"trailArn": "arn:aws:cloudtrail:ap-northeast-1:" + plan.AccountID + ":trail/cats-trail-" + env,
			"zoneId":   "Z0123456789" + env,
		}))
	}
	return opts
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

func strings_(v resource.PropertyValue) []string {
	var out []string
	if v.IsArray() {
		for _, e := range v.ArrayValue() {
			out = append(out, str(e))
		}
	}
	return out
}

func mustContain(t *testing.T, haystack, needle, why string) {
	t.Helper()
	if !strings.Contains(haystack, needle) {
		t.Errorf("%s: %q not found in %s", why, needle, haystack)
	}
}

var _ = fmt.Sprint

var platformProgram = platform.Program
