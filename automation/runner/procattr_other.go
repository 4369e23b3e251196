//go:build unix && !linux

package runner

import "syscall"

// cliProcAttr puts the CLI in its own process group. Other systems have no
// parent-death signal: `cats serve` refuses to run there, and this keeps the
// rest of the cats command (plan, token) building.
func cliProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
