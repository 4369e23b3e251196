// Package lambdapkg builds the project's Go Lambda handlers into deployment
// archives, reproducibly: the same source gives a byte-identical zip, so its
// hash is unchanged and an unchanged function is never redeployed. Every
// function in the project is packaged here.
//
// The binary is built for provided.al2023 on arm64 (Graviton: about 20%
// cheaper per GB-second than x86) with CGO off, -trimpath and no VCS stamp,
// so neither the checkout path nor the commit leaks into the bytes; the zip
// holds one file, `bootstrap`, with a fixed time stamp and mode.
//
// Archives are kept in the user's cache directory under a key of everything
// the build reads (the sources of the package and of the module's packages it
// imports, the versions of the others, go.mod, go.sum, the Go version and
// the target), so `go build` runs once per content, not in every process
// that plans or tests the program.
package lambdapkg

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

// Module is the import path of this repository's module.
const Module = "github.com/cats-analytics/cats-analytics"

// Runtime and Architecture are what every archive is built for.
const (
	Runtime      = "provided.al2023"
	Architecture = "arm64"
	Handler      = "bootstrap" // provided runtimes run the file named bootstrap
)

// zipTime is the modification time of the archive's entry: the zip format's
// epoch, so the archive does not depend on when it was built.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

type result struct {
	path string
	hash string
	err  error
}

var (
	mu    sync.Mutex
	built = map[string]*result{}
	once  = map[string]*sync.Once{}
)

// Build returns the deployment archive of the Go main package pkgPath (an
// import path in this module, e.g. Module+"/functions/aggregator/cmd/aggregator")
// and its hash, the base64-encoded SHA-256 that lambda.FunctionArgs.SourceCodeHash
// expects. A package is looked up once per process, however many stacks or
// test cases ask for it, and built only when no archive of its sources is cached.
func Build(pkgPath string) (pulumi.Archive, string, error) {
	mu.Lock()
	o, ok := once[pkgPath]
	if !ok {
		o = &sync.Once{}
		once[pkgPath] = o
	}
	mu.Unlock()
	o.Do(func() {
		path, hash, err := build(pkgPath)
		mu.Lock()
		built[pkgPath] = &result{path, hash, err}
		mu.Unlock()
	})
	mu.Lock()
	r := built[pkgPath]
	mu.Unlock()
	if r.err != nil {
		return nil, "", r.err
	}
	return pulumi.NewFileArchive(r.path), r.hash, nil
}

// buildEnv is the environment of every go command the package runs: the
// target, and nothing from the caller's GOFLAGS.
func buildEnv() []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH="+Architecture, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
}

// buildArgs are the flags of the build (part of the cache key).
var buildArgs = []string{
	"-trimpath", "-buildvcs=false",
	"-tags", "lambda.norpc", // provided runtimes need no RPC mode
	"-ldflags", "-s -w -buildid=",
}

// builds counts the `go build` runs of this process (the cache's test reads it).
var builds atomic.Int64

// build returns the archive of the package and its hash: from the cache
// when its sources were built before, else compiled, zipped and cached.
func build(pkgPath string) (string, string, error) {
	if !strings.HasPrefix(pkgPath, Module+"/") {
		return "", "", fmt.Errorf("lambdapkg: %q is not a package of %s", pkgPath, Module)
	}
	dir, err := moduleDir()
	if err != nil {
		return "", "", err // it says where it looked and what to set
	}
	key, err := sourceKey(dir, pkgPath)
	if err != nil {
		return "", "", fmt.Errorf("lambdapkg: hash the sources of %s: %w", pkgPath, err)
	}
	cache, err := cacheDir()
	if err != nil {
		return "", "", fmt.Errorf("lambdapkg: cache directory: %w", err)
	}
	path := filepath.Join(cache, pathpkg.Base(pkgPath)+"-"+key+".zip")
	if archive, err := os.ReadFile(path); err == nil && validArchive(archive) {
		return path, archiveHash(archive), nil
	}

	tmp, err := os.MkdirTemp("", "lambdapkg-")
	if err != nil {
		return "", "", fmt.Errorf("lambdapkg: a directory to build %s in: %w", pkgPath, err)
	}
	defer os.RemoveAll(tmp)
	binary := filepath.Join(tmp, Handler)
	cmd := exec.Command("go", append(append([]string{"build"}, buildArgs...), "-o", binary, pkgPath)...)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	builds.Add(1)
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("lambdapkg: build %s for linux/%s: %w\n%s", pkgPath, Architecture, err, stderr.String())
	}
	archive, err := zipBinary(binary)
	if err != nil {
		return "", "", fmt.Errorf("lambdapkg: zip %s: %w", pkgPath, err)
	}
	if err := store(path, archive); err != nil {
		return "", "", fmt.Errorf("lambdapkg: store the archive of %s: %w", pkgPath, err)
	}
	return path, archiveHash(archive), nil
}

