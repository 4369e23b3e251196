package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/blang/semver"

	"github.com/cats-analytics/cats-analytics/automation/process"
)

// interruptGrace is how long an interrupted CLI has to stop before it is
// killed, as in the Automation API's own command.
const interruptGrace = 10 * time.Second

// command runs the CLI for the Automation API (it implements
// auto.PulumiCommand) as the SDK's own command does (--non-interactive,
// PULUMI_AUTOMATION_API=true, the CLI's directory first on PATH, SIGINT on
// cancellation (as soon as the CLI handles it, see interruptWhenListening)
// and SIGKILL 10 s later), and besides:
//   - it reports each CLI process it starts, so the job can record which
//     process may hold the stack's lock;
//   - the CLI runs in its own process group, so a terminal's ^C reaches only
//     the server, which interrupts its CLIs once (a second SIGINT would make
//     the CLI stop at once, leaving its lock and its state unfinished);
//   - on Linux the CLI gets SIGINT when the server dies (the parent-death
//     signal), so it stops as on a cancellation and releases its own lock.
//     (The pinned CLI can hang instead when the interrupt arrives just as its
//     update ends, its state already saved: its cancellation scope reports
//     the interrupt to a display that has stopped reading. Recovery's bounded
//     wait then kills it and releases the lock; a cancellation kills it after
//     the grace and does the same.);
//   - its output goes to files, not pipes: a CLI whose server died would
//     otherwise die of SIGPIPE at its next line of output, before it releases
//     its lock;
//   - it starts with SIGINT ignored (see startWithInterruptIgnored).
type command struct {
	cli CLI
	// pathFirst go first on the CLI's PATH, before its own directory.
	pathFirst []string
	// onStart is told of each process started, or why it could not be
	// identified (nil: nobody listens).
	onStart func(process.Identity, error)
	// grace is how long an interrupted CLI has to stop (interruptGrace when zero).
	grace time.Duration
	// killed is set when a process did not exit by itself (SIGKILL after the
	// grace, or any signal from elsewhere): it cleaned nothing up, its lock
	// included.
	killed atomic.Bool
}

func (c *command) Version() semver.Version { return c.cli.version }

func (c *command) Run(ctx context.Context, workdir string, stdin io.Reader,
	additionalOutput, additionalErrorOutput []io.Writer, additionalEnv []string, args ...string,
) (string, string, int, error) {
	stdout, err := newOutputFile(additionalOutput)
	if err != nil {
		return "", "", unknownExitCode, fmt.Errorf("run pulumi %s: %w", firstArg(args), err)
	}
	defer stdout.close()
	stderr, err := newOutputFile(additionalErrorOutput)
	if err != nil {
		return "", "", unknownExitCode, fmt.Errorf("run pulumi %s: %w", firstArg(args), err)
	}
	defer stderr.close()

	cmd := exec.CommandContext(ctx, shell, append([]string{"-c", startWithInterruptIgnored, c.cli.Path}, withNonInteractiveArg(args)...)...)
	cmd.Dir = workdir
	env := append(os.Environ(), additionalEnv...)
	env = append(env, "PULUMI_AUTOMATION_API=true")
	cmd.Env = withPathFirst(env, append(slices.Clone(c.pathFirst), filepath.Dir(c.cli.Path))...)
	cmd.Stdin = stdin
	cmd.Stdout, cmd.Stderr = stdout.file, stderr.file
	cmd.SysProcAttr = cliProcAttr()
	exited := make(chan struct{})
	cmd.Cancel = func() error {
		go interruptWhenListening(cmd.Process, exited)
		return nil
	}
	cmd.WaitDelay = cmp.Or(c.grace, interruptGrace)

	code, err := c.start(cmd, stdout, stderr)
	close(exited)
	return stdout.String(), stderr.String(), code, err
}

// interruptWhenListening sends the CLI SIGINT once it handles it. Started
// with SIGINT ignored, the CLI has a handler for it (SigCgt) only while its
// update's cancellation scope asks for it; an interrupt sent before (a
// cancellation in its first moments) would be lost and the CLI killed at the
// end of the grace, its lock held. One interrupt is sent: a second would make
// it stop at once. A command that never asks (stack select,
// config) finishes by itself or is killed at the end of the grace.
func interruptWhenListening(p *os.Process, exited <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if process.Catches(p.Pid, syscall.SIGINT) {
			_ = p.Signal(os.Interrupt)
			return
		}
		select {
		case <-exited:
			return
		case <-tick.C:
		}
	}
}

