package lambdapkg

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"testing"
)

const aggregator = Module + "/functions/aggregator/cmd/aggregator"

// TestSameSourceSameArchive builds the aggregator twice from scratch (no
// in-process memo) and requires byte-identical archives: otherwise every
// `pulumi up` would redeploy an unchanged function.
func TestSameSourceSameArchive(t *testing.T) {
	path1, hash1, err := build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path1)
	if err != nil {
		t.Fatal(err)
	}
	// Remove the cached copy so the second build must write its own.
	if err := os.Remove(path1); err != nil {
		t.Fatal(err)
	}
	path2, hash2, err := build(aggregator)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(path2)
	if err != nil {
		t.Fatal(err)
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
