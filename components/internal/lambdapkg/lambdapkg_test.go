package lambdapkg

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const aggregator = Module + "/functions/aggregator/cmd/aggregator"

// helperEnv makes the test binary a process that builds one package and
// reports how many times it ran `go build` (TestSecondProcessDoesNotBuild).
const helperEnv = "LAMBDAPKG_TEST_BUILD_PACKAGE"

type helperReport struct {
	Builds int64
	Path   string
	Hash   string
}

func TestMain(m *testing.M) {
	if pkg := os.Getenv(helperEnv); pkg != "" {
		_, hash, err := Build(pkg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		mu.Lock()
		path := built[pkg].path
		mu.Unlock()
		if err := json.NewEncoder(os.Stdout).Encode(helperReport{builds.Load(), path, hash}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// isolatedCache points the archive cache at a fresh directory for this
// test, keeping Go's own build cache (which otherwise follows it).
func isolatedCache(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	return dir
}

// TestSameSourceSameArchive builds the aggregator twice from scratch (no
// in-process memo) and requires byte-identical archives: otherwise every
// `pulumi up` would redeploy an unchanged function.
func TestSameSourceSameArchive(t *testing.T) {
	isolatedCache(t)
	path1, hash1, err := build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path1)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(first); hash1 != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("the hash %s must be the archive's base64 SHA-256 (lambda.FunctionArgs.SourceCodeHash)", hash1)
	}
	// Remove the cached copy so the second build must write its own.
	if err := os.Remove(path1); err != nil {
		t.Fatal(err)
	}
	before := builds.Load()
	path2, hash2, err := build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(path2)
	if err != nil {
		t.Fatal(err)
	}
	if builds.Load() != before+1 {
		t.Fatalf("without its cached archive the package must be built again")
	}
	if hash1 != hash2 || !bytes.Equal(first, second) {
		t.Fatalf("two builds of the same source must give the same archive: %s vs %s", hash1, hash2)
	}
	t.Logf("archive %s: %d bytes, sha256 %s", path2, len(second), hash2)

	zr, err := zip.NewReader(bytes.NewReader(second), int64(len(second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != Handler {
		t.Fatalf("the archive must hold exactly one file named bootstrap (provided.al2023), got %d files", len(zr.File))
	}
	f := zr.File[0]
	if f.Mode().Perm() != 0o755 || !f.Modified.Equal(zipTime) {
		t.Errorf("bootstrap must be 0755 with the fixed time stamp, got %v %v", f.Mode(), f.Modified)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	binary, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("bootstrap must be a Linux ELF executable: %v", err)
	}
	if exe.Machine != elf.EM_AARCH64 || exe.Type != elf.ET_EXEC {
		t.Errorf("bootstrap must be an executable built for arm64 (the functions' architecture), got %v %v", exe.Machine, exe.Type)
	}
	dir, err := moduleDir()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(binary, []byte(dir+"/")) {
		t.Errorf("bootstrap must not embed the checkout path %s (-trimpath)", dir)
	}
}

func TestBuildIsMemoisedPerProcess(t *testing.T) {
	_, h1, err := Build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	_, h2, err := Build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Fatalf("Build must return the same hash for the same package in one process")
	}
}

func TestBuildRejectsForeignPackages(t *testing.T) {
	if _, _, err := Build("example.com/elsewhere"); err == nil {
		t.Fatal("Build must refuse packages outside the module")
	}
}

func TestModuleDirFromTheEnvironment(t *testing.T) {
	root, err := moduleDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if _, err := moduleDir(); err == nil {
		t.Fatal("outside the module, without " + ModuleDirEnv + ", the module cannot be found")
	}
	t.Setenv(ModuleDirEnv, root)
	if got, err := moduleDir(); err != nil || got != root {
		t.Errorf("%s=%s must locate the module, got %q %v", ModuleDirEnv, root, got, err)
	}
}

// TestSecondProcessDoesNotBuild runs processes that package a small program
// of a module like this one: the first builds it, a second with the same
// sources takes the cached archive without running `go build`, a change to
// an embedded file of a package it imports builds again, a change to a test
// file does not, and the original sources find their archive again.
func TestSecondProcessDoesNotBuild(t *testing.T) {
	cache := isolatedCache(t)
	module := t.TempDir()
	files := map[string]string{
		"go.mod":              "module " + Module + "\n\ngo 1.22\n",
		"cmd/tiny/main.go":    "package main\n\nimport \"" + Module + "/lib\"\n\nfunc main() { println(lib.Greeting) }\n",
		"lib/lib.go":          "package lib\n\nimport _ \"embed\"\n\n//go:embed greeting.txt\nvar Greeting string\n",
		"lib/greeting.txt":    "こんにちは",
		"lib/lib_test.go":     "package lib\n",
		"elsewhere/unused.go": "package elsewhere\n",
	}
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(module, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		write(name, content)
	}
	pkg := Module + "/cmd/tiny"
	process := func(what string, wantBuilds int64) helperReport {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+pkg, ModuleDirEnv+"="+module, "XDG_CACHE_HOME="+cache)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, stderr.String())
		}
		var r helperReport
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		if r.Builds != wantBuilds {
			t.Errorf("%s: %d go builds, want %d", what, r.Builds, wantBuilds)
		}
		return r
	}

	first := process("first process", 1)
	second := process("second process, same sources", 0)
	if second.Hash != first.Hash || second.Path != first.Path {
		t.Errorf("same sources, different archives: %s %s, then %s %s", first.Path, first.Hash, second.Path, second.Hash)
	}
	write("lib/greeting.txt", "おはよう")
	changed := process("an embedded file of an imported package changed", 1)
	if changed.Hash == first.Hash {
		t.Errorf("a changed program must get a new archive and hash, got %s again", changed.Hash)
	}
	write("lib/lib_test.go", "package lib\n\n// a test file is no part of the program\n")
	write("elsewhere/unused.go", "package elsewhere\n\nvar X = 1\n")
	process("a test file and a package the program does not import changed", 0)
	write("lib/greeting.txt", files["lib/greeting.txt"])
	back := process("the original sources again", 0)
	if back.Hash != first.Hash {
		t.Errorf("the original sources must find their archive %s, got %s", first.Hash, back.Hash)
	}
}
