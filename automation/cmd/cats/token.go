package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

const tokenHelp = `usage:
  cats token create --scope platform|<municipality code> [--data DIR | --database URL] [--description TEXT]
  cats token revoke [--data DIR | --database URL] ID

Issues and revokes the server's API tokens, in the server's database: its
PostgreSQL database (--database, else $CATS_DATABASE_URL) when the server runs
on one, else SQLite in its data directory (--data, else $CATS_DATA, else
` + defaultDataDir + `). The server may be running; a revoked token is refused at
once by every replica (each request checks the database).
A token is shown once, when it is created; only its hash is stored. Its ID is
the part after "cats_" and before the next "_", and is what revoke takes.
A platform token acts for every municipality; a municipality token (--scope
131016) only for its own.
`

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("cats token needs a command\n%w", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, tokenHelp)
		return nil
	case "create", "revoke":
	default:
		return fmt.Errorf("unknown token command %q\n%w", args[0], errUsage)
	}
	fs := flag.NewFlagSet("cats token "+args[0], flag.ContinueOnError)
	quiet(fs)
	data := fs.String("data", dataDir(getenv), "data directory of the server ($CATS_DATA, else "+defaultDataDir+")")
	database := fs.String("database", getenv(databaseEnv), databaseUsage)
	var scope, description *string
	if args[0] == "create" {
		scope = fs.String("scope", "", "platform, or the municipality code the token is limited to")
		description = fs.String("description", "", "what the token is for")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, tokenHelp+"\nFlags of cats token "+args[0]+":\n", fs)
		}
		return fmt.Errorf("%w (see cats token --help)", err)
	}
	if args[0] == "revoke" {
		if fs.NArg() != 1 {
			return errors.New("usage: cats token revoke [--data DIR | --database URL] ID")
		}
		return revokeToken(ctx, *database, *data, fs.Arg(0), stdout)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("cats token create takes no arguments, got %v", fs.Args())
	}
	return createToken(ctx, *database, *data, *scope, *description, stdout)
}

func createToken(ctx context.Context, database, dir, scopeFlag, description string, stdout io.Writer) error {
	var scope store.Scope
	switch {
	case scopeFlag == string(store.ScopePlatform):
		scope = store.ScopePlatform
	case scopeFlag == "":
		return errors.New("--scope is required: platform, or a municipality code such as 131016")
	default:
		if err := municipality.Validate(scopeFlag); err != nil {
			return fmt.Errorf("--scope: %w", err)
		}
		scope = store.MunicipalityScope(scopeFlag)
	}
	// A token may be issued before the server first ran.
	st, err := openDatabase(ctx, database, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	t, plain, err := st.CreateToken(ctx, scope, description)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s (%s) created; it is shown only once:\n%s\n", t.ID, t.Scope, plain)
	return nil
}

func revokeToken(ctx context.Context, database, dir, id string, stdout io.Writer) error {
	if database == "" {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("data directory %s: %w", dir, err)
		}
	}
	st, err := openDatabase(ctx, database, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeToken(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s revoked\n", id)
	return nil
}