// archiveHash is SourceCodeHash: the base64-encoded SHA-256 of the archive.
func archiveHash(archive []byte) string {
	sum := sha256.Sum256(archive)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// validArchive reports whether a cached file is a whole archive of the
// expected shape (a crash between write and rename cannot leave a partial
// one, but a cache directory can be tampered with).
func validArchive(archive []byte) bool {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	return err == nil && len(zr.File) == 1 && zr.File[0].Name == Handler
}

// sourceKey hashes everything the build of pkgPath reads: the Go version
// and target, the build flags, go.mod and go.sum, the files of every
// package of this module the package imports (Go, assembly and embedded
// files, as `go list` selects them for the target), and the module version
// of every other dependency.
func sourceKey(dir, pkgPath string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "lambdapkg archive v1\nGOOS=linux GOARCH=%s CGO_ENABLED=0\n%q\n", Architecture, buildArgs)
	goEnv := exec.Command("go", "env", "GOVERSION", "GOEXPERIMENT", "GOARM64", "GOTOOLCHAIN")
	goEnv.Dir, goEnv.Env = dir, buildEnv()
	env, err := goEnv.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	h.Write(env)
	for _, f := range []string{"go.mod", "go.sum"} {
		// A module without dependencies has no go.sum.
		if err := hashFile(h, dir, f); err != nil && !(f == "go.sum" && errors.Is(err, fs.ErrNotExist)) {
			return "", err
		}
	}
	list := exec.Command("go", "list", "-deps", "-json", "-tags", "lambda.norpc", pkgPath)
	list.Dir, list.Env = dir, buildEnv()
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w\n%s", pkgPath, err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("decode go list: %w", err)
		}
		switch {
		case p.Standard:
			// Part of the Go version.
		case p.Module != nil && (p.Module.Main || p.Module.local()):
			fmt.Fprintf(h, "package %s\n", p.ImportPath)
			files := slices.Concat(p.GoFiles, p.CgoFiles, p.SFiles, p.EmbedFiles)
			slices.Sort(files)
			for _, f := range files {
				if err := hashFile(h, p.Dir, f); err != nil {
					return "", err
				}
			}
		case p.Module != nil:
			m := p.Module
			if m.Replace != nil {
				m = m.Replace
			}
			fmt.Fprintf(h, "dependency %s %s@%s\n", p.ImportPath, m.Path, m.Version)
		default:
			return "", fmt.Errorf("go list: %s belongs to no module", p.ImportPath)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// listedPackage is what sourceKey reads of `go list -json`.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	SFiles     []string
	EmbedFiles []string
	Module     *listedModule
}

type listedModule struct {
	Path, Version string
	Main          bool
	Replace       *listedModule
}

// local reports a module replaced by a directory: no version pins its
// files, so they are hashed like the main module's.
func (m *listedModule) local() bool { return m.Replace != nil && m.Replace.Version == "" }

// hashFile writes a file's name and the SHA-256 of its content to the key.
func hashFile(key io.Writer, dir, name string) error {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	_, err = fmt.Fprintf(key, "file %s %x\n", name, h.Sum(nil))
	return err
}

// zipBinary writes the one-entry archive with everything that could vary
// between builds fixed.
func zipBinary(binary string) ([]byte, error) {
	content, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	header := &zip.FileHeader{Name: Handler, Method: zip.Deflate, Modified: zipTime}
	header.SetMode(0o755) // Lambda must be able to execute bootstrap
	w, err := zw.CreateHeader(header)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(content); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cacheDir is where archives are kept for the rest of the deployment and
// for later processes: the user's cache directory.
func cacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, naming.Project, "lambda")
	return dir, os.MkdirAll(dir, 0o755)
}

// store writes the archive atomically: a process that reads the cache sees
// a whole archive or none. Two processes that build the same sources at once
// write the same bytes.
func store(path string, archive []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(archive); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// ModuleDirEnv names the module's root for programs that run elsewhere (an
// automation server's per-stack workspace); by default the root is found
// from the working directory.
const ModuleDirEnv = "CATS_MODULE_DIR"

// moduleDir finds the module's root: $CATS_MODULE_DIR, else the working
// directory or a parent (`pulumi up` runs the program in the project
// directory, tests in their package's).
func moduleDir() (string, error) {
	dir := os.Getenv(ModuleDirEnv)
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if strings.HasPrefix(string(mod), "module "+Module+"\n") {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("lambdapkg: the working directory is not inside the " + Module + " module; run the program from the project directory or set " + ModuleDirEnv)
		}
		dir = parent
	}
}