// shell starts the CLI (POSIX guarantees it on every Linux).
const shell = "/bin/sh"

// startWithInterruptIgnored runs the CLI ($0) with SIGINT ignored: exec keeps
// an ignored signal ignored, and the Go runtime leaves it so until the
// program asks for it. The CLI asks for SIGINT only while an update runs (its
// cancellation scope) and ignores it again when the update ends. An interrupt
// that arrives as an update ends therefore cannot kill the CLI before it has
// written its state and released the stack's lock. That happens: when the
// server dies, the parent-death signal races the end of the update that the
// loss of the server's inline program causes, and a cancellation can race an
// update that is just finishing. Outside an update the CLI runs short
// commands (stack select, config), which finish or are killed after the grace.
const startWithInterruptIgnored = `trap '' INT; exec "$0" "$@"`

// start runs cmd to its end. The parent-death signal is sent when the thread
// that started the process exits, not the process: the goroutine stays on its
// thread until the CLI has exited, so no thread exit of the Go runtime can
// interrupt a CLI whose server still runs.
func (c *command) start(cmd *exec.Cmd, outputs ...*outputFile) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return unknownExitCode, fmt.Errorf("start pulumi: %w", err)
	}
	if c.onStart != nil {
		c.onStart(process.Identify(cmd.Process.Pid))
	}
	stop := make(chan struct{})
	var copying sync.WaitGroup
	for _, o := range outputs {
		copying.Go(func() { o.follow(stop) })
	}
	err := cmd.Wait()
	close(stop)
	copying.Wait()

	// A CLI that exits by itself, even on an interrupt, returns a status; one
	// ended by a signal cleaned nothing up.
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.killed.Store(true)
		}
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitCode(), err
	}
	return unknownExitCode, err
}

// unknownExitCode is the code reported when the CLI's status is unknown, as
// in the Automation API.
const unknownExitCode = -2

// outputFile is an unlinked temporary file that receives one of the CLI's
// output streams; it survives the server, and leaves nothing on disk.
type outputFile struct {
	file    *os.File
	writers []io.Writer // followers of the output as it is written
	read    int64       // bytes passed to the writers
}

func newOutputFile(writers []io.Writer) (*outputFile, error) {
	f, err := os.CreateTemp("", "pulumi-output-")
	if err != nil {
		return nil, fmt.Errorf("create an output file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("unlink the output file: %w", err)
	}
	return &outputFile{file: f, writers: writers}, nil
}

// follow passes new output to the writers until stop, then the rest. It reads
// with ReadAt: the file's offset is shared with the CLI, which writes at it.
func (o *outputFile) follow(stop <-chan struct{}) {
	if len(o.writers) == 0 {
		return
	}
	w := io.MultiWriter(o.writers...)
	buf := make([]byte, 32<<10)
	drain := func() {
		for {
			n, err := o.file.ReadAt(buf, o.read)
			if n > 0 {
				_, _ = w.Write(buf[:n])
				o.read += int64(n)
			}
			if err != nil || n == 0 {
				return
			}
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			drain()
			return
		case <-tick.C:
			drain()
		}
	}
}

// String returns everything written to the file.
func (o *outputFile) String() string {
	info, err := o.file.Stat()
	if err != nil {
		return ""
	}
	b := make([]byte, info.Size())
	n, _ := o.file.ReadAt(b, 0)
	return string(b[:n])
}

func (o *outputFile) close() { o.file.Close() }

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// withNonInteractiveArg makes every command fail rather than prompt (and hang).
func withNonInteractiveArg(args []string) []string {
	own := args
	if i := slices.Index(args, "--"); i >= 0 {
		own = args[:i]
	}
	if slices.Contains(own, "--non-interactive") {
		return args
	}
	return append([]string{"--non-interactive"}, args...)
}

// withPathFirst puts dirs first on the PATH of env, in order, so the CLI
// finds the plugins installed there (the stand-in's, its own directory's).
// The last PATH of env is the one the process gets (os/exec keeps the last
// of duplicate keys), so that is the one extended.
func withPathFirst(env []string, dirs ...string) []string {
	out := slices.Clone(env)
	dir := strings.Join(dirs, string(os.PathListSeparator))
	for i := len(out) - 1; i >= 0; i-- {
		if old, ok := strings.CutPrefix(out[i], "PATH="); ok {
			if old != "" {
				dir += string(os.PathListSeparator) + old
			}
			out[i] = "PATH=" + dir
			return out
		}
	}
	return append(out, "PATH="+dir)
}
