package naming_test

import (
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/internal/harness"
)

type holder struct{ pulumi.ResourceState }

// TestTagTransformation: children inherit the rule from their component, keep
// their own tags, and cannot override the standard ones.
func TestTagTransformation(t *testing.T) {
	rec := harness.MustRun(t, "131016-prod", nil, func(ctx *pulumi.Context) error {
		parent := &holder{}
		if err := ctx.RegisterComponentResource("cats:test:Holder", "holder", parent,
			pulumi.Transformations([]pulumi.ResourceTransformation{naming.TagTransformation(naming.Tags("prod", "131016"))})); err != nil {
			return err
		}
		if _, err := sns.NewTopic(ctx, "plain", &sns.TopicArgs{}, pulumi.Parent(parent)); err != nil {
			return err
		}
		if _, err := sns.NewTopic(ctx, "own-tags", &sns.TopicArgs{
			Tags: pulumi.StringMap{"Name": pulumi.String("alarms"), naming.TagEnvironment: pulumi.String("dev")},
		}, pulumi.Parent(parent)); err != nil {
			return err
		}
		_, err := sns.NewTopic(ctx, "output-tags", &sns.TopicArgs{
			Tags: pulumi.ToStringMap(map[string]string{"team": "tnr"}).ToStringMapOutput(),
		}, pulumi.Parent(parent))
		return err
	})
	for _, name := range []string{"plain", "own-tags", "output-tags"} {
		r, ok := rec.Find("aws:sns/topic:Topic", name)
		if !ok {
			t.Fatalf("no topic %s", name)
		}
		tags := r.Input("tags").ObjectValue()
		if tags[naming.TagEnvironment].StringValue() != "prod" || tags[naming.TagMunicipality].StringValue() != "131016" ||
			tags[naming.TagProject].StringValue() != "cats-analytics" || tags[naming.TagManagedBy].StringValue() != "pulumi" {
			t.Errorf("%s tags = %v: the standard tags must be present and win", name, tags)
		}
	}
	own, _ := rec.Find("aws:sns/topic:Topic", "own-tags")
	if own.Input("tags").ObjectValue()["Name"].StringValue() != "alarms" {
		t.Errorf("a resource's own tags must be kept")
	}
	out, _ := rec.Find("aws:sns/topic:Topic", "output-tags")
	if out.Input("tags").ObjectValue()["team"].StringValue() != "tnr" {
		t.Errorf("tags given as an output must be kept")
	}
}
