// Command pulumi-resource-awsx is the stand-in awsx provider plugin: a test
// double that constructs awsx components from stand-in AWS resources. It
// requires $CATS_STANDIN_DIR like the stand-in aws plugin it works with, and
// the CLI uses it only when bin/standin is first on its PATH (standin/README.md).
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/cats-analytics/cats-analytics/standin"
	"github.com/cats-analytics/cats-analytics/standin/awsxprovider"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	// The awsx plugin keeps nothing itself, but refuses to run outside a
	// stand-in deployment just as the aws plugin does.
	if _, err := standin.DirFromEnv(os.Getenv); err != nil {
		return err
	}
	err := provider.Main(awsxprovider.Name, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return awsxprovider.New(host), nil
	})
	if err != nil {
		return standin.Errorf("pulumi-resource-awsx: %w", err)
	}
	return nil
}
