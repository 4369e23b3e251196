//go:build !unix

package store

// LockServer is a no-op where flock is not available: run one server per data
// directory there.
func LockServer(string) (unlock func(), err error) { return func() {}, nil }
