// Package analytics is the analytics tier (seed §4 Athena, QuickSight): the
// Glue catalog database `cats_data` with the table `cats_info` generated from
// the cat record type, the Athena data catalog `cats_data_catalog`, a
// workgroup whose encrypted results stay in the data lake, named queries for
// the standard analyses, and QuickSight behind cats:quicksightEnabled.
package analytics

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/athena"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/glue"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/components/datalake"
	"github.com/cats-analytics/cats-analytics/components/internal/naming"
	"github.com/cats-analytics/cats-analytics/components/internal/tier"
	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/functions/aggregator"
)

// Type is the component's type token.
const Type = "cats:analytics:Analytics"

// TableName is the seed's table; it lives in the stack's own database, so it
// keeps the seed's name unchanged.
const TableName = "cats_info"

// AggregatesTableName is the table of the aggregation's curated output.
const AggregatesTableName = "cats_window_aggregates"

// Parquet storage of cats_info, as Firehose writes it.
const (
	parquetInput  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	parquetOutput = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	parquetSerDe  = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)

// ProjectionStart is the first date the dt partition projection covers.
const ProjectionStart = "2020-01-01"

// BytesScannedCutoff stops a runaway query at 10 GB (Athena bills per byte scanned).
const BytesScannedCutoff = 10 << 30

// Args configures the tier.
type Args struct {
	// Mandatory.
	Namer          naming.Namer
	AccountID      string
	Region         string
	DataLakeBucket pulumi.StringInput // bucket name
	DataLakeArn    pulumi.StringInput
	DataLakeKMSKey pulumi.StringInput // the lake's key with aws:kms; nil or "" with AES256
	Encryption     string             // the lake's cats:dataLakeEncryption
	// Optional.
	// MunicipalityCode is the stack's municipality: the partition projection
	// enumerates it so queries need no municipality filter, and QuickSight
	// shows it. Without one, queries name the municipality (injected projection).
	MunicipalityCode string
	// Prod keeps the workgroup (and its query history) when the stack is destroyed.
	Prod bool

	QuickSightEnabled   bool
	QuickSightPrincipal string
}

// Analytics is the tier.
type Analytics struct {
	pulumi.ResourceState

	Database *glue.CatalogDatabase
	Table    *glue.CatalogTable

	DatabaseName   pulumi.StringOutput `pulumi:"databaseName"`
	TableName      pulumi.StringOutput `pulumi:"tableName"`
	TableArn       pulumi.StringOutput `pulumi:"tableArn"`
	DataCatalog    pulumi.StringOutput `pulumi:"dataCatalog"`
	WorkgroupName  pulumi.StringOutput `pulumi:"workgroupName"`
	DashboardID    pulumi.StringOutput `pulumi:"dashboardId"`
	QuickSightData pulumi.StringOutput `pulumi:"quicksightDataSetArn"`
}

func (a *Args) check() error {
	c := tier.NewAccountCheck("analytics", a.Namer, a.AccountID, a.Region)
	c.Expect(a.DataLakeBucket != nil && a.DataLakeArn != nil, "the data lake (DataLakeBucket, DataLakeArn) is required")
	c.ExpectConfig(a.Encryption != config.EncryptionKMS || a.DataLakeKMSKey != nil,
		"cats:dataLakeEncryption: aws:kms needs the data lake's key for Athena results (DataLakeKMSKey)")
	return c.Err()
}

