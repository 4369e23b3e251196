// Command cats-analytics is the Pulumi program of 自治体猫データ分析プロダクト v18:
// `pulumi up` on the dev, prod or a municipality stack.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/platform"
)

func main() {
	pulumi.Run(platform.Program)
}
