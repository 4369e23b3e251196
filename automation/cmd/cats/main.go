// Command cats operates cats-analytics stacks.
//
//	cats plan --stack dev [--json] [--state-out FILE] [--policy-config FILE]
//	cats plan --all-municipalities FILE --env prod [--json] [--state-out DIR]
//	cats plan --stack dev|--all-municipalities FILE --env prod --diff BASE [--format text|markdown|json]
//	cats plan --diff BASE --head DIR [--format text|markdown|json]
//	cats serve [--data DIR] [--addr HOST:PORT] [--concurrency N] [--backend URL] [--pulumi PATH]
//	           [--policy-pack PATH] [--policy-config FILE] [--cloud aws|standin] [--standin-plugins DIR]
//	cats token create --scope platform|<code> [--data DIR] [--description TEXT]
//	cats token revoke [--data DIR] ID
//	cats fleet status [--server URL] [--environment dev|prod] [--prefecture NAME] [--status STATUS] [--json]
//
// plan runs the program offline against mocks (no cloud, no credentials),
// checks it with the policy pack in process, estimates its fixed monthly
// cost and exits non-zero when a mandatory policy is violated; with --diff it
// compares with the plans --state-out wrote on a base branch. serve runs the
// automation server: one stack per municipality, operated by durable jobs.
// `cats <command> --help` says more. The server runs on Linux.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cats:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  cats plan --stack STACK [--json] [--state-out FILE] [--policy-config FILE] [--project-dir DIR] [--usd-jpy RATE]
  cats plan --all-municipalities FILE --env dev|prod [--json] [--state-out DIR] [--parallel N]
  cats plan (--stack STACK | --all-municipalities FILE --env dev|prod) --diff BASE [--format text|markdown|json] [--max-report-bytes N]
  cats plan --diff BASE --head DIR [--format text|markdown|json] [--max-report-bytes N]
  cats serve [--data DIR] [--addr HOST:PORT] [--concurrency N] [--backend URL] [--pulumi PATH]
             [--policy-pack PATH] [--policy-config FILE] [--cloud aws|standin] [--standin-plugins DIR]
             [--drift-schedule ENV=INTERVAL,...] [--drift-batch N]
  cats token create --scope platform|<municipality code> [--data DIR] [--description TEXT]
  cats token revoke [--data DIR] ID
  cats fleet status [--server URL] [--environment dev|prod] [--prefecture NAME] [--status STATUS] [--json]

cats COMMAND --help describes a command`

// errUsage marks a command line the tool does not understand.
var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "plan":
		return runPlan(ctx, args[1:], getenv, stdout)
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout)
	case "fleet":
		return runFleet(ctx, args[1:], getenv, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%w", args[0], errUsage)
}

// quiet makes a flag set print nothing itself: help goes to stdout through
// printHelp, a mistake to stderr once, through main.
func quiet(fs *flag.FlagSet) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
}

// printHelp writes a command's help and its flags.
func printHelp(w io.Writer, help string, fs *flag.FlagSet) error {
	fmt.Fprint(w, help)
	fs.SetOutput(w)
	fs.PrintDefaults()
	return nil
}
