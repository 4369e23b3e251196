// Package database is the database tier: the seed's DynamoDB table
// `cats-info` (seed §4: partition key id, sort key timestamp, on-demand).
package database

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/internal/naming"
)

// Type is the component's type token.
const Type = "cats:database:Database"

// The table's key schema. Timestamps are RFC 3339 strings in UTC, which sort
// as time does, so a range condition on the sort key is a time range.
const (
	AttrID           = "id"
	AttrTimestamp    = "timestamp"
	AttrMunicipality = "municipality_code"
	// IndexByMunicipalityTime answers "all records of a municipality in a
	// time range": partition municipality_code, sort timestamp.
	IndexByMunicipalityTime = "by-municipality-time"
)

// DatabaseArgs configures the tier.
type DatabaseArgs struct {
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

func (a *DatabaseArgs) check() error {
	var errs []error
	if a.Namer.Stack() == "" {
		errs = append(errs, errors.New("database: Namer is required"))
	}
	if a.DataKeyArn == nil {
		errs = append(errs, errors.New("database: DataKeyArn is required (seed §7: DynamoDB is encrypted)"))
	}
	return errors.Join(errs...)
}

// NewDatabase registers the database tier.
func NewDatabase(ctx *pulumi.Context, name string, args DatabaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	if err := args.check(); err != nil {
		return nil, err
	}
	d := &Database{}
	if err := ctx.RegisterComponentResource(Type, name, d, opts...); err != nil {
		return nil, err
	}
	tableOpts := []pulumi.ResourceOption{pulumi.Parent(d)}
	if args.Prod {
		tableOpts = append(tableOpts, pulumi.RetainOnDelete(true))
	}
	table, err := dynamodb.NewTable(ctx, name+"-cats-info", &dynamodb.TableArgs{
		Name:        pulumi.String(args.Namer.PerStack("cats-info")),
		BillingMode: pulumi.String("PAY_PER_REQUEST"), // seed §4: オンデマンド
		HashKey:     pulumi.String(AttrID),
		RangeKey:    pulumi.String(AttrTimestamp),
		Attributes: dynamodb.TableAttributeArray{
			&dynamodb.TableAttributeArgs{Name: pulumi.String(AttrID), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(AttrTimestamp), Type: pulumi.String("S")},
			&dynamodb.TableAttributeArgs{Name: pulumi.String(AttrMunicipality), Type: pulumi.String("S")},
		},
		GlobalSecondaryIndexes: dynamodb.TableGlobalSecondaryIndexArray{
			&dynamodb.TableGlobalSecondaryIndexArgs{
				Name:           pulumi.String(IndexByMunicipalityTime),
				HashKey:        pulumi.String(AttrMunicipality),
				RangeKey:       pulumi.String(AttrTimestamp),
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
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{
		"tableName": d.TableName,
		"tableArn":  d.TableArn,
	}); err != nil {
		return nil, fmt.Errorf("register %s outputs: %w", name, err)
	}
	return d, nil
}
