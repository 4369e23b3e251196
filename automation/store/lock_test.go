package store

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestLockServerKeepsOneServerPerDataDirectory(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockServer(dir)
	if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second server on %s: %v, want ErrDirInUse naming the directory and the first server's pid", dir, err)
	}
	unlock()
	again, err := LockServer(dir)
	if err != nil {
		t.Fatalf("lock after the first server stopped: %v", err)
	}
	again()
}
