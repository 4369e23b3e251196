// Tests of the policy pack through the real Pulumi CLI (built
// from tools/ by scripts/build-pulumi.sh): `pulumi policy analyze --file` on
// offline plans, and `pulumi preview|up --policy-pack` through the
// Automation API on an inline program, with local backends and no network.
//
// Set PULUMI to a built CLI to skip the build; otherwise TestMain runs
// scripts/build-pulumi.sh, which returns at once when bin/pulumi is current
// (CI builds it in an earlier step: a cold build takes about 9 minutes).

package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/internal/clitest"
	"github.com/cats-analytics/cats-analytics/plan"
)

var (
	pulumiCLI string // the CLI binary
	pack      string // the policy pack binary
	repoRoot  string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "policy CLI tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	root := clitest.Root()
	repoRoot = root
	pulumiCLI = os.Getenv("PULUMI")
	if pulumiCLI == "" {
		build := exec.Command(filepath.Join(root, "scripts", "build-pulumi.sh"))
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return 0, fmt.Errorf("build the Pulumi CLI: %w", err)
		}
		pulumiCLI = filepath.Join(root, "bin", "pulumi")
	}
	dir, err := os.MkdirTemp("", "cats-policy-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	pack = filepath.Join(dir, "cats-policy")
	build := exec.Command("go", "build", "-o", pack, "./policy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build the policy pack: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// cliEnv isolates the CLI: its own home and backend, no update check, no
// plugin downloads.
func cliEnv(t *testing.T) map[string]string {
	home := t.TempDir()
	return map[string]string{
		"PULUMI_HOME":                                 home,
		"PULUMI_BACKEND_URL":                          "file://" + filepath.ToSlash(t.TempDir()),
		"PULUMI_SKIP_UPDATE_CHECK":                    "1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_CONFIG_PASSPHRASE":                    "offline-plan-test",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
	}
}

func analyze(t *testing.T, state string, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"policy", "analyze", "--file", state, "--policy-pack", pack, "--non-interactive"}, extra...)
	cmd := exec.Command(pulumiCLI, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = os.Environ()
	for k, v := range cliEnv(t) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeState(t *testing.T, stack string, mutate func(*plan.Resource)) (string, *plan.Result) {
	t.Helper()
	return writeStateWith(t, stack, nil, mutate)
}

// writeStateWith plans stack with its configuration changed by config first.
func writeStateWith(t *testing.T, stack string, config func(map[string]string), mutate func(*plan.Resource)) (string, *plan.Result) {
	t.Helper()
	cfg, err := plan.StackConfig(repoRoot, stack)
	if err != nil {
		t.Fatal(err)
	}
	if config != nil {
		config(cfg)
	}
	res, err := plan.Run(context.Background(), platform.Program, plan.Options{Stack: stack, Config: cfg, Mutate: mutate})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), stack+".json")
	var buf bytes.Buffer
	if err := res.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, res
}

// TestPolicyAnalyzeAgreesWithThePlan: the real CLI, given the plan's state
// file, reports no mandatory violation where the in-process plan reports
// none, and exactly the advisory findings the plan reports.
func TestPolicyAnalyzeAgreesWithThePlan(t *testing.T) {
	ownAccount := func(cfg map[string]string) { cfg["cats:tenancy"] = "account" }
	for _, tc := range []struct {
		name, stack string
		config      func(map[string]string)
	}{
		{"dev", "dev", nil}, {"prod", "prod", nil}, {"131016-prod", "131016-prod", nil},
		{"011002-dev with its own account", "011002-dev", ownAccount},
	} {
		stack := tc.stack
		t.Run(tc.name, func(t *testing.T) {
			state, res := writeStateWith(t, stack, tc.config, nil)
			if res.MandatoryViolations() != 0 {
				t.Errorf("in-process plan of %s has mandatory violations: %v", stack, res.Violations)
			}
			// Whatever the plan finds, the CLI must find too, and fail exactly
			// when the plan has a mandatory violation.
			out, err := analyze(t, state)
			if (err != nil) != (res.MandatoryViolations() != 0) {
				t.Fatalf("pulumi policy analyze --file on %s: error %v, but the plan has %d mandatory violations\n%s", stack, err, res.MandatoryViolations(), out)
			}
			if !strings.Contains(out, "cats-analytics@v1.0.0") {
				t.Errorf("the pack did not run:\n%s", out)
			}
			for _, v := range res.Violations {
				if !strings.Contains(out, v.Message) {
					t.Errorf("the CLI run lacks the plan's finding %s: %s\n%s", v.Policy, v.Message, out)
				}
			}
		})
	}
}

