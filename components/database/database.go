// Package database is the database tier: the seed's DynamoDB table
// `cats-info` (seed §4: partition key id, sort key timestamp, on-demand),
// with the schema of domain/catsinfo. Timestamps are fixed-width UTC
// strings, which sort as time does, so a range condition on the sort key is
// a time range.
package database

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

// Type is the component's type token.
const Type = "cats:database:Database"

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer      naming.Namer
	DataKeyArn pulumi.StringInput // the security tier's data key: SSE with a customer managed key
	// Prod turns on deletion protection and keeps the table when the stack is destroyed.
	Prod bool
}

// Database is the tier.
type Database struct {
	pulumi.ResourceState

	Table *dynamodb.Table

	TableName pulumi.StringOutput `pulumi:"tableName"`
	TableArn  pulumi.StringOutput `pulumi:"tableArn"`
}

func (a *Args) check() error {
	c := tier.NewCheck("database")
	c.Require("Namer", a.Namer)
	c.Expect(a.DataKeyArn != nil, "DataKeyArn is required (seed §7: DynamoDB is encrypted)")
	return c.Err()
}

// NewDatabase registers the database tier.
func NewDatabase(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{}
	if err := tier.Register(ctx, Type, name, d, args.check, opts...); err != nil {
		return nil, err
	}
	tableOpts := []pulumi.ResourceOption{pulumi.Parent(d)}
	if args.Prod {
		tableOpts = append(tableOpts, pulumi.RetainOnDelete(true))
	}
	table, err := dynamodb.NewTable(ctx, name+"-cats-info", &dynamodb.TableArgs{
		Name:        pulumi.String(args.Namer.PerStack(catsinfo.Table)),
		BillingMode: pulumi.String("PAY_PER_REQUEST"), // seed §4: オンデマンド
		HashKey:     pulumi.String(catsinfo.AttrID),
		RangeKey:    pulumi.String(catsinfo.AttrTimestamp),
		Attributes: dynamodb.TableAttributeArray{
			&dynamodb.TableAttributeArgs{Name: pulumi.String(catsinfo.AttrID), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(catsinfo.AttrTimestamp), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(catsinfo.AttrMunicipality), Type: pulumi.String("S")},
		},
		GlobalSecondaryIndexes: dynamodb.TableGlobalSecondaryIndexArray{
			&dynamodb.TableGlobalSecondaryIndexArgs{
				Name:           pulumi.String(catsinfo.IndexByMunicipalityTime),
				HashKey:        pulumi.String(catsinfo.AttrMunicipality),
				RangeKey:       pulumi.String(catsinfo.AttrTimestamp),
				ProjectionType: pulumi.String("ALL"),
			},
		},
		ServerSideEncryption: &dynamodb.TableServerSideEncryptionArgs{
			Enabled:   pulumi.Bool(true), // seed §7
			KmsKeyArn: args.DataKeyArn,
		},
		PointInTimeRecovery:       &dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(true)},
		DeletionProtectionEnabled: pulumi.Bool(args.Prod),
	}, tableOpts...)
	if err != nil {
		return nil, fmt.Errorf("table cats-info: %w", err)
	}
	d.Table = table
	d.TableName = table.Name
	d.TableArn = table.Arn
	if err := tier.RegisterOutputs(ctx, name, d); err != nil {
		return nil, err
	}
	return d, nil
}
