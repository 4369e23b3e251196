package network_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/network"
	"github.com/cats-analytics/cats-analytics/internal/harness"
	"github.com/cats-analytics/cats-analytics/plan"
)

func TestArgsCheckedBeforeAnyRegistration(t *testing.T) {
	namer, _ := naming.NewNamer("dev", "")
	good := config.Network{
		VpcCidr:            netip.MustParsePrefix("10.0.0.0/16"),
		PublicSubnetCidrs:  []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("10.0.2.0/24")},
		PrivateSubnetCidrs: []netip.Prefix{netip.MustParsePrefix("10.0.10.0/24"), netip.MustParsePrefix("10.0.20.0/24")},
		NatGateways:        config.NatSingle,
	}
	tests := []struct {
		name   string
		mutate func(*network.Args)
		want   string
	}{
		{"no logs key", func(a *network.Args) { a.LogsKeyArn = nil }, "LogsKeyArn is required"},
		{"no account", func(a *network.Args) { a.AccountID = "" }, "AccountID and Region are required"},
		{"no namer", func(a *network.Args) { a.Namer = naming.Namer{} }, "Namer is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := network.Args{Namer: namer, AccountID: plan.AccountID, Region: "ap-northeast-1",
				Network: good, LogsKeyArn: pulumi.String("arn:aws:kms:ap-northeast-1:123456789012:key/x")}
			args.Network.PrivateSubnetCidrs = append([]netip.Prefix(nil), good.PrivateSubnetCidrs...)
			tt.mutate(&args)
			rec, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
				_, err := network.NewNetwork(ctx, "net", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if len(rec.Resources) != 0 {
				t.Errorf("%d resources registered before the error", len(rec.Resources))
			}
		})
	}
}
