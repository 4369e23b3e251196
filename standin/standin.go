// Package standin is the stand-in cloud: provider plugins named
// pulumi-resource-aws and pulumi-resource-awsx that speak the real provider
// protocol, so the real Pulumi CLI and engine deploy the real program with
// nothing created in AWS. They are a test double, used only when a caller puts
// bin/standin first on the CLI's PATH (README.md beside this file).
//
// This package is what both plugins share: the directory that holds what the
// stand-in has "created" (one file per resource), the drift and failure knobs
// a test turns in that directory, and the versions the plugins report.
package standin

import (
	"errors"
	"fmt"
	"os"
)

// DirEnv names the directory the plugins keep their cloud in. They refuse to
// start without it: a stand-in that forgot what it created would make every
// refresh report the whole stack deleted.
const DirEnv = "CATS_STANDIN_DIR"

// Plugins are the plugin binaries `make standin` builds into bin/standin: a
// CLI that finds them first on its PATH deploys to the stand-in.
var Plugins = []string{"pulumi-resource-aws", "pulumi-resource-awsx"}

// Versions the plugins report: those the program's SDKs ask the engine for
// (their pulumi-plugin.json; a test keeps them in step with go.mod), so the
// engine's default providers are the ones a real deployment would use.
const (
	AWSVersion  = "6.83.4"
	AWSXVersion = "2.22.0"
)

// Prefix starts every log line and error of the plugins: whatever a user
// reads, it says it came from the stand-in.
const Prefix = "standin: "

// Errorf is fmt.Errorf with the stand-in's prefix.
func Errorf(format string, args ...any) error {
	return fmt.Errorf(Prefix+format, args...)
}

// DirFromEnv returns the directory named by CATS_STANDIN_DIR, created if
// missing, or an error that says how to set it.
func DirFromEnv(getenv func(string) string) (string, error) {
	dir := getenv(DirEnv)
	if dir == "" {
		return "", errors.New(Prefix + DirEnv + " is not set: the stand-in AWS plugins keep what they create " +
			"in that directory (nothing is created in AWS); set it to a directory of its own")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", Errorf("create the stand-in directory %s: %w", dir, err)
	}
	return dir, nil
}
