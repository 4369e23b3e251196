//go:build unix

package enginetest

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
)

// usage is what this process and its waited-for descendants (the CLI, and
// through it the plugins) have used so far.
type usage struct {
	selfCPU, childCPU time.Duration
	childMaxRSS       int64 // KiB on Linux: the largest single descendant so far
}

func currentUsage(b *testing.B) usage {
	b.Helper()
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	cpu := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return usage{selfCPU: cpu(self), childCPU: cpu(children), childMaxRSS: children.Maxrss}
}

// report adds the CPU the ups took, the largest process the CLI or a plugin
// grew to, and the size of the stack's state.
func report(b *testing.B, s auto.Stack, before, after usage) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric((after.childCPU-before.childCPU).Seconds()/n, "cli+plugins-cpu-s/op")
	b.ReportMetric((after.selfCPU-before.selfCPU).Seconds()/n, "program-cpu-s/op")
	b.ReportMetric(float64(after.childMaxRSS)/1024, "peak-child-rss-MiB")
	raw, err := s.Export(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	enc, err := json.Marshal(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(enc)), "state-bytes")
}

// BenchmarkUp131016Prod is an up of the municipality stack 131016-prod on the
// stand-in through the Automation API: creating every resource, and again
// with nothing to change. The environment stack prod is deployed first, once.
func BenchmarkUp131016Prod(b *testing.B) {
	ctx := context.Background()
	c := newCloud(b)
	prod := c.stack(b, envStack)
	if _, err := prod.Up(ctx, optup.SuppressProgress()); err != nil {
		b.Fatalf("up %s: %v", envStack, err)
	}
	s := c.stack(b, municipalityStack)

	b.Run("create", func(b *testing.B) {
		var cpu usage
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if _, err := s.Destroy(ctx, optdestroy.SuppressProgress()); err != nil {
				b.Fatalf("destroy: %v", err)
			}
			// What the destroy retained (prod data) would stop a new up, as
			// in AWS: clear it, as an operator would.
			for urn, o := range c.objects(b, municipalityStack) {
				if err := c.store.Delete(urn, o.ID); err != nil {
					b.Fatal(err)
				}
			}
			before := currentUsage(b)
			b.StartTimer()
			if _, err := s.Up(ctx, optup.SuppressProgress()); err != nil {
				b.Fatalf("up: %v", err)
			}
			b.StopTimer()
			after := currentUsage(b)
			cpu.selfCPU += after.selfCPU - before.selfCPU
			cpu.childCPU += after.childCPU - before.childCPU
			cpu.childMaxRSS = after.childMaxRSS
		}
		report(b, s, usage{}, cpu)
	})

	b.Run("no-op", func(b *testing.B) {
		if _, err := s.Up(ctx, optup.SuppressProgress()); err != nil {
			b.Fatalf("up: %v", err)
		}
		before := currentUsage(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := s.Up(ctx, optup.SuppressProgress())
			if err != nil {
				b.Fatalf("up: %v", err)
			}
			if changed := len(*res.Summary.ResourceChanges) > 1; changed {
				b.Fatalf("a no-op up changed something: %v", *res.Summary.ResourceChanges)
			}
		}
		b.StopTimer()
		report(b, s, before, currentUsage(b))
	})
}
