package runner

import "syscall"

// cliProcAttr puts the CLI in its own process group and has the kernel send it
// SIGINT when the server dies.
func cliProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
}
