package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// CLI is a Pulumi CLI binary, validated by the Automation API.
type CLI struct {
	// Path is the binary's absolute path.
	Path    string
	version semver.Version
}

// Version is the CLI's version, as `pulumi version` reported it.
func (c CLI) Version() semver.Version { return c.version }

// CLILocation is where FindCLI looks, in order.
type CLILocation struct {
	// Flag is the value of --pulumi ("" when not given).
	Flag string
	// Env is the value of $PULUMI.
	Env string
	// Dir is the directory whose bin/pulumi is tried next (the working
	// directory: `make pulumi` builds the pinned CLI into the checkout's bin/).
	Dir string
}

// ErrNoCLI is returned when no Pulumi CLI is found.
var ErrNoCLI = errors.New("no Pulumi CLI found")

// FindCLI finds the Pulumi CLI: the --pulumi flag, else $PULUMI, else
// <dir>/bin/pulumi, else pulumi on PATH; the first of these that is set (or,
// for the last two, exists) is taken and validated, never silently skipped.
func FindCLI(at CLILocation) (CLI, error) {
	switch {
	case at.Flag != "":
		return NewCLI(at.Flag, "--pulumi")
	case at.Env != "":
		return NewCLI(at.Env, "PULUMI")
	}
	local := filepath.Join(at.Dir, "bin", "pulumi")
	if _, err := os.Stat(local); err == nil {
		return NewCLI(local, local)
	}
	if p, err := exec.LookPath("pulumi"); err == nil {
		return NewCLI(p, "PATH")
	}
	abs, _ := filepath.Abs(local)
	return CLI{}, fmt.Errorf("%w: looked at --pulumi and $PULUMI (neither set), %s (absent) and PATH (no pulumi). "+
		"Run `make pulumi` in the checkout to build the pinned CLI into bin/pulumi and start the server there, "+
		"or pass --pulumi PATH (or set PULUMI) to an installed Pulumi CLI", ErrNoCLI, abs)
}

// NewCLI validates the CLI at path through auto.NewPulumiCommand: it runs
// `pulumi version` and checks it against the Automation API's minimum
// version. source says where the path came from, for the error.
//
// The Automation API runs either <root>/bin/pulumi or the pulumi on PATH, so
// a path elsewhere cannot be validated and is refused with the fix.
func NewCLI(path, source string) (CLI, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return CLI{}, fmt.Errorf("pulumi CLI %s (from %s): %w", path, source, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return CLI{}, fmt.Errorf("pulumi CLI %s (from %s): %w", abs, source, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return CLI{}, fmt.Errorf("pulumi CLI %s (from %s): not an executable file", abs, source)
	}
	opts := &auto.PulumiCommandOptions{}
	switch {
	case filepath.Base(abs) == "pulumi" && filepath.Base(filepath.Dir(abs)) == "bin":
		opts.Root = filepath.Dir(filepath.Dir(abs))
	case isFirstOnPath(abs):
		// NewPulumiCommand without a root runs the pulumi on PATH: this one.
	default:
		return CLI{}, fmt.Errorf("pulumi CLI %s (from %s): the Automation API validates and runs <root>/bin/pulumi or the pulumi on PATH; "+
			"link it as <dir>/bin/pulumi and give that path, or put its directory first on PATH", abs, source)
	}
	cmd, err := auto.NewPulumiCommand(opts)
	if err != nil {
		return CLI{}, fmt.Errorf("pulumi CLI %s (from %s): %w", abs, source, err)
	}
	return CLI{Path: abs, version: cmd.Version()}, nil
}

func isFirstOnPath(abs string) bool {
	p, err := exec.LookPath("pulumi")
	if err != nil {
		return false
	}
	found, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	a, errA := filepath.EvalSymlinks(abs)
	b, errB := filepath.EvalSymlinks(found)
	return errA == nil && errB == nil && a == b
}
