package naming

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	n, err := NewNamer("131016-prod", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ got, want string }{
		{n.PerStack("cats-info"), "cats-info-131016-prod"},
		{n.PerStack("cats_data"), "cats_data_131016_prod"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q: the seed's name is the base, the stack the suffix", tt.got, tt.want)
		}
	}
	g, err := n.Global("cats-data-lake")
	if err != nil || g != "cats-data-lake-131016-prod" {
		t.Errorf("Global = %q, %v", g, err)
	}
	withSuffix, _ := NewNamer("dev", "acme")
	if g, _ := withSuffix.Global("cats-data-lake"); g != "cats-data-lake-dev-acme" {
		t.Errorf("Global with suffix = %q, want cats-data-lake-dev-acme", g)
	}
}

func TestNamerRejects(t *testing.T) {
	if _, err := NewNamer("Prod", ""); err == nil {
		t.Error("upper-case stack names would make invalid bucket names; want an error")
	}
	if _, err := NewNamer("dev", "Bad_Suffix"); err == nil || !strings.Contains(err.Error(), "cats:globalSuffix") {
		t.Errorf("bad suffix error = %v; want one naming cats:globalSuffix", err)
	}
	if _, err := NewNamer("dev", strings.Repeat("x", MaxGlobalSuffixLength+1)); err == nil || !strings.Contains(err.Error(), "63") {
		t.Errorf("a suffix beyond its budget must be refused with S3's limit, got %v", err)
	}
	if _, err := NewNamer(strings.Repeat("x", MaxStackLength+1), ""); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("a stack name beyond its budget must be refused with the load balancer's limit, got %v", err)
	}
	if _, err := (Namer{stack: "dev"}).Global(strings.Repeat("b", MaxGlobalBaseLength+1)); err == nil {
		t.Error("a global base name beyond its budget must be refused")
	}
}

// TestBudgetsFitTheLimits: the longest stack, base and suffix NewNamer and
// Global accept still make names AWS accepts.
func TestBudgetsFitTheLimits(t *testing.T) {
	n, err := NewNamer(strings.Repeat("s", MaxStackLength), strings.Repeat("g", MaxGlobalSuffixLength))
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := n.Global(strings.Repeat("b", MaxGlobalBaseLength))
	if err != nil || len(bucket) > 63 {
		t.Errorf("longest bucket name %q (%d characters, %v): S3 allows 63", bucket, len(bucket), err)
	}
	for _, base := range []string{"cats-alb", "cats-app"} {
		if name := n.PerStack(base); len(name) > 32 {
			t.Errorf("%s is %d characters: load balancer and target group names are at most 32", name, len(name))
		}
	}
}

func TestTags(t *testing.T) {
	tags := Tags("prod", "131016")
	want := map[string]string{TagProject: "cats-analytics", TagEnvironment: "prod", TagMunicipality: "131016", TagManagedBy: "pulumi"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, tags[k], v)
		}
	}
	if Tags("dev", "")[TagMunicipality] != SharedTenant {
		t.Errorf("an environment stack's resources are tagged %q", SharedTenant)
	}
}
