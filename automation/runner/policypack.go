package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PolicyPackFile is where `make policy` builds the project's policy pack in
// the checkout (the binary the pull request workflow runs too).
const PolicyPackFile = "bin/cats-policy"

// Location is where a finder looks, in order: a flag, an environment
// variable, then a file under a directory.
type Location struct {
	// Flag is the value of the command-line flag ("" when not given).
	Flag string
	// Env is the value of the environment variable.
	Env string
	// Dir is the directory the default path is relative to (the working
	// directory: `make` builds into the checkout's bin/).
	Dir string
}

// ErrNoPolicyPack is returned when no policy pack binary is found.
var ErrNoPolicyPack = errors.New("no policy pack found")

// FindPolicyPack finds the policy pack binary: the --policy-pack flag, else
// $CATS_POLICY_PACK, else <dir>/bin/cats-policy. The first that is set (or,
// for the last, exists) is taken and checked, never silently skipped.
func FindPolicyPack(at Location) (string, error) {
	switch {
	case at.Flag != "":
		return CheckExecutable(at.Flag, "--policy-pack")
	case at.Env != "":
		return CheckExecutable(at.Env, "CATS_POLICY_PACK")
	}
	local := filepath.Join(at.Dir, PolicyPackFile)
	if _, err := os.Stat(local); err == nil {
		return CheckExecutable(local, local)
	}
	abs, _ := filepath.Abs(local)
	return "", fmt.Errorf("%w: looked at --policy-pack and $CATS_POLICY_PACK (neither set) and %s (absent). "+
		"Every preview and up runs with the project's policy pack: run `make policy` in the checkout "+
		"(go build -o %s ./policy) and start the server there, or pass --policy-pack PATH", ErrNoPolicyPack, abs, PolicyPackFile)
}

// CheckExecutable returns the absolute path of an executable file; source
// says where the path came from, for the error.
func CheckExecutable(path, source string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s (from %s): %w", path, source, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%s (from %s): %w", abs, source, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s (from %s): not an executable file", abs, source)
	}
	return abs, nil
}
