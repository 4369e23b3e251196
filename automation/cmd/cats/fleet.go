package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cats-analytics/cats-analytics/automation/fleet"
)

var fleetHelp = `usage: cats fleet status [--server URL] [--environment dev|prod] [--prefecture NAME] [--status STATUS] [--json]

Shows the fleet as the automation server sees it (GET /v1/fleet): the stacks
counted by status, drift and last result, and per municipality each stack's
status, last operation, deployed version against the server's, drift, the
policy violations of its last plan, preview or up (mandatory/advisory) and its
estimated fixed monthly cost. --json prints the server's answer as it is.

The token is $CATS_TOKEN (a platform token sees every municipality, a
municipality's token its own). The server is --server, else $CATS_SERVER,
else http://127.0.0.1:8080.

Statuses, the first that applies: ` + strings.Join(fleet.Statuses, ", ") + `.

Flags:
`

func runFleet(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, fleetHelp)
			return nil
		}
		return fmt.Errorf("cats fleet needs the command status (see cats fleet --help)")
	}
	fs := flag.NewFlagSet("cats fleet status", flag.ContinueOnError)
	quiet(fs)
	server := fs.String("server", "", "the automation server's URL ($CATS_SERVER, else http://127.0.0.1:8080)")
	env := fs.String("environment", "", "only the stacks of this environment (dev or prod)")
	prefecture := fs.String("prefecture", "", "only the municipalities of this prefecture (e.g. 東京都)")
	status := fs.String("status", "", "only the stacks with this status")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printHelp(stdout, fleetHelp, fs)
		}
		return fmt.Errorf("%w (see cats fleet --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cats fleet status takes no arguments, got %v", fs.Args())
	}
	token := getenv("CATS_TOKEN")
	if token == "" {
		return errors.New("set CATS_TOKEN to an API token (cats token create --scope platform)")
	}
	base := *server
	if base == "" {
		base = getenv("CATS_SERVER")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	q := url.Values{}
	for k, v := range map[string]string{"environment": *env, "prefecture": *prefecture, "status": *status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	body, err := getFleet(ctx, strings.TrimSuffix(base, "/")+"/v1/fleet?"+q.Encode(), token)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var st fleet.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("read the fleet status: %w", err)
	}
	return writeFleet(stdout, st)
}

// getFleet reads the fleet status; an error answer says what the server said.
func getFleet(ctx context.Context, u, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the server for the fleet status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the fleet status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Field, Reason string }
		_ = json.Unmarshal(body, &e)
		if e.Field != "" {
			return nil, fmt.Errorf("the server refused --%s: %s", e.Field, e.Reason)
		}
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(cmpOr(e.Error, string(body))))
	}
	return body, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// writeFleet prints the status as tables: the counts, then a line a stack.
func writeFleet(w io.Writer, st fleet.Status) error {
	fmt.Fprintf(w, "Fleet: %d stacks, current version %s, estimated fixed monthly cost %s (%s)\n",
		st.Stacks, st.CurrentVersion, usd(st.MonthlyUSD), jpy(st.MonthlyJPY))
	counts := func(title string, m map[string]int, order []string) {
		var parts []string
		for _, k := range order {
			if m[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
			}
		}
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		fmt.Fprintf(w, "%s: %s\n", title, strings.Join(parts, ", "))
	}
	counts("by status", st.ByStatus, fleet.Statuses)
	counts("by drift", st.ByDrift, []string{"in_sync", "drifted", "error", "unknown"})
	counts("by last result", st.ByLastResult, []string{"succeeded", "failed", "cancelled", "none"})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCODE\tNAME\tPREFECTURE\tSTACK\tSTATUS\tLAST OPERATION\tVERSION\tDRIFT\tVIOLATIONS (M/A)\tUSD/MONTH\tJPY/MONTH")
	for _, m := range st.Municipalities {
		for _, s := range m.Stacks {
			last := "-"
			if l := s.LastOperation; l != nil {
				last = fmt.Sprintf("%s %s (job %d)", l.Operation, l.State, l.Job)
				if l.Reason != "" {
					last += " " + l.Reason
				}
			}
			version := "-"
			if s.DeployedVersion != "" {
				version = shortVersion(s.DeployedVersion)
				if !s.UpToDate {
					version += " (not current)"
				}
			}
			drift := s.Drift.Status
			for _, r := range s.Drift.Resources {
				drift += fmt.Sprintf(" %s[%s]", r.Name, strings.Join(append([]string{r.Change}, r.Properties...), " "))
			}
			violations := "-"
			if v := s.Violations; v != nil {
				violations = fmt.Sprintf("%d/%d", v.Mandatory, v.Advisory)
			}
			costUSD, costJPY := "-", "-"
			if c := s.Cost; c != nil {
				costUSD, costJPY = usd(c.MonthlyUSD), jpy(c.MonthlyJPY)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Code, m.Name, m.Prefecture, s.Stack, s.Status, last, version,
				drift, violations, costUSD, costJPY)
		}
	}
	return tw.Flush()
}

// shortVersion shortens a 40-character VCS revision to its first 12, as git
// does in logs, keeping a "+dirty" mark.
func shortVersion(v string) string {
	revision, mark, _ := strings.Cut(v, "+")
	if len(revision) != 40 || strings.Trim(revision, "0123456789abcdef") != "" {
		return v
	}
	if mark != "" {
		return revision[:12] + "+" + mark
	}
	return revision[:12]
}
