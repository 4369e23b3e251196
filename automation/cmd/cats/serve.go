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
	"path/filepath"
	"runtime"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
)

// defaultDataDir is the data directory of `cats serve` and `cats token` when
// neither --data nor CATS_DATA names one: relative to the working directory,
// under the checkout's ignored .work/ when run there (as `make serve` does).
const defaultDataDir = ".work/cats-data"

// dataDir is the default of the --data flag: $CATS_DATA, else defaultDataDir.
func dataDir(getenv func(string) string) string {
	if d := getenv("CATS_DATA"); d != "" {
		return d
	}
	return defaultDataDir
}

// ServeOptions are the server's settings.
type ServeOptions struct {
	DataDir     string
	Addr        string
	Concurrency int
	Backend     string // state backend; file://<data>/state by default
	CLI         runner.CLI
	Passphrase  string
	Project     string
	Program     func(stack string) pulumi.RunFunc
	Planner     jobs.Planner
	// BaseConfig is set on every stack under the municipality's own config.
	BaseConfig map[string]string
	// RetryBase is the delay before the first retry of a transient failure (5 s when zero).
	RetryBase time.Duration
	// OrphanWait bounds the wait, at start, for the CLIs of a killed server to
	// stop by themselves before they are killed (1 minute when zero).
	OrphanWait time.Duration
	Logger     *slog.Logger
	// Ready is called with the listening address once the server accepts requests.
	Ready func(addr string)
	// TrustForwardedProto: the server is behind a TLS-terminating proxy that
	// sets X-Forwarded-Proto (console session cookies are then Secure).
	TrustForwardedProto bool
}

const serveHelp = `usage: cats serve [--data DIR] [--addr HOST:PORT] [--concurrency N] [--backend URL] [--pulumi PATH]

Runs the automation server (on Linux): one Pulumi stack per municipality,
operated by durable jobs (plan offline; preview, up, refresh and destroy
through the Pulumi CLI), and its web console at / (sign in with a token).
Stop it with ^C: running operations are interrupted and queued again for the
next start.

The Pulumi CLI is the first of these that is set or exists (never built here):
  --pulumi PATH      a CLI named pulumi in a bin/ directory, or the pulumi on PATH
  $PULUMI            the same, from the environment
  ./bin/pulumi       in the working directory: run ` + "`make pulumi`" + ` in the checkout to
                     build the pinned CLI there, and start the server from the checkout
  pulumi on PATH
It is checked at start (` + "`pulumi version`" + ` against the Automation API's minimum).

Environment:
  CATS_PASSPHRASE    protects the stacks' secrets (required; or PULUMI_CONFIG_PASSPHRASE)
  CATS_DATA          the data directory when --data is not given
  PULUMI             the Pulumi CLI when --pulumi is not given

Flags:
`

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cats serve", flag.ContinueOnError)
	quiet(fs)
	data := fs.String("data", dataDir(getenv), "data directory: SQLite database, state backend, workspaces ($CATS_DATA, else "+defaultDataDir+")")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	concurrency := fs.Int("concurrency", 4, "operations running at once across all stacks")
	backend := fs.String("backend", "", "state backend URL (default file://<data>/state)")
	cliPath := fs.String("pulumi", "", "the Pulumi CLI (default $PULUMI, else ./bin/pulumi, else pulumi on PATH)")
	trustProto := fs.Bool("trust-forwarded-proto", false, "behind a TLS-terminating proxy: take X-Forwarded-Proto: https as TLS (Secure session cookies)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, serveHelp, fs)
		}
		return fmt.Errorf("%w (see cats serve --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cats serve takes no arguments, got %v (see cats serve --help)", fs.Args())
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("cats serve runs on Linux, not %s: it finds its Pulumi CLI processes again through /proc after a crash, "+
			"and has the kernel interrupt them when the server dies", runtime.GOOS)
	}
	passphrase := getenv("CATS_PASSPHRASE")
	if passphrase == "" {
		passphrase = getenv("PULUMI_CONFIG_PASSPHRASE")
	}
	if passphrase == "" {
		return errors.New("set CATS_PASSPHRASE: it protects the stacks' secrets (passphrase secrets provider)")
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", *data, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("find the working directory: %w", err)
	}
	cli, err := runner.FindCLI(runner.CLILocation{Flag: *cliPath, Env: getenv("PULUMI"), Dir: wd})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	return Serve(ctx, ServeOptions{
		DataDir: abs, Addr: *addr, Concurrency: *concurrency, Backend: *backend, CLI: cli,
		Passphrase: passphrase, Project: config.Project,
		Program:    func(string) pulumi.RunFunc { return platform.Program },
		Planner:    newPlanner(),
		BaseConfig: baseConfig(),
		Logger:     logger,
		Ready: func(addr string) {
			logger.Info("listening", "addr", addr, "data", abs, "pulumi", cli.Path, "pulumiVersion", cli.Version().String())
		},
		TrustForwardedProto: *trustProto,
	})
}

// baseConfig is the configuration every stack the server runs gets under its
// municipality's own: the region, which the AWS provider reads.
func baseConfig() map[string]string {
	return map[string]string{config.RegionKey: config.DefaultRegion}
}

// Serve runs the server until ctx ends, then shuts down gracefully: no new
// requests, running operations interrupted (SIGINT, then SIGKILL) and queued
// again, the database closed.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory %s: %w", o.DataDir, err)
	}
	if o.Backend == "" {
		state := filepath.Join(o.DataDir, "state")
		if err := os.MkdirAll(state, 0o700); err != nil {
			return fmt.Errorf("create the state directory %s: %w", state, err)
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
	stacks := &runner.Stacks{Project: o.Project, Program: o.Program, CLI: o.CLI, WorkDir: o.DataDir, Backend: o.Backend, Passphrase: o.Passphrase}
	queue, err := jobs.New(ctx, jobs.Config{Store: st, Runner: stacks, Planner: o.Planner, Logger: o.Logger,
		Concurrency: o.Concurrency, BaseConfig: o.BaseConfig, RetryBase: o.RetryBase, OrphanWait: o.OrphanWait})
	if err != nil {
		return fmt.Errorf("create the job queue: %w", err)
	}
	if _, err := queue.Recover(ctx); err != nil {
		return fmt.Errorf("recover interrupted jobs: %w", err)
	}
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("start the job queue: %w", err)
	}
	handler := server.NewServer(server.Deps{
		Municipalities: st,
		Jobs:           st,
		Tokens:         st,
		AuditLog:       st,
		Sessions:       st,
		Queue:          queue,
		Logger:         o.Logger,
		ValidateConfig: func(stack string, values map[string]string) error {
			_, err := config.Parse(config.DefaultOrganization, o.Project, stack, config.FromMap(values))
			return err
		},
		Ready: func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return err
			}
			if _, err := os.Stat(o.CLI.Path); err != nil {
				return fmt.Errorf("check the Pulumi CLI: %w", err)
			}
			return nil
		},
		TrustForwardedProto: o.TrustForwardedProto,
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
		return fmt.Errorf("stop the job queue: %w", err)
	}
	return nil
}