// NewAnalytics registers the analytics tier.
func NewAnalytics(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Analytics, error) {
	a := &Analytics{}
	if err := tier.Register(ctx, Type, name, a, args.check, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	if err := a.glueCatalog(ctx, name, args, parent); err != nil {
		return nil, err
	}
	catalog, err := athena.NewDataCatalog(ctx, name+"-catalog", &athena.DataCatalogArgs{
		Name:        pulumi.String(args.Namer.PerStack("cats_data_catalog")),
		Description: pulumi.String("Glue Data Catalog of the cat records (seed §4: cats_data_catalog)"),
		Type:        pulumi.String("GLUE"),
		Parameters:  pulumi.StringMap{"catalog-id": pulumi.String(args.AccountID)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Athena data catalog: %w", err)
	}
	workgroup, err := newWorkgroup(ctx, name, args, a.Database, parent)
	if err != nil {
		return nil, err
	}
	a.DashboardID = pulumi.String("").ToStringOutput()
	a.QuickSightData = pulumi.String("").ToStringOutput()
	if args.QuickSightEnabled {
		if err := newQuickSight(ctx, name, args, a, workgroup); err != nil {
			return nil, err
		}
	}
	a.DatabaseName = a.Database.Name
	a.TableName = a.Table.Name
	a.TableArn = a.Table.Arn
	a.DataCatalog = catalog.Name
	a.WorkgroupName = workgroup.Name
	if err := tier.RegisterOutputs(ctx, name, a); err != nil {
		return nil, err
	}
	return a, nil
}

// glueCatalog is the database cats_data with its tables cats_info (the
// records) and cats_window_aggregates (the aggregation's output).
func (a *Analytics) glueCatalog(ctx *pulumi.Context, name string, args Args, parent pulumi.ResourceOption) error {
	db, err := glue.NewCatalogDatabase(ctx, name+"-cats-data", &glue.CatalogDatabaseArgs{
		Name:        pulumi.String(args.Namer.PerStack("cats_data")),
		Description: pulumi.String("自治体猫データ: cat records of stack " + args.Namer.Stack() + " (seed §4 Athena)"),
		CatalogId:   pulumi.String(args.AccountID),
	}, parent)
	if err != nil {
		return fmt.Errorf("create the Glue database: %w", err)
	}
	table, err := glue.NewCatalogTable(ctx, name+"-cats-info", tableArgs(args, db, TableName,
		"Cat records (catrecord.Record) as Firehose writes them: Parquet, partitioned by municipality and event date",
		RawLocation(args.DataLakeBucket), catrecord.Columns(), parquetFormat), parent)
	if err != nil {
		return fmt.Errorf("create the table %s: %w", TableName, err)
	}
	if _, err := glue.NewCatalogTable(ctx, name+"-window-aggregates", tableArgs(args, db, AggregatesTableName,
		"Per-district window counts of cats-data-analysis (JSON lines); sum the rows of a window: late reports add deltas",
		AggregatesLocation(args.DataLakeBucket), AggregateColumns(), jsonFormat), parent); err != nil {
		return fmt.Errorf("create the table %s: %w", AggregatesTableName, err)
	}
	a.Database = db
	a.Table = table
	return nil
}

// newWorkgroup is the Athena workgroup whose results are encrypted in the
// data lake, wherever a client asks them to go, with the standard analyses
// saved in it.
func newWorkgroup(ctx *pulumi.Context, name string, args Args, db *glue.CatalogDatabase, parent pulumi.ResourceOption) (*athena.Workgroup, error) {
	encryption := &athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs{
		EncryptionOption: pulumi.String("SSE_S3"),
	}
	if args.Encryption == config.EncryptionKMS {
		encryption = &athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs{
			EncryptionOption: pulumi.String("SSE_KMS"),
			KmsKeyArn:        args.DataLakeKMSKey,
		}
	}
	workgroup, err := athena.NewWorkgroup(ctx, name+"-workgroup", &athena.WorkgroupArgs{
		Name:        pulumi.String(args.Namer.PerStack("cats-analytics")),
		Description: pulumi.String("Analyses of the cat records; results encrypted in the data lake"),
		State:       pulumi.String("ENABLED"),
		Configuration: &athena.WorkgroupConfigurationArgs{
			// Enforced: a client cannot send results elsewhere or unencrypted.
			EnforceWorkgroupConfiguration:   pulumi.Bool(true),
			PublishCloudwatchMetricsEnabled: pulumi.Bool(true),
			BytesScannedCutoffPerQuery:      pulumi.Int(BytesScannedCutoff),
			ResultConfiguration: &athena.WorkgroupConfigurationResultConfigurationArgs{
				OutputLocation:          pulumi.Sprintf("s3://%s/%s", args.DataLakeBucket, datalake.AthenaResultsPrefix),
				EncryptionConfiguration: encryption,
				ExpectedBucketOwner:     pulumi.String(args.AccountID),
			},
		},
		ForceDestroy: pulumi.Bool(!args.Prod),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the Athena workgroup: %w", err)
	}
	for _, q := range NamedQueries {
		if _, err := athena.NewNamedQuery(ctx, name+"-query-"+q.ID, &athena.NamedQueryArgs{
			Name:        pulumi.String(q.Name),
			Description: pulumi.String(q.Description),
			Database:    db.Name,
			Workgroup:   workgroup.Name,
			Query:       pulumi.String(q.SQL),
		}, parent); err != nil {
			return nil, fmt.Errorf("save the query %s: %w", q.ID, err)
		}
	}
	return workgroup, nil
}

// RawLocation is where Firehose writes cats_info's Parquet files.
func RawLocation(bucket pulumi.StringInput) pulumi.StringOutput {
	return pulumi.Sprintf("s3://%s/%s", bucket, datalake.RawPrefix)
}

// AggregatesLocation is where cats-data-analysis writes its window aggregates.
func AggregatesLocation(bucket pulumi.StringInput) pulumi.StringOutput {
	return pulumi.Sprintf("s3://%s/%s", bucket, aggregator.AggregatesPrefix)
}

// storageFormat is how a table's files are written.
type storageFormat struct {
	classification, input, output, serDe string
	serDeParams                          map[string]string
}

var (
	parquetFormat = storageFormat{"parquet", parquetInput, parquetOutput, parquetSerDe, map[string]string{"serialization.format": "1"}}
	// The aggregates are JSON lines; OpenX reads them by column name.
	jsonFormat = storageFormat{"json", "org.apache.hadoop.mapred.TextInputFormat",
		"org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat", "org.openx.data.jsonserde.JsonSerDe",
		map[string]string{"ignore.malformed.json": "false"}}
)

// tableArgs describes a table of the data lake partitioned like Firehose
// writes (municipality, event date), with partition projection so Athena
// finds new partitions without crawlers or MSCK REPAIR.
func tableArgs(args Args, db *glue.CatalogDatabase, name, description string, location pulumi.StringOutput, cols []catrecord.Column, format storageFormat) *glue.CatalogTableArgs {
	var columns glue.CatalogTableStorageDescriptorColumnArray
	for _, c := range cols {
		columns = append(columns, &glue.CatalogTableStorageDescriptorColumnArgs{
			Name: pulumi.String(c.Name),
			Type: pulumi.String(c.Type),
		})
	}
	var partitions glue.CatalogTablePartitionKeyArray
	names := make([]string, len(catrecord.PartitionKeys))
	for i, p := range catrecord.PartitionKeys {
		partitions = append(partitions, &glue.CatalogTablePartitionKeyArgs{Name: pulumi.String(p.Name), Type: pulumi.String(p.Type)})
		names[i] = p.Name + "=${" + p.Name + "}"
	}
	params := pulumi.StringMap{
		"classification":              pulumi.String(format.classification),
		"EXTERNAL":                    pulumi.String("TRUE"),
		"projection.enabled":          pulumi.String("true"),
		"projection.dt.type":          pulumi.String("date"),
		"projection.dt.format":        pulumi.String("yyyy-MM-dd"),
		"projection.dt.range":         pulumi.String(ProjectionStart + ",NOW"),
		"projection.dt.interval":      pulumi.String("1"),
		"projection.dt.interval.unit": pulumi.String("DAYS"),
		"storage.location.template":   pulumi.Sprintf("%s%s/", location, strings.Join(names, "/")),
	}
	if args.MunicipalityCode != "" {
		params["projection.municipality.type"] = pulumi.String("enum")
		params["projection.municipality.values"] = pulumi.String(args.MunicipalityCode)
	} else {
		// An environment stack serves whichever municipalities test on it:
		// each query names its municipality.
		params["projection.municipality.type"] = pulumi.String("injected")
	}
	return &glue.CatalogTableArgs{
		Name:          pulumi.String(name),
		DatabaseName:  db.Name,
		CatalogId:     pulumi.String(args.AccountID),
		Description:   pulumi.String(description),
		TableType:     pulumi.String("EXTERNAL_TABLE"),
		Parameters:    params,
		PartitionKeys: partitions,
		StorageDescriptor: &glue.CatalogTableStorageDescriptorArgs{
			Location:     location,
			InputFormat:  pulumi.String(format.input),
			OutputFormat: pulumi.String(format.output),
			SerDeInfo: &glue.CatalogTableStorageDescriptorSerDeInfoArgs{
				Name:                 pulumi.String(name),
				SerializationLibrary: pulumi.String(format.serDe),
				Parameters:           pulumi.ToStringMap(format.serDeParams),
			},
			Columns: columns,
		},
	}
}

// AggregateColumns are the columns of cats_window_aggregates, derived from the
// JSON encoding of aggregator.Aggregate (embedded structs flattened, as
// encoding/json does). Window bounds are RFC 3339 strings: Athena's
// from_iso8601_timestamp reads them.
func AggregateColumns() []catrecord.Column {
	var cols []catrecord.Column
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			var typ string
			switch {
			case f.Type == reflect.TypeOf(time.Time{}), f.Type.Kind() == reflect.String:
				typ = "string"
			case f.Type.Kind() == reflect.Int:
				typ = "bigint"
			default:
				panic(fmt.Sprintf("aggregator.Aggregate.%s: no Hive type for %s", f.Name, f.Type))
			}
			cols = append(cols, catrecord.Column{Name: name, Type: typ})
		}
	}
	walk(reflect.TypeOf(aggregator.Aggregate{}))
	return cols
}
