//go:build !unix

package store

import "errors"

// ErrDirInUse is returned by LockServer when another server has the data directory.
var ErrDirInUse = errors.New("data directory in use")

// LockServer is a no-op where flock is not available: run one server per data
// directory there.
func LockServer(string) (unlock func(), err error) { return func() {}, nil }
