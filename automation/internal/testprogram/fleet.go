package testprogram

import (
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FailureSwitch makes the updates of chosen stacks fail, so fleet tests can
// fail one stack of many without a cloud. Safe for concurrent use.
type FailureSwitch struct {
	mu     sync.Mutex
	stacks map[string]bool
}

// Fail switches the failure of a stack's updates on or off.
func (f *FailureSwitch) Fail(stack string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stacks == nil {
		f.stacks = map[string]bool{}
	}
	f.stacks[stack] = on
}

func (f *FailureSwitch) failing(stack string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stacks[stack]
}

// WithFailures is Program(0) whose update fails on the stacks the switch
// names: the preview before it passes, as a program that only fails while
// deploying does.
func WithFailures(f *FailureSwitch) pulumi.RunFunc {
	program := Program(0)
	return func(ctx *pulumi.Context) error {
		if !ctx.DryRun() && f.failing(ctx.Stack()) {
			return fmt.Errorf("testprogram: the failure switch is on for %s", ctx.Stack())
		}
		return program(ctx)
	}
}

// Bucket is the resource Cloud registers.
type Bucket struct {
	pulumi.CustomResourceState
	Bucket pulumi.StringOutput    `pulumi:"bucket"`
	Tags   pulumi.StringMapOutput `pulumi:"tags"`
}

// BucketName is the physical name of the bucket Cloud creates in a stack.
func BucketName(stack string) string { return "cats-fleet-test-" + stack }

// BucketURN is the URN of the bucket Cloud creates in a stack.
func BucketURN(project, stack string) string {
	return "urn:pulumi:" + stack + "::" + project + "::aws:s3/bucketV2:BucketV2::cats-fleet-test"
}

// Cloud is a program with one cloud resource, an S3 bucket, for the
// stand-in cloud (standin/README.md): small enough that many stacks deploy
// in seconds, real enough that the stand-in's drift knob changes it.
func Cloud() pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		b := &Bucket{}
		if err := ctx.RegisterResource("aws:s3/bucketV2:BucketV2", "cats-fleet-test", pulumi.Map{
			"bucket": pulumi.String(BucketName(ctx.Stack())),
			"tags":   pulumi.StringMap{"project": pulumi.String("cats-analytics"), "stack": pulumi.String(ctx.Stack())},
		}, b); err != nil {
			return err
		}
		ctx.Export("bucket", b.Bucket)
		return nil
	}
}
