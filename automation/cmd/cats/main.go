// Command cats operates cats-analytics stacks.
//
//	cats serve [--data DIR] [--addr HOST:PORT] [--concurrency N]
//	cats token create --scope platform|<code> [--data DIR] [--description TEXT]
//	cats token revoke [--data DIR] ID
package main

import (
	"context"
	"errors"
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
  cats serve [--data DIR] [--addr HOST:PORT] [--concurrency N] [--backend URL]
  cats token create --scope platform|<municipality code> [--data DIR] [--description TEXT]
  cats token revoke [--data DIR] ID`

// errUsage marks a command line the tool does not understand.
var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%w", args[0], errUsage)
}
