package main

import (
	"cmp"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
	"github.com/cats-analytics/cats-analytics/automation/jobs"
	"github.com/cats-analytics/cats-analytics/automation/runner"
	"github.com/cats-analytics/cats-analytics/automation/server"
	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/platform"
	"github.com/cats-analytics/cats-analytics/policy/rules"
	"github.com/cats-analytics/cats-analytics/standin"
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

// defaultDriftSchedule checks every stack of both environments once a day.
const defaultDriftSchedule = "dev=24h,prod=24h"

// ServeOptions are the server's settings.
type ServeOptions struct {
	DataDir string
	// Database is the server's PostgreSQL database (a postgres:// URL),
	// shared by its replicas; empty: SQLite in DataDir, one server.
	Database    string
	Addr        string
	Concurrency int
	Backend     string // state backend; file://<data>/state by default
	CLI         runner.CLI
	Passphrase  string
	Project     string
	Program     func(stack string) pulumi.RunFunc
	Planner     jobs.Planner // nil: the platform program under mocks, with PolicyConfig
	// BaseConfig is set on every stack under the municipality's own config.
	BaseConfig map[string]string
	// Cloud is runner.CloudAWS (the real AWS provider; the default) or
	// runner.CloudStandin (the stand-in plugins in StandinPlugins).
	Cloud          string
	StandinPlugins string
	// PolicyPack is the policy pack binary every preview and up runs with;
	// the server does not start without one.
	PolicyPack string
	// PolicyConfig is a policy pack config (the JSON --policy-pack-config
	// takes) applied to every plan, preview and up; nil keeps the rules'
	// own levels and settings.
	PolicyConfig []byte
	// RetryBase is the delay before the first retry of a transient failure (5 s when zero).
	RetryBase time.Duration
	// OrphanWait bounds the wait, at start, for the CLIs of a killed server to
	// stop by themselves before they are killed (1 minute when zero).
	OrphanWait time.Duration
	// LeaseTTL is how long a replica is taken for alive after its last
	// heartbeat (15 s when zero).
	LeaseTTL time.Duration
	Logger   *slog.Logger
	// Ready is called with the listening address once the server accepts requests.
	Ready func(addr string)
	// Version is the program version the server deploys (fleet.Version()
	// when empty): rollouts record it, and each stack the one it last deployed.
	Version string
	// DriftSchedule is how often each environment's stacks are checked for
	// drift (none when empty); DriftBatch bounds the checks in flight.
	DriftSchedule map[string]time.Duration
	DriftBatch    int
	// FleetTick is how often the fleet controller looks at rollouts and the
	// drift schedule (5 s when zero).
	FleetTick time.Duration
	// QueueCaps bound the queued jobs of one stack and of one token
	// (server.DefaultQueuedPerStack, server.DefaultQueuedPerToken when zero).
	QueueCaps store.QueueCaps
	// TrustForwardedProto: the server is behind a TLS-terminating proxy that
	// sets X-Forwarded-Proto (console session cookies are then Secure).
	TrustForwardedProto bool
	// MetricsAddr, when set, serves /metrics there without authentication
	// (for a scraper on loopback or a private network); on Addr, /metrics
	// takes the platform team's token.
	MetricsAddr string
	// Limits are the HTTP server's connection limits (server.DefaultLimits
	// when zero).
	Limits server.Limits
}

const serveHelp = `usage: cats serve [--data DIR] [--database URL] [--addr HOST:PORT] [--concurrency N] [--backend URL] [--pulumi PATH]
                  [--policy-pack PATH] [--policy-config FILE] [--cloud aws|standin] [--standin-plugins DIR]
                  [--drift-schedule ENV=INTERVAL,...] [--drift-batch N]

Runs the automation server (on Linux): one Pulumi stack per municipality,
operated by durable jobs (plan offline; preview, up, refresh and destroy
through the Pulumi CLI), and its web console at / (sign in with a token).
Stop it with ^C: running operations are interrupted and queued again for the
next start.

Every preview and up runs with the project's policy pack, and an up runs only
after a preview with it found no mandatory violation. The pack is the first of
  --policy-pack PATH, $CATS_POLICY_PACK, ./bin/cats-policy (` + "`make policy`" + ` builds it)
and the server does not start without it. --policy-config FILE (the JSON
` + "`pulumi --policy-pack-config`" + ` takes, e.g. {"log-group-retention": {"enforcementLevel":
"mandatory", "minimumRetentionDays": 400}}) applies to every plan, preview and
up; an unknown rule or level stops the server at start.

--cloud standin deploys to the stand-in cloud: provider plugins that keep
resources in <data>/standin and create nothing in AWS (standin/README.md).
They are taken from --standin-plugins DIR, else $CATS_STANDIN_PLUGINS, else the
standin/ directory beside the Pulumi CLI (bin/standin: ` + "`make standin`" + `).
The default, --cloud aws, runs the real AWS provider and needs AWS credentials.

Fleet operations: rollouts (POST /v1/rollouts) deploy the version of the program
this server was built from (its VCS revision, or the version set with -ldflags
-X github.com/cats-analytics/cats-analytics/automation/fleet.version=…). Every
stack is checked for drift (pulumi refresh --preview-only) on the schedule of
its environment, --drift-schedule (default ` + defaultDriftSchedule + `), at most
--drift-batch checks at once, never beside another job of the same stack. With
several replicas on one database, one at a time runs the rollouts and the
schedule (a lease row).

The Pulumi CLI is the first of these that is set or exists (never built here):
  --pulumi PATH      a CLI named pulumi in a bin/ directory, or the pulumi on PATH
  $PULUMI            the same, from the environment
  ./bin/pulumi       in the working directory: run ` + "`make pulumi`" + ` in the checkout to
                     build the pinned CLI there, and start the server from the checkout
  pulumi on PATH
It is checked at start (` + "`pulumi version`" + ` against the Automation API's minimum).

Several replicas: start each with the same --database postgres://… (the jobs,
municipalities, events, tokens and audit log), the same --backend postgres://…
(Pulumi's state, so any replica runs any stack), the same CATS_PASSPHRASE, and
its own --data directory and --addr. Each replica runs up to --concurrency
operations; one stack's operations run one at a time, in order, on whichever
replica. A replica that dies is noticed by the others when its lease expires:
its running jobs fail with the reason interrupted and its queued ones run on
the survivors.

Environment:
  CATS_DATABASE_URL  the PostgreSQL database when --database is not given
  CATS_PASSPHRASE    protects the stacks' secrets (required; or PULUMI_CONFIG_PASSPHRASE)
  CATS_DATA          the data directory when --data is not given
  PULUMI             the Pulumi CLI when --pulumi is not given
  CATS_POLICY_PACK   the policy pack when --policy-pack is not given
  CATS_STANDIN_PLUGINS  the stand-in plugins when --standin-plugins is not given

Flags:
`

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cats serve", flag.ContinueOnError)
	quiet(fs)
	data := fs.String("data", dataDir(getenv), "data directory: SQLite database, state backend, workspaces ($CATS_DATA, else "+defaultDataDir+")")
	database := fs.String("database", getenv(databaseEnv), databaseUsage)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	concurrency := fs.Int("concurrency", 4, "operations this replica runs at once across all stacks")
	backend := fs.String("backend", "", "state backend URL (default file://<data>/state)")
	cliPath := fs.String("pulumi", "", "the Pulumi CLI (default $PULUMI, else ./bin/pulumi, else pulumi on PATH)")
	metricsAddr := fs.String("metrics-addr", "", "also serve /metrics here, without a token (loopback or a private network only); on --addr it takes the platform token")
	trustProto := fs.Bool("trust-forwarded-proto", false, "behind a TLS-terminating proxy: take X-Forwarded-Proto: https as TLS (Secure session cookies)")
	packPath := fs.String("policy-pack", "", "the policy pack binary (default $CATS_POLICY_PACK, else ./"+runner.PolicyPackFile+")")
	policyConfig := fs.String("policy-config", "", "policy pack config applied to every plan, preview and up (the JSON --policy-pack-config takes)")
	driftSchedule := fs.String("drift-schedule", defaultDriftSchedule, "how often each environment's stacks are checked for drift, ENV=INTERVAL,… (\"\" for never)")
	driftBatch := fs.Int("drift-batch", 4, "drift checks queued or running at once")
	queuedPerStack := fs.Int("max-queued-per-stack", server.DefaultQueuedPerStack, "jobs one stack may have queued; beyond it a new job gets 429")
	queuedPerToken := fs.Int("max-queued-per-token", server.DefaultQueuedPerToken, "jobs one token may have queued across its stacks; beyond it a new job gets 429")
	cloud := fs.String("cloud", runner.CloudAWS, "where resources go: aws (the real AWS provider) or standin (the stand-in plugins: nothing is created in AWS)")
	standinPlugins := fs.String("standin-plugins", "", "directory of the stand-in plugins with --cloud standin (default $CATS_STANDIN_PLUGINS, else standin/ beside the Pulumi CLI)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, serveHelp, fs)
		}
		return fmt.Errorf("%w (see cats serve --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cats serve takes no arguments, got %v (see cats serve --help)", fs.Args())
	}
	if err := checkDatabaseURL(*database); err != nil {
		return err
	}
	if *concurrency <= 0 {
		return fmt.Errorf("--concurrency %d: give the number of operations this replica may run at once, 1 or more", *concurrency)
	}
	if *queuedPerStack < 1 {
		return fmt.Errorf("--max-queued-per-stack %d: give the jobs a stack may have queued, 1 or more", *queuedPerStack)
	}
	if *queuedPerToken < 1 {
		return fmt.Errorf("--max-queued-per-token %d: give the jobs a token may have queued, 1 or more", *queuedPerToken)
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
	pack, err := runner.FindPolicyPack(runner.Location{Flag: *packPath, Env: getenv("CATS_POLICY_PACK"), Dir: wd})
	if err != nil {
		return err
	}
	var policy []byte
	if *policyConfig != "" {
		if policy, err = os.ReadFile(*policyConfig); err != nil {
			return fmt.Errorf("--policy-config: %w", err)
		}
	}
	schedule, err := fleet.ParseSchedule(*driftSchedule)
	if err != nil {
		return fmt.Errorf("--drift-schedule: %w", err)
	}
	if *driftBatch < 1 {
		return fmt.Errorf("--drift-batch %d: at least 1 check must be allowed in flight", *driftBatch)
	}
	plugins := ""
	if *cloud == runner.CloudStandin {
		plugins = cmp.Or(*standinPlugins, getenv("CATS_STANDIN_PLUGINS"), filepath.Join(filepath.Dir(cli.Path), "standin"))
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	return Serve(ctx, ServeOptions{
		DataDir: abs, Database: *database, Addr: *addr, Concurrency: *concurrency, Backend: *backend, CLI: cli,
		Cloud: *cloud, StandinPlugins: plugins, PolicyPack: pack, PolicyConfig: policy,
		Passphrase: passphrase, Project: config.Project,
		Program:       func(string) pulumi.RunFunc { return platform.Program },
		BaseConfig:    baseConfig(),
		DriftSchedule: schedule, DriftBatch: *driftBatch,
		QueueCaps: store.QueueCaps{PerStack: *queuedPerStack, PerToken: *queuedPerToken},
		Logger:    logger,
		Ready: func(addr string) {
			logger.Info("listening", "addr", addr, "data", abs, "database", databaseKind(*database), "pulumi", cli.Path, "pulumiVersion", cli.Version().String(),
				"cloud", cmp.Or(*cloud, runner.CloudAWS), "policyPack", pack, "policyConfig", *policyConfig)
		},
		TrustForwardedProto: *trustProto,
		MetricsAddr:         *metricsAddr,
	})
}

// cloudSetup checks the cloud a server deploys to and returns how the runner
// reaches it: for the stand-in, its plugins first on the CLI's PATH and its
// directory under the data directory; for AWS, nothing (no PATH change).
func cloudSetup(o ServeOptions) (pluginDirs []string, env map[string]string, err error) {
	switch o.Cloud {
	case "", runner.CloudAWS:
		return nil, nil, nil
	case runner.CloudStandin:
	default:
		return nil, nil, fmt.Errorf("--cloud %q: use %s (the real AWS provider) or %s (the stand-in plugins: nothing is created in AWS)",
			o.Cloud, runner.CloudAWS, runner.CloudStandin)
	}
	if o.StandinPlugins == "" {
		return nil, nil, errors.New("--cloud standin needs the stand-in plugins' directory (--standin-plugins)")
	}
	dir, err := filepath.Abs(o.StandinPlugins)
	if err != nil {
		return nil, nil, fmt.Errorf("the stand-in plugins' directory %s: %w", o.StandinPlugins, err)
	}
	for _, p := range standin.Plugins {
		if _, err := runner.CheckExecutable(filepath.Join(dir, p), "the stand-in plugins' directory"); err != nil {
			return nil, nil, fmt.Errorf("--cloud standin: %w; run `make standin` to build the stand-in plugins into bin/standin, "+
				"or pass --standin-plugins DIR", err)
		}
	}
	state := filepath.Join(o.DataDir, "standin")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create the stand-in cloud's directory %s: %w", state, err)
	}
	return []string{dir}, map[string]string{standin.DirEnv: state}, nil
}