func TestPolicyAnalyzeFailsOnMandatoryViolation(t *testing.T) {
	state, _ := writeState(t, "prod", func(r *plan.Resource) {
		if r.Type == "aws:kms/key:Key" {
			r.Inputs["enableKeyRotation"] = resource.NewBoolProperty(false)
		}
		if r.Type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" {
			r.Inputs["restrictPublicBuckets"] = resource.NewBoolProperty(false)
		}
	})
	out, err := analyze(t, state)
	if err == nil {
		t.Fatalf("a key without rotation must fail pulumi policy analyze:\n%s", out)
	}
	for _, want := range []string{"[mandatory]  kms-key-rotation", "[mandatory]  s3-public-access-block", "mandatory policy violations"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyAnalyzeTakesPackConfig(t *testing.T) {
	state, _ := writeState(t, "dev", nil)
	config := filepath.Join(t.TempDir(), "policy-config.json")
	doc, _ := json.Marshal(map[string]any{"log-group-retention": map[string]any{"enforcementLevel": "mandatory", "minimumRetentionDays": 365}})
	if err := os.WriteFile(config, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := analyze(t, state, "--policy-pack-config", config)
	if err == nil || !strings.Contains(out, "below the minimum of 365") {
		t.Fatalf("dev's 30-day log groups must fail a configured 365-day mandatory minimum: %v\n%s", err, out)
	}
}

// rotationProgram registers a KMS key shaped resource whose rotation flag is
// on, off or unknown until deployment. It is a component (no provider
// plugin is needed offline); the engine hands it to the analyzer all the same.
func rotationProgram(mode string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		var rotation pulumi.Input = pulumi.Bool(mode == "on")
		if mode == "unknown" {
			rotation = pulumi.UnsafeUnknownOutput(nil)
		}
		var key struct{ pulumi.ResourceState }
		return ctx.RegisterResource("aws:kms/key:Key", "key", pulumi.Map{"enableKeyRotation": rotation}, &key)
	}
}

// noBaselineRules is the pack config of the test program: its stack is
// named dev, so it owns an account baseline it does not build (no trail, no
// account-level public access block; both are stack rules, tested on the
// plans).
func noBaselineRules(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "policy-config.json")
	if err := os.WriteFile(path, []byte(`{"cloudtrail-enabled": "disabled", "s3-account-public-access-block": "disabled"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func stack(t *testing.T, program pulumi.RunFunc) *auto.Stack {
	t.Helper()
	ctx := context.Background()
	root := filepath.Dir(filepath.Dir(pulumiCLI))
	if filepath.Base(filepath.Dir(pulumiCLI)) != "bin" {
		root = t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(pulumiCLI, filepath.Join(root, "bin", "pulumi")); err != nil {
			t.Fatal(err)
		}
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	env := cliEnv(t)
	s, err := auto.UpsertStackInlineSource(ctx, "dev", "cats-policy-cli-test", program,
		auto.Pulumi(cmd), auto.PulumiHome(env["PULUMI_HOME"]), auto.EnvVars(env),
		auto.Project(workspace.Project{Name: "cats-policy-cli-test", Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: env["PULUMI_BACKEND_URL"]}}))
	if err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestPreviewAndUpRunThePack(t *testing.T) {
	ctx := context.Background()
	t.Run("preview with a compliant key", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := stack(t, rotationProgram("on")).Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(noBaselineRules(t)), optpreview.ProgressStreams(&out)); err != nil {
			t.Fatalf("preview must pass: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "cats-analytics@v1.0.0") {
			t.Errorf("the pack did not run in preview:\n%s", out.String())
		}
	})
	t.Run("preview with rotation off", func(t *testing.T) {
		var out bytes.Buffer
		_, err := stack(t, rotationProgram("off")).Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(noBaselineRules(t)), optpreview.ProgressStreams(&out))
		if err == nil || !strings.Contains(out.String(), "[mandatory]  kms-key-rotation") {
			t.Fatalf("preview must fail on the mandatory kms-key-rotation: %v\n%s", err, out.String())
		}
	})
	t.Run("preview with an unknown flag", func(t *testing.T) {
		var out bytes.Buffer
		_, err := stack(t, rotationProgram("unknown")).Preview(ctx, optpreview.PolicyPacks(pack), optpreview.PolicyPackConfigs(noBaselineRules(t)), optpreview.ProgressStreams(&out))
		if err != nil {
			t.Fatalf("an unknown value must not crash the pack or block the preview: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "[advisory]  kms-key-rotation") || !strings.Contains(out.String(), "unknown until deployment") {
			t.Fatalf("the unknown flag must be reported, not passed:\n%s", out.String())
		}
	})
	t.Run("up with rotation off", func(t *testing.T) {
		var out bytes.Buffer
		_, err := stack(t, rotationProgram("off")).Up(ctx, optup.PolicyPacks(pack), optup.PolicyPackConfigs(noBaselineRules(t)), optup.ProgressStreams(&out))
		if err == nil || !strings.Contains(out.String(), "[mandatory]  kms-key-rotation") {
			t.Fatalf("up must fail on the mandatory kms-key-rotation: %v\n%s", err, out.String())
		}
	})
	t.Run("up with a compliant key then policy analyze --stack", func(t *testing.T) {
		var out bytes.Buffer
		s := stack(t, rotationProgram("on"))
		if _, err := s.Up(ctx, optup.PolicyPacks(pack), optup.PolicyPackConfigs(noBaselineRules(t)), optup.ProgressStreams(&out)); err != nil {
			t.Fatalf("up must pass: %v\n%s", err, out.String())
		}
		// The third entry point: analyse the deployed stack from its backend.
		cmd := exec.Command(pulumiCLI, "policy", "analyze", "--stack", "dev", "--non-interactive",
			"--policy-pack", pack, "--policy-pack-config", noBaselineRules(t))
		cmd.Dir = s.Workspace().WorkDir()
		cmd.Env = os.Environ()
		for k, v := range s.Workspace().GetEnvVars() {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, "PULUMI_HOME="+s.Workspace().PulumiHome())
		got, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(got), "cats-analytics@v1.0.0") {
			t.Fatalf("pulumi policy analyze --stack must run the pack and pass: %v\n%s", err, got)
		}
	})
}
