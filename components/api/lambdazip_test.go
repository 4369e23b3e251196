package api_test

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/api"
)

// TestBuildGoLambdaIsReproducible packages the real write path twice and
// checks what Lambda's provided.al2023 runtime on arm64 needs: one executable
// named bootstrap, an aarch64 Linux binary, and the same bytes every time (so
// a deployment updates the function only when its code changed).
func TestBuildGoLambdaIsReproducible(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	first, err := api.BuildGoLambda(root, "./functions/catsapi/cmd/catsapi", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	second, err := api.BuildGoLambda(root, "./functions/catsapi/cmd/catsapi", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if first.SHA256 != second.SHA256 {
		t.Errorf("two builds of the same source differ: %s vs %s", first.SHA256, second.SHA256)
	}
	if filepath.Base(first.Path) != "catsapi.zip" {
		t.Errorf("zip named %s, want catsapi.zip", filepath.Base(first.Path))
	}
	zr, err := zip.OpenReader(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" {
		t.Fatalf("zip holds %d entries (first %q), want only bootstrap", len(zr.File), zr.File[0].Name)
	}
	entry := zr.File[0]
	if entry.Mode().Perm()&0o111 == 0 {
		t.Errorf("bootstrap mode %v is not executable: Lambda could not start it", entry.Mode())
	}
	rc, err := entry.Open()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
		t.Errorf("bootstrap is %v %v, want an aarch64 executable (the function runs on arm64)", f.Machine, f.Type)
	}
	if _, err := os.Stat(second.Path); err != nil {
		t.Error(err)
	}
}
