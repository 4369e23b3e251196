package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cats-analytics/cats-analytics/automation/store"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	data := fs.String("data", "cats-data", "data directory of the server")
	scope := fs.String("scope", "", "platform, or the municipality code the token is limited to")
	description := fs.String("description", "", "what the token is for")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := store.Open(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		s := *scope
		switch {
		case s == store.ScopePlatform:
		case s == "":
			return errors.New("--scope is required: platform, or a municipality code such as 131016")
		default:
			if err := municipality.Validate(s); err != nil {
				return fmt.Errorf("--scope: %w", err)
			}
			s = store.MunicipalityScope(s)
		}
		t, plain, err := st.CreateToken(ctx, s, *description)
		if err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		fmt.Fprintf(stdout, "token %s (%s) created; it is shown only once:\n%s\n", t.ID, t.Scope, plain)
		return nil
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: cats token revoke [--data DIR] ID")
		}
		if err := st.RevokeToken(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", fs.Arg(0))
		return nil
	}
	return fmt.Errorf("unknown token command %q\n%w", args[0], errUsage)
}
