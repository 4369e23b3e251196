package tier_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

func TestCheckNamesEveryProblemInOrder(t *testing.T) {
	namer, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	var noInput pulumi.StringInput
	c := tier.NewCheck("api")
	c.Require("Namer", naming.Namer{})
	c.Require("AccountID and Region", "123456789012", "")
	c.Require("TableArn", noInput)
	c.Require("DataKeyArn", pulumi.String("arn:aws:kms:ap-northeast-1:123456789012:key/data"))
	c.Require("Namer", namer)
	c.Expect(false, "TimeoutSeconds 40 exceeds API Gateway's 29-second integration timeout")
	c.Expect(true, "never recorded")
	c.ExpectConfig(false, "cats:domain: a domain is required")
	want := strings.Join([]string{
		"api: Namer is required",
		"api: AccountID and Region are required",
		"api: TableArn is required",
		"api: TimeoutSeconds 40 exceeds API Gateway's 29-second integration timeout",
		"cats:domain: a domain is required",
	}, "\n")
	if got := c.Err(); got == nil || got.Error() != want {
		t.Errorf("check error\n%v\nwant every problem, each naming its tier's field or its config key, in the order checked:\n%s", got, want)
	}
	if err := tier.NewCheck("api").Err(); err != nil {
		t.Errorf("a check with nothing recorded fails: %v", err)
	}
}

func TestAccountCheckRequiresTheNamerAccountAndRegion(t *testing.T) {
	namer, err := naming.NewNamer("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "compute: Namer is required\ncompute: AccountID and Region are required"
	if got := tier.NewAccountCheck("compute", naming.Namer{}, "123456789012", "").Err(); got == nil || got.Error() != want {
		t.Errorf("check error %v, want\n%s", got, want)
	}
	if err := tier.NewAccountCheck("compute", namer, "123456789012", "ap-northeast-1").Err(); err != nil {
		t.Errorf("a tier with its namer, account and region fails: %v", err)
	}
}

type component struct {
	pulumi.ResourceState

	Host     string              `pulumi:"host"`
	Arn      pulumi.StringOutput `pulumi:"arn"`
	Untagged pulumi.StringOutput
}

type badComponent struct {
	pulumi.ResourceState

	Port int `pulumi:"port"`
}

func TestOutputsAreTheTaggedFields(t *testing.T) {
	c := &component{Host: "www.cats.example.com", Arn: pulumi.String("arn:x").ToStringOutput(), Untagged: pulumi.String("no").ToStringOutput()}
	outputs, err := tier.Outputs(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(outputs) != 2 || outputs["host"] == nil || outputs["arn"] == nil {
		t.Fatalf("outputs %v, want host and arn: the tags are the one list of a component's outputs", outputs)
	}
	if got, ok := outputs["host"].(pulumi.String); !ok || got != "www.cats.example.com" {
		t.Errorf("host output %#v, want the field's plain value", outputs["host"])
	}
	if _, ok := outputs["arn"].(pulumi.StringOutput); !ok {
		t.Errorf("arn output %#v, want the field's output itself", outputs["arn"])
	}
	if _, err := tier.Outputs(&badComponent{Port: 80}); err == nil || !strings.Contains(err.Error(), "Port") {
		t.Errorf("a tagged field that is neither an output nor a string must be refused naming it, got %v", err)
	}
	if _, err := tier.Outputs(component{}); err == nil {
		t.Error("a component passed by value must be refused: its outputs would be copies")
	}
}

func TestRegisterChecksBeforeAnythingIsRegistered(t *testing.T) {
	rec, err := harness.Run("dev", nil, func(ctx *pulumi.Context) error {
		c := tier.NewCheck("demo")
		c.Require("AccountID", "")
		return tier.Register(ctx, "cats:demo:Demo", "demo", &component{}, c.Err)
	})
	if err == nil || !strings.Contains(err.Error(), "demo: AccountID is required") {
		t.Errorf("err %v, want the check's error", err)
	}
	if len(rec.Resources) != 0 {
		t.Errorf("%d resources registered before the failed check: a bad argument must fail before anything exists", len(rec.Resources))
	}
	rec = harness.MustRun(t, "dev", nil, func(ctx *pulumi.Context) error {
		c := &component{}
		if err := tier.Register(ctx, "cats:demo:Demo", "demo", c, func() error { return nil }); err != nil {
			return err
		}
		c.Host, c.Arn = "h", pulumi.String("a").ToStringOutput()
		return tier.RegisterOutputs(ctx, "demo", c)
	})
	if r := rec.One(t, "cats:demo:Demo"); r.Name != "demo" {
		t.Errorf("registered %s, want demo", r.Name)
	}
}
