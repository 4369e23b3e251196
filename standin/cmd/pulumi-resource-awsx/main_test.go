package main

import (
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/standin"
)

// Without its directory the plugin must not start: the CLI then reports the
// plugin's error, which says what to set.
func TestRefusesToStartWithoutItsDirectory(t *testing.T) {
	t.Setenv(standin.DirEnv, "")
	err := run()
	if err == nil || !strings.Contains(err.Error(), standin.DirEnv) || !strings.Contains(err.Error(), "nothing is created in AWS") {
		t.Fatalf("the stand-in must refuse to start without %s, saying so: %v", standin.DirEnv, err)
	}
}