// policySetup checks the policy pack and the policy config, and writes the
// config into the data directory: the CLI reads that copy, so a plan and a
// preview always apply the same, checked config, even if the original file
// changes while the server runs.
func policySetup(o ServeOptions) (pack, configFile string, config map[string]rules.PolicyConfig, err error) {
	if o.PolicyPack == "" {
		return "", "", nil, fmt.Errorf("%w: every preview and up runs with the project's policy pack; run `make policy` or pass --policy-pack",
			runner.ErrNoPolicyPack)
	}
	if pack, err = runner.CheckExecutable(o.PolicyPack, "--policy-pack"); err != nil {
		return "", "", nil, fmt.Errorf("the policy pack: %w", err)
	}
	if o.PolicyConfig == nil {
		return pack, "", nil, nil
	}
	if config, err = parsePolicyConfig(o.PolicyConfig); err != nil {
		return "", "", nil, fmt.Errorf("--policy-config: %w", err)
	}
	configFile = filepath.Join(o.DataDir, "policy-config.json")
	if err := os.WriteFile(configFile, o.PolicyConfig, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("keep the policy config in the data directory: %w", err)
	}
	return pack, configFile, config, nil
}

// baseConfig is the configuration every stack the server runs gets under its
// municipality's own: the region, which the AWS provider reads.
func baseConfig() map[string]string {
	return map[string]string{config.RegionKey: config.DefaultRegion}
}

