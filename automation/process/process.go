// Package process identifies the Pulumi CLI processes the server starts, so
// that after a crash it can find one again and tell it apart from any other
// process that later got the same pid. It reads Linux's /proc: the server
// targets Linux.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Identity names one process for as long as the machine runs: a pid is
// reused, a pid with its start time on one boot of one host is not.
type Identity struct {
	PID int
	// StartTime is when the process started, in clock ticks after boot
	// (field 22 of /proc/<pid>/stat).
	StartTime uint64
	// BootID is the kernel's id of the current boot
	// (/proc/sys/kernel/random/boot_id).
	BootID string
	Host   string
}

func (id Identity) String() string {
	return fmt.Sprintf("pid %d on %s", id.PID, id.Host)
}

// procRoot is where the kernel's process table is mounted.
const procRoot = "/proc"

// Identify returns the identity of a running process (a child of the caller
// that it has not yet waited for, typically).
func Identify(pid int) (Identity, error) {
	stat, err := readStat(pid)
	if err != nil {
		return Identity{}, fmt.Errorf("identify process %d: %w", pid, err)
	}
	boot, err := bootID()
	if err != nil {
		return Identity{}, fmt.Errorf("identify process %d: %w", pid, err)
	}
	host, err := os.Hostname()
	if err != nil {
		return Identity{}, fmt.Errorf("identify process %d: host name: %w", pid, err)
	}
	return Identity{PID: pid, StartTime: stat.startTime, BootID: boot, Host: host}, nil
}

// stat is the part of /proc/<pid>/stat the package reads.
type stat struct {
	state     byte
	startTime uint64
}

// errGone is returned for a pid that no process has.
var errGone = errors.New("no such process")

func readStat(pid int) (stat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return stat{}, errGone
	}
	if err != nil {
		return stat{}, fmt.Errorf("read the process table: %w", err)
	}
	// The command name (field 2) is in parentheses and may itself hold spaces
	// and parentheses: the fields that follow start after the last ')'.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return stat{}, fmt.Errorf("read the process table: malformed stat of pid %d", pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return stat{}, fmt.Errorf("read the process table: malformed stat of pid %d", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("read the process table: start time of pid %d: %w", pid, err)
	}
	return stat{state: fields[0][0], startTime: start}, nil
}

func bootID() (string, error) {
	raw, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read the boot id: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// Status is what can be known now of an identified process.
type Status int

const (
	// Running: the very process is alive on this host and boot.
	Running Status = iota
	// Ended: it has exited (its pid is free, held by another process, or a
	// zombie nobody has reaped yet).
	Ended
	// EndedWithBoot: it ran on an earlier boot of this host, so it ended with
	// the machine, without any chance to clean up.
	EndedWithBoot
	// OnOtherHost: it ran on another host, which this one cannot see.
	OnOtherHost
)

func (s Status) String() string {
	switch s {
	case Running:
		return "running"
	case Ended:
		return "ended"
	case EndedWithBoot:
		return "ended with an earlier boot"
	case OnOtherHost:
		return "on another host"
	}
	return "status " + strconv.Itoa(int(s))
}

// Status reports whether the identified process still runs here.
func (id Identity) Status() (Status, error) {
	host, err := os.Hostname()
	if err != nil {
		return 0, fmt.Errorf("check %s: host name: %w", id, err)
	}
	if host != id.Host {
		return OnOtherHost, nil
	}
	boot, err := bootID()
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", id, err)
	}
	if boot != id.BootID {
		return EndedWithBoot, nil
	}
	s, err := readStat(id.PID)
	if errors.Is(err, errGone) {
		return Ended, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", id, err)
	}
	// Z: exited, waiting for its parent to reap it; X: being removed.
	if s.startTime != id.StartTime || s.state == 'Z' || s.state == 'X' {
		return Ended, nil
	}
	return Running, nil
}

// kill sends SIGKILL to the identified process and to nothing else. The
// handle os.FindProcess returns on Linux is a pidfd: it refers to the process
// that had the pid when it was opened, so checking the identity after opening
// it leaves no window in which the pid could pass to another process.
func (id Identity) kill() error {
	p, err := os.FindProcess(id.PID)
	if err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	defer p.Release()
	status, err := id.Status()
	if err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	if status != Running {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	return nil
}

// Outcome is how Settle left a process.
type Outcome int

const (
	// Exited: the process ended by itself (before or during the wait).
	Exited Outcome = iota
	// Killed: it still ran at the deadline and was killed, so it cleaned up nothing.
	Killed
	// DiedWithMachine: it ran on an earlier boot; it cleaned up nothing.
	DiedWithMachine
	// Unknown: it ran on another host; it was left alone.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Exited:
		return "exited"
	case Killed:
		return "killed"
	case DiedWithMachine:
		return "died with the machine"
	case Unknown:
		return "unknown"
	}
	return "outcome " + strconv.Itoa(int(o))
}

// pollInterval is how often Settle looks at a process it waits for.
const pollInterval = 100 * time.Millisecond

// Settle waits until the identified process has ended, and kills it (that
// process only, verified by its identity) if it still runs at the deadline.
func Settle(ctx context.Context, id Identity, deadline time.Time) (Outcome, error) {
	for {
		status, err := id.Status()
		if err != nil {
			return Unknown, fmt.Errorf("wait for %s: %w", id, err)
		}
		switch status {
		case Ended:
			return Exited, nil
		case EndedWithBoot:
			return DiedWithMachine, nil
		case OnOtherHost:
			return Unknown, nil
		}
		if !time.Now().Before(deadline) {
			return killAndConfirm(id)
		}
		select {
		case <-ctx.Done():
			return Unknown, fmt.Errorf("wait for %s: %w", id, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

func killAndConfirm(id Identity) (Outcome, error) {
	if err := id.kill(); err != nil {
		return Unknown, err
	}
	// A killed process is gone at once; wait the little it takes to be sure.
	for range 50 {
		if status, err := id.Status(); err == nil && status != Running {
			return Killed, nil
		}
		time.Sleep(pollInterval)
	}
	return Unknown, fmt.Errorf("kill %s: it still runs 5 s after SIGKILL", id)
}

// Catches reports whether a running process has a handler for sig (the SigCgt
// mask of /proc/<pid>/status); false when it has ended or cannot be read.
func Catches(pid int, sig syscall.Signal) bool {
	raw, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err == nil && bits&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
