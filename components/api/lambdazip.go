package api

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// LambdaZip is a Go Lambda packaged for provided.al2023 on arm64.
type LambdaZip struct {
	Path string // the zip, holding one executable named bootstrap
	// SHA256 is the base64 SHA-256 of the zip, as Lambda reports its code hash:
	// the function is updated only when the code really changed.
	SHA256 string
}

// zipTime is the fixed modification time of the zip entry (the zip epoch),
// so the same binary always gives the same zip.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// BuildGoLambda compiles a main package of the module at moduleRoot (pkg is
// its import path or ./relative path) for Lambda's provided.al2023 runtime on
// Graviton (linux/arm64), and zips it as bootstrap into outDir.
//
// The build is reproducible: no cgo, -trimpath, no VCS stamp, an empty build
// id and a fixed entry time in the zip, so the same source and Go toolchain
// give byte-identical zips on any machine.
func BuildGoLambda(moduleRoot, pkg, outDir string) (LambdaZip, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return LambdaZip{}, err
	}
	work, err := os.MkdirTemp("", "cats-lambda-")
	if err != nil {
		return LambdaZip{}, err
	}
	defer os.RemoveAll(work)
	binary := filepath.Join(work, "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-tags", "lambda.norpc", // provided.al2023 talks to the Runtime API; the RPC mode is for go1.x
		"-ldflags", "-s -w -buildid=", "-o", binary, pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return LambdaZip{}, fmt.Errorf("build %s for linux/arm64: %w\n%s", pkg, err, out)
	}
	exe, err := os.ReadFile(binary)
	if err != nil {
		return LambdaZip{}, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	header := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: zipTime}
	header.SetMode(0o755) // Lambda runs bootstrap only if it is executable
	w, err := zw.CreateHeader(header)
	if err != nil {
		return LambdaZip{}, err
	}
	if _, err := w.Write(exe); err != nil {
		return LambdaZip{}, err
	}
	if err := zw.Close(); err != nil {
		return LambdaZip{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	path := filepath.Join(outDir, filepath.Base(pkg)+".zip")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return LambdaZip{}, err
	}
	return LambdaZip{Path: path, SHA256: base64.StdEncoding.EncodeToString(sum[:])}, nil
}