func pluginFiles(dirs []string) []string {
	var files []string
	for _, d := range dirs {
		for _, p := range standin.Plugins {
			files = append(files, filepath.Join(d, p))
		}
	}
	return files
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
		o.Backend = fileBackend(state)
	}
	// On SQLite this server is the only one of its data directory; on
	// PostgreSQL, replicas share the database and each has its own directory.
	unlock, err := store.LockServer(o.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	pluginDirs, cloudEnv, err := cloudSetup(o)
	if err != nil {
		return err
	}
	pack, policyConfig, policy, err := policySetup(o)
	if err != nil {
		return err
	}
	if o.Planner == nil {
		o.Planner = newPlanner(policy)
	}
	cloud := cmp.Or(o.Cloud, runner.CloudAWS)
	if cloud == runner.CloudStandin {
		o.Logger.Warn("cloud=standin: the stand-in AWS provider plugins serve every preview, up, refresh and destroy; nothing is created in AWS",
			"cloud", cloud, "plugins", pluginDirs[0], "standinDir", cloudEnv[standin.DirEnv])
	}
	st, err := openDatabase(ctx, o.Database, o.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	stacks := &runner.Stacks{Project: o.Project, Program: o.Program, CLI: o.CLI, WorkDir: o.DataDir, Backend: o.Backend, Passphrase: o.Passphrase,
		Cloud: cloud, PluginDirs: pluginDirs, Env: cloudEnv, PolicyPack: pack, PolicyConfig: policyConfig}
	registry := prometheus.NewRegistry()
	var fleetMetrics *fleet.Metrics // set below; the queue reports to it as jobs end
	// Every job's log lines say which cloud served it.
	queue, err := jobs.New(ctx, jobs.Config{Store: st, Runner: stacks, Planner: o.Planner, Logger: o.Logger.With("cloud", cloud),
		Concurrency: o.Concurrency, BaseConfig: o.BaseConfig, RetryBase: o.RetryBase, OrphanWait: o.OrphanWait,
		LeaseTTL: o.LeaseTTL, Exclusive: !st.Postgres(),
		OnFinish: func(j store.Job) {
			if fleetMetrics != nil {
				fleetMetrics.ObserveJob(j)
			}
		}})
	if err != nil {
		return fmt.Errorf("create the job queue: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped { // an error before the end: hand the jobs back all the same
			_ = queue.Stop(context.WithoutCancel(ctx))
		}
	}()
	costs, err := newStackCosts(o.BaseConfig)
	if err != nil {
		return err
	}
	controller, err := fleet.New(fleet.Config{Store: st, Queue: queue, Logger: o.Logger.With("component", "fleet"), Version: o.Version,
		DriftEvery: o.DriftSchedule, DriftBatch: o.DriftBatch, Tick: o.FleetTick, Cost: costs.Estimate})
	if err != nil {
		return err
	}
	fleetMetrics = fleet.NewMetrics(registry, controller)
	if _, err := queue.Recover(ctx); err != nil {
		return fmt.Errorf("recover interrupted jobs: %w", err)
	}
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("start the job queue: %w", err)
	}
	// The fleet controller runs on every replica; the lease row lets one act.
	fleetCtx, stopFleet := context.WithCancel(context.WithoutCancel(ctx))
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- controller.Run(fleetCtx) }()
	defer func() {
		stopFleet()
		<-fleetDone
	}()
	handler := server.NewServer(server.Deps{
		Municipalities: st,
		Jobs:           st,
		Tokens:         st,
		AuditLog:       st,
		Sessions:       st,
		JobEvents:      st,
		Queue:          queue,
		Fleet:          controller,
		Registry:       registry,
		Logger:         o.Logger,
		ValidateConfig: func(stack string, values map[string]string) error {
			_, err := config.Parse(config.DefaultOrganization, o.Project, stack, config.FromMap(values))
			return err
		},
		Ready: func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return err
			}
			for _, file := range append([]string{o.CLI.Path, pack}, pluginFiles(pluginDirs)...) {
				if _, err := os.Stat(file); err != nil {
					return fmt.Errorf("check the files every operation needs: %w", err)
				}
			}
			return nil
		},
		TrustForwardedProto: o.TrustForwardedProto,
		QueueCaps:           o.QueueCaps,
	})
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	limits := o.Limits
	if limits == (server.Limits{}) {
		limits = server.DefaultLimits
	}
	srv := server.NewHTTPServer(handler, limits)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if o.MetricsAddr != "" {
		mln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen on %s (--metrics-addr): %w", o.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", server.MetricsHandler(registry))
		msrv := server.NewHTTPServer(mux, limits)
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
		o.Logger.Info("metrics without a token", "addr", mln.Addr().String())
	}
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
	stopped = true
	if err := queue.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stop the job queue: %w", err)
	}
	return nil
}

// databaseKind names the server's database for its log, without credentials.
func databaseKind(database string) string {
	if database == "" {
		return "sqlite"
	}
	return "postgres"
}

// fileBackend is the URL of the file state backend in dir. metadata=skip
// tells the backend's blob library (gocloud.dev fileblob) not to keep a
// ".attrs" file beside each state file: it writes that file in place
// (truncate, then write), so a CLI killed at that moment, or a reader
// between the two steps, leaves or sees an empty one, and every later read of
// the stack's checkpoint fails with "failed to load checkpoint: EOF". The
// state files themselves are written to a temporary file and renamed, and
// Pulumi needs none of the attributes.
func fileBackend(dir string) string { return "file://" + dir + "?metadata=skip" }
