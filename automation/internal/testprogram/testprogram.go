// Package testprogram is a Pulumi program that needs no cloud provider:
// component resources, config, a secret and outputs. The automation server's
// tests run it through the real CLI in place of the platform program.
package testprogram

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Tier is a component resource standing in for a tier.
type Tier struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

// Program returns the program. delay holds every update (not previews of the
// plan) for that long, so tests can cancel or kill an operation mid-flight.
func Program(delay time.Duration) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "cats")
		instanceType := cfg.Get("instanceType")
		if instanceType == "" {
			instanceType = "t3.medium"
		}
		platform := &Tier{}
		if err := ctx.RegisterComponentResource("cats:platform:Platform", "cats", platform); err != nil {
			return err
		}
		for _, tier := range []string{"network", "security"} {
			t := &Tier{Name: pulumi.String(tier).ToStringOutput()}
			if err := ctx.RegisterComponentResource("cats:"+tier+":"+tier, "cats-"+tier, t, pulumi.Parent(platform)); err != nil {
				return err
			}
			if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"name": t.Name}); err != nil {
				return err
			}
		}
		if err := ctx.RegisterResourceOutputs(platform, pulumi.Map{}); err != nil {
			return err
		}
		if delay > 0 && !ctx.DryRun() {
			time.Sleep(delay)
		}
		ctx.Export("stack", pulumi.String(ctx.Stack()))
		ctx.Export("instanceType", pulumi.String(instanceType))
		ctx.Export("apiKey", pulumi.ToSecret(pulumi.String(fmt.Sprintf("secret-of-%s", ctx.Stack()))))
		return nil
	}
}
