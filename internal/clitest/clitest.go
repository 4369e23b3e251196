// Package clitest gives tests the pinned Pulumi CLI and an isolated environment to
// run it in: its own PULUMI_HOME and file backend, no update checks, no plugin
// downloads, so no test reaches for the network.
package clitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Version is the CLI version the project pins (tools/go.mod).
const Version = "v3.274.1"

var (
	once    sync.Once
	path    string
	pathErr string
)

// Root returns the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Path returns the Pulumi CLI: $PULUMI when set, else bin/pulumi, which
// scripts/build-pulumi.sh builds (once, behind a lock) when it is missing. The
// test command builds it before any test binary starts, so here it is normally
// only checked.
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if p := os.Getenv("PULUMI"); p != "" {
			path = p
			return
		}
		script := filepath.Join(Root(), "scripts", "build-pulumi.sh")
		out, err := exec.Command("bash", script).CombinedOutput()
		if err != nil {
			pathErr = "build the Pulumi CLI with scripts/build-pulumi.sh: " + err.Error() + "\n" + string(out)
			return
		}
		path = filepath.Join(Root(), "bin", "pulumi")
	})
	if pathErr != "" {
		t.Fatal(pathErr)
	}
	return path
}

// Env is an isolated CLI environment for one test.
type Env struct {
	Home    string // PULUMI_HOME
	Backend string // file:// URL of the state backend
	Vars    []string
}

// NewEnv returns a fresh environment under t.TempDir().
func NewEnv(t testing.TB) Env {
	t.Helper()
	dir := t.TempDir()
	home, state := filepath.Join(dir, "home"), filepath.Join(dir, "state")
	for _, d := range []string{home, state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e := Env{Home: home, Backend: "file://" + state}
	e.Vars = []string{
		"PULUMI_HOME=" + home,
		"PULUMI_BACKEND_URL=" + e.Backend,
		"PULUMI_SKIP_UPDATE_CHECK=1",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_CONFIG_PASSPHRASE=test-passphrase",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=false",
	}
	return e
}

// Environ returns the process environment with the test's variables on top.
func (e Env) Environ() []string {
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PULUMI_") {
			base = append(base, kv)
		}
	}
	return append(base, e.Vars...)
}

// Run runs the CLI in dir and returns its combined output, failing the test on error.
func (e Env) Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(Path(t), args...)
	cmd.Dir = dir
	cmd.Env = e.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
