package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/internal/clitest"
)

// TestFindCLILooksInTheDocumentedOrder: --pulumi, $PULUMI, ./bin/pulumi,
// PATH; the first that is set or exists is used, never skipped when broken.
func TestFindCLILooksInTheDocumentedOrder(t *testing.T) {
	flagCLI := installFake(t, filepath.Join(t.TempDir(), "flag", "bin", "pulumi"))
	envCLI := installFake(t, filepath.Join(t.TempDir(), "env", "bin", "pulumi"))
	checkout := t.TempDir()
	localCLI := installFake(t, filepath.Join(checkout, "bin", "pulumi"))
	pathDir := filepath.Dir(installFake(t, filepath.Join(t.TempDir(), "path", "bin", "pulumi")))
	t.Setenv("PATH", pathDir)
	empty := t.TempDir()

	tests := []struct {
		name string
		at   CLILocation
		want string
	}{
		{"flag first", CLILocation{Flag: flagCLI, Env: envCLI, Dir: checkout}, flagCLI},
		{"then $PULUMI", CLILocation{Env: envCLI, Dir: checkout}, envCLI},
		{"then ./bin/pulumi", CLILocation{Dir: checkout}, localCLI},
		{"then PATH", CLILocation{Dir: empty}, filepath.Join(pathDir, "pulumi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := FindCLI(tt.at)
			if err != nil || cli.Path != tt.want {
				t.Fatalf("FindCLI = %q, %v; want %s", cli.Path, err, tt.want)
			}
			if "v"+cli.Version().String() != clitest.Version {
				t.Errorf("version %s, want the one the CLI reports", cli.Version())
			}
		})
	}

	// A location that is set but broken is an error naming it, not a fallback.
	if _, err := FindCLI(CLILocation{Flag: filepath.Join(empty, "pulumi"), Env: envCLI}); err == nil || !strings.Contains(err.Error(), "--pulumi") {
		t.Errorf("a missing --pulumi: %v, want an error naming --pulumi", err)
	}
	if _, err := FindCLI(CLILocation{Env: filepath.Join(empty, "nothing"), Dir: checkout}); err == nil || !strings.Contains(err.Error(), "PULUMI") {
		t.Errorf("a missing $PULUMI: %v, want an error naming PULUMI", err)
	}
}

func TestFindCLISaysWhereItLookedAndHowToGetOne(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := FindCLI(CLILocation{Dir: t.TempDir()})
	if !errors.Is(err, ErrNoCLI) {
		t.Fatalf("FindCLI with no CLI anywhere: %v, want ErrNoCLI", err)
	}
	for _, want := range []string{"--pulumi", "$PULUMI", filepath.Join("bin", "pulumi"), "PATH", "make pulumi"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q: a newcomer must learn where the CLI is looked for and how to get one:\n%v", want, err)
		}
	}
}

func TestNewCLIRefusesWhatTheAutomationAPICannotValidate(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	elsewhere := installFake(t, filepath.Join(t.TempDir(), "pulumi-v3", "pulumi"))
	if _, err := NewCLI(elsewhere, "--pulumi"); err == nil || !strings.Contains(err.Error(), "bin/pulumi") {
		t.Errorf("a CLI outside a bin directory and off PATH: %v, want a refusal saying how to place it", err)
	}
	old := filepath.Join(t.TempDir(), "bin", "pulumi")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho v3.1.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "")
	if _, err := NewCLI(old, "PULUMI"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a CLI older than the Automation API's minimum: %v, want a version error", err)
	}
	notExecutable := filepath.Join(t.TempDir(), "bin", "pulumi")
	if err := os.MkdirAll(filepath.Dir(notExecutable), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\necho "+clitest.Version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCLI(notExecutable, "PULUMI"); err == nil || !strings.Contains(err.Error(), "executable") {
		t.Errorf("a CLI that is not executable: %v, want that said", err)
	}
}

// TestFindPolicyPackLooksInTheDocumentedOrder: --policy-pack, then
// $CATS_POLICY_PACK, then ./bin/cats-policy; none is a clear error.
func TestFindPolicyPackLooksInTheDocumentedOrder(t *testing.T) {
	exe := func(path string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	flag, env := exe(filepath.Join(t.TempDir(), "flag-pack")), exe(filepath.Join(t.TempDir(), "env-pack"))
	checkout := t.TempDir()
	local := exe(filepath.Join(checkout, PolicyPackFile))
	for _, tt := range []struct {
		at   Location
		want string
	}{
		{Location{Flag: flag, Env: env, Dir: checkout}, flag},
		{Location{Env: env, Dir: checkout}, env},
		{Location{Dir: checkout}, local},
	} {
		if got, err := FindPolicyPack(tt.at); err != nil || got != tt.want {
			t.Errorf("FindPolicyPack(%+v) = %q, %v; want %s", tt.at, got, err, tt.want)
		}
	}
	_, err := FindPolicyPack(Location{Dir: t.TempDir()})
	if !errors.Is(err, ErrNoPolicyPack) || !strings.Contains(err.Error(), "make policy") {
		t.Errorf("no pack anywhere: %v; want ErrNoPolicyPack saying to run make policy", err)
	}
	if _, err := FindPolicyPack(Location{Flag: filepath.Join(t.TempDir(), "absent"), Dir: checkout}); err == nil {
		t.Error("a --policy-pack that does not exist was skipped for ./bin/cats-policy; a broken setting must not be ignored")
	}
}
