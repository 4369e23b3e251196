// Command policy is the cats-analytics policy pack: `go build -o bin/cats-policy ./policy`
// and pass the binary (or this directory, with PulumiPolicy.yaml beside a
// built binary) to `pulumi preview|up --policy-pack` or
// `pulumi policy analyze --policy-pack`.
package main

import (
	"fmt"
	"os"

	"github.com/cats-analytics/cats-analytics/policy/analyzer"
)

func main() {
	// The CLI starts the plugin with the engine's address as the only
	// argument; the pack does not call back into the engine.
	if err := analyzer.Serve(func(port int) { fmt.Printf("%d\n", port) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
