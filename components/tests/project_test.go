package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"gopkg.in/yaml.v3"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// TestProjectFileDeclaresEveryKey keeps Pulumi.yaml and components/config in
// step: every key the program reads is declared (with its seed value) or
// listed, and no declared value differs from the program's default.
func TestProjectFileDeclaresEveryKey(t *testing.T) {
	path := filepath.Join(clitest.Root(), "Pulumi.yaml")
	project, err := workspace.LoadProject(path)
	if err != nil {
		t.Fatalf("Pulumi.yaml does not load: %v", err)
	}
	if err := project.Validate(); err != nil {
		t.Fatalf("Pulumi.yaml is invalid: %v", err)
	}
	if project.Name != "cats-analytics" || project.Runtime.Name() != "go" {
		t.Errorf("project %s runtime %s, want cats-analytics on go (DESIGN.md)", project.Name, project.Runtime.Name())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.Keys {
		full := config.Namespace + ":" + k.Name
		decl, declared := project.Config[full]
		if k.Default == "" {
			if declared {
				t.Errorf("%s has no project-wide default but Pulumi.yaml sets one", full)
			}
			if !strings.Contains(string(raw), "#   "+full+": "+k.Description) {
				t.Errorf("Pulumi.yaml does not list %s with its description %q", full, k.Description)
			}
			continue
		}
		if !declared {
			t.Errorf("Pulumi.yaml does not declare %s", full)
			continue
		}
		if decl.Description != k.Description {
			t.Errorf("%s description in Pulumi.yaml = %q, want %q", full, decl.Description, k.Description)
		}
		if got := valueString(t, decl.Value); got != k.Default {
			t.Errorf("%s value in Pulumi.yaml = %s, want the program's default %s", full, got, k.Default)
		}
	}
	for key := range project.Config {
		if strings.HasPrefix(key, config.Namespace+":") && len(config.UnknownKeys(map[string]string{key: ""})) != 0 {
			t.Errorf("Pulumi.yaml declares %s, which the program does not read", key)
		}
	}
}

func valueString(t *testing.T, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestStackFilesParse checks that dev and prod, as the files configure them on
// top of Pulumi.yaml, pass the program's validation with their environment's settings.
func TestStackFilesParse(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join(clitest.Root(), "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"dev", "prod"} {
		values := map[string]string{}
		for k, v := range project.Config {
			if v.Value != nil {
				values[k] = valueString(t, v.Value)
			}
		}
		raw, err := os.ReadFile(filepath.Join(clitest.Root(), "Pulumi."+stack+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var file struct{ Config map[string]string }
		if err := yaml.Unmarshal(raw, &file); err != nil {
			t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
		}
		for k, v := range file.Config {
			values[k] = v
		}
		if unknown := config.UnknownKeys(values); len(unknown) > 0 {
			t.Errorf("Pulumi.%s.yaml sets keys the program does not read: %v", stack, unknown)
		}
		c, err := config.Parse("organization", "cats-analytics", stack, config.FromMap(values))
		if err != nil {
			t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
		}
		if stack == "prod" && (c.Network.NatGateways != config.NatPerAZ || c.Security.LogRetentionDays != 365) {
			t.Errorf("prod: NAT %s, retention %d; want per-az and 365", c.Network.NatGateways, c.Security.LogRetentionDays)
		}
	}
}

// TestCLIReadsTheProject runs the pinned CLI on the project: it must accept
// Pulumi.yaml, report the pinned version, and hand the program the same
// configuration the stack files hold.
func TestCLIReadsTheProject(t *testing.T) {
	env := clitest.NewEnv(t)
	if got := strings.TrimSpace(env.Run(t, t.TempDir(), "version")); got != clitest.Version {
		t.Fatalf("pulumi version = %q, want %s (tools/go.mod pin)", got, clitest.Version)
	}
	dir := t.TempDir()
	for _, f := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"} {
		b, err := os.ReadFile(filepath.Join(clitest.Root(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, stack := range []string{"dev", "prod"} {
		env.Run(t, dir, "stack", "init", stack, "--non-interactive")
		out := env.Run(t, dir, "config", "--stack", stack, "--json")
		var cfg map[string]struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("pulumi config --json: %v\n%s", err, out)
		}
		values := map[string]string{}
		for k, v := range cfg {
			values[k] = v.Value
		}
		if values["cats:instanceType"] != "t3.medium" || values["aws:region"] != "ap-northeast-1" {
			t.Errorf("%s: the CLI gives the program %v; want the seed's t3.medium and ap-northeast-1", stack, values)
		}
		if _, err := config.Parse("organization", "cats-analytics", stack, config.FromMap(values)); err != nil {
			t.Errorf("%s: the configuration the CLI passes is rejected: %v", stack, err)
		}
	}
}
