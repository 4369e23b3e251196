package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
)

// ServeOptions are the server's settings.
type ServeOptions struct {
	DataDir     string
	Addr        string
	Concurrency int
	Backend     string // state backend; file://<data>/state by default
	CLI         string // pulumi binary
	Passphrase  string
	Project     string
	Program     func(stack string) pulumi.RunFunc
	Planner     jobs.Planner
	// BaseConfig is set on every stack under the municipality's own config.
	BaseConfig map[string]string
	// RetryBase is the delay before the first retry of a transient failure (5 s when zero).
	RetryBase time.Duration
	Logger    *slog.Logger
	// Ready is called with the listening address once the server accepts requests.
	Ready func(addr string)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stdout)
	data := fs.String("data", "cats-data", "data directory: SQLite database, state backend, workspaces")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	concurrency := fs.Int("concurrency", 4, "operations running at once across all stacks")
	backend := fs.String("backend", "", "state backend URL (default file://<data>/state)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := serveOptions(getenv, *data, *addr, *concurrency, *backend)
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewJSONHandler(stdout, nil))
	opts.Ready = func(addr string) { opts.Logger.Info("listening", "addr", addr, "data", opts.DataDir) }
	return Serve(ctx, opts)
}

// serveOptions resolves the production settings: the platform program, the
// offline planner, the CLI from tools/ unless PULUMI names another.
func serveOptions(getenv func(string) string, data, addr string, concurrency int, backend string) (ServeOptions, error) {
	passphrase := getenv("CATS_PASSPHRASE")
	if passphrase == "" {
		passphrase = getenv("PULUMI_CONFIG_PASSPHRASE")
	}
	if passphrase == "" {
		return ServeOptions{}, errors.New("set CATS_PASSPHRASE: it protects the stacks' secrets (passphrase secrets provider)")
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return ServeOptions{}, err
	}
	exe, _ := os.Executable()
	root := repoRoot(exe)
	cli, err := runner.FindCLI(getenv, root)
	if err != nil {
		// In a checkout, build the pinned CLI (tools/go.mod) rather than give up.
		script := filepath.Join(root, "scripts", "build-pulumi.sh")
		if _, statErr := os.Stat(script); statErr != nil || getenv("PULUMI") != "" {
			return ServeOptions{}, err
		}
		build := exec.Command("bash", script)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if buildErr := build.Run(); buildErr != nil {
			return ServeOptions{}, fmt.Errorf("%w; building it with %s failed: %v", err, script, buildErr)
		}
		if cli, err = runner.FindCLI(getenv, root); err != nil {
			return ServeOptions{}, err
		}
	}
	return ServeOptions{
		DataDir: abs, Addr: addr, Concurrency: concurrency, Backend: backend, CLI: cli,
		Passphrase: passphrase, Project: config.Project,
		Program:    func(string) pulumi.RunFunc { return platform.Program },
		Planner:    newPlanner(),
		BaseConfig: baseConfig(),
	}, nil
}

// baseConfig is the configuration every stack the server runs gets under its
// municipality's own: the region, which the AWS provider reads.
func baseConfig() map[string]string {
	return map[string]string{config.RegionKey: config.DefaultRegion}
}

// repoRoot guesses the repository from the binary's location (bin/ or a Go
// build cache path yields nothing useful, and FindCLI falls back to PATH).
func repoRoot(exe string) string {
	if exe == "" {
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		if _, err := os.Stat(filepath.Join(wd, "tools", "go.mod")); err == nil {
			return wd
		}
	}
	return filepath.Dir(filepath.Dir(exe))
}

// Serve runs the server until ctx ends, then shuts down gracefully: no new
// requests, running operations interrupted (SIGINT, then SIGKILL) and queued
// again, the database closed.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %s: %w", o.DataDir, err)
	}
	if o.Backend == "" {
		state := filepath.Join(o.DataDir, "state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			return fmt.Errorf("state directory %s: %w", state, err)
		}
		o.Backend = "file://" + state
	}
	unlock, err := store.LockServer(o.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := store.Open(ctx, o.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	run := &runner.Runner{Project: o.Project, Program: o.Program, CLI: o.CLI, WorkDir: o.DataDir, Backend: o.Backend, Passphrase: o.Passphrase}
	queue, err := jobs.New(ctx, jobs.Config{Store: st, Runner: run, Planner: o.Planner, Logger: o.Logger, Concurrency: o.Concurrency, BaseConfig: o.BaseConfig, RetryBase: o.RetryBase})
	if err != nil {
		return err
	}
	if _, err := queue.Recover(ctx); err != nil {
		return err
	}
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	handler := server.NewServer(server.Deps{
		Store:  st,
		Jobs:   queue,
		Logger: o.Logger,
		ValidateConfig: func(stack string, values map[string]string) error {
			_, err := config.Parse(config.DefaultOrganization, o.Project, stack, config.FromMap(values))
			return err
		},
		Ready: func(context.Context) error {
			if _, err := os.Stat(o.CLI); err != nil {
				return fmt.Errorf("pulumi CLI %s: %w", o.CLI, err)
			}
			return nil
		},
	})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx) // streams end with their clients or the timeout
	if err := queue.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stop job queue: %w", err)
	}
	return nil
}
