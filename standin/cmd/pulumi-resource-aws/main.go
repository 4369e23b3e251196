// Command pulumi-resource-aws is the stand-in AWS provider plugin: a test
// double that answers the AWS provider's protocol from a directory
// ($CATS_STANDIN_DIR) instead of AWS. The CLI uses it only when bin/standin is
// first on its PATH (standin/README.md).
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/cats-analytics/cats-analytics/standin"
	"github.com/cats-analytics/cats-analytics/standin/awsprovider"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := standin.DirFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	store, err := standin.OpenStore(dir)
	if err != nil {
		return err
	}
	err = provider.Main(awsprovider.Name, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return awsprovider.New(host, store), nil
	})
	if err != nil {
		return standin.Errorf("pulumi-resource-aws: %w", err)
	}
	return nil
}
