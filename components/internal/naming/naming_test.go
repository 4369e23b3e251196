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
	long, _ := NewNamer("dev", strings.Repeat("x", 50))
	if _, err := long.Global("cats-data-lake"); err == nil || !strings.Contains(err.Error(), "63") {
		t.Errorf("a 70-character bucket name must be refused with S3's limit, got %v", err)
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
