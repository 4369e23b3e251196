package analytics

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/athena"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/quicksight"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// QuickSight (seed §4): a data source on the stack's Athena workgroup, a
// direct-query data set of the municipality's deduplicated records, and the
// dashboard 「猫の情報の分析結果を可視化」. QuickSight must be subscribed in the
// account, and its service role must be allowed to read the data lake (and
// use its key with aws:kms): both are account settings outside this stack,
// hence cats:quicksightEnabled.

var (
	dataSourceActions = []string{
		"quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions", "quicksight:PassDataSource",
		"quicksight:UpdateDataSource", "quicksight:DeleteDataSource", "quicksight:UpdateDataSourcePermissions",
	}
	dataSetActions = []string{
		"quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions", "quicksight:PassDataSet",
		"quicksight:DescribeIngestion", "quicksight:ListIngestions", "quicksight:UpdateDataSet",
		"quicksight:DeleteDataSet", "quicksight:CreateIngestion", "quicksight:CancelIngestion",
		"quicksight:UpdateDataSetPermissions",
	}
	dashboardActions = []string{
		"quicksight:DescribeDashboard", "quicksight:ListDashboardVersions", "quicksight:UpdateDashboardPermissions",
		"quicksight:QueryDashboard", "quicksight:UpdateDashboard", "quicksight:DeleteDashboard",
		"quicksight:DescribeDashboardPermissions", "quicksight:UpdateDashboardPublishedVersion",
	}
)

// DashboardSQL is the data set's query: one row per district, day and event
// type, over the last year of the municipality's records as they now are
// (the latest revision of each, deleted ones left out; see currentRecords).
func DashboardSQL(database, municipalityCode string) string {
	return fmt.Sprintf(`SELECT district, date_trunc('day', event_time) AS day, event_type, count(*) AS records
FROM (
  SELECT district, event_time, event_type, deleted,
         row_number() OVER (PARTITION BY municipality_code, record_id ORDER BY coalesce(revision, 1) DESC) AS newest
  FROM "%s"."%s"
  WHERE municipality = '%s' AND dt >= date_format(current_date - INTERVAL '365' DAY, '%%Y-%%m-%%d')
)
WHERE newest = 1 AND NOT coalesce(deleted, false)
GROUP BY 1, 2, 3`, database, TableName, municipalityCode)
}

func newQuickSight(ctx *pulumi.Context, name string, args Args, a *Analytics, workgroup *athena.Workgroup) error {
	parent := pulumi.Parent(a)
	id := args.Namer.PerStack("cats-analytics")
	source, err := quicksight.NewDataSource(ctx, name+"-quicksight-source", &quicksight.DataSourceArgs{
		AwsAccountId: pulumi.String(args.AccountID),
		DataSourceId: pulumi.String(id),
		Name:         pulumi.String("cats_data (" + args.Namer.Stack() + ")"),
		Type:         pulumi.String("ATHENA"),
		Parameters: &quicksight.DataSourceParametersArgs{
			Athena: &quicksight.DataSourceParametersAthenaArgs{WorkGroup: workgroup.Name},
		},
		Permissions: quicksight.DataSourcePermissionArray{&quicksight.DataSourcePermissionArgs{
			Principal: pulumi.String(args.QuickSightPrincipal),
			Actions:   pulumi.ToStringArray(dataSourceActions),
		}},
	}, parent)
	if err != nil {
		return fmt.Errorf("create the QuickSight data source: %w", err)
	}
	dataSet, err := newDataSet(ctx, name, args, id, source, a, parent)
	if err != nil {
		return err
	}
	dashboard, err := newDashboard(ctx, name+"-quicksight-dashboard", &dashboardArgs{
		AwsAccountId:       pulumi.String(args.AccountID),
		DashboardId:        pulumi.String(id),
		Name:               pulumi.String("猫の情報の分析結果 (" + args.Namer.Stack() + ")"),
		VersionDescription: pulumi.String("cats-analytics"),
		Definition:         dashboardDefinition(dataSet.Arn),
		Permissions: pulumi.Array{pulumi.Map{
			"principal": pulumi.String(args.QuickSightPrincipal),
			"actions":   pulumi.ToStringArray(dashboardActions),
		}},
	}, parent)
	if err != nil {
		return fmt.Errorf("create the QuickSight dashboard: %w", err)
	}
	a.DashboardID = dashboard.DashboardId
	a.QuickSightData = dataSet.Arn
	return nil
}

// newDataSet is the direct-query data set of DashboardSQL.
func newDataSet(ctx *pulumi.Context, name string, args Args, id string, source *quicksight.DataSource, a *Analytics, parent pulumi.ResourceOption) (*quicksight.DataSet, error) {
	sqlColumn := func(name, typ string) *quicksight.DataSetPhysicalTableMapCustomSqlColumnArgs {
		return &quicksight.DataSetPhysicalTableMapCustomSqlColumnArgs{Name: pulumi.String(name), Type: pulumi.String(typ)}
	}
	dataSet, err := quicksight.NewDataSet(ctx, name+"-quicksight-dataset", &quicksight.DataSetArgs{
		AwsAccountId: pulumi.String(args.AccountID),
		DataSetId:    pulumi.String(id),
		Name:         pulumi.String("cats_info by district and day (" + args.Namer.Stack() + ")"),
		ImportMode:   pulumi.String("DIRECT_QUERY"),
		PhysicalTableMaps: quicksight.DataSetPhysicalTableMapArray{&quicksight.DataSetPhysicalTableMapArgs{
			PhysicalTableMapId: pulumi.String("cats-by-district-day"),
			CustomSql: &quicksight.DataSetPhysicalTableMapCustomSqlArgs{
				DataSourceArn: source.Arn,
				Name:          pulumi.String("cats_by_district_day"),
				SqlQuery: pulumi.All(a.Database.Name, a.Table.Name).ApplyT(func(v []any) string {
					return DashboardSQL(v[0].(string), args.MunicipalityCode)
				}).(pulumi.StringOutput),
				Columns: quicksight.DataSetPhysicalTableMapCustomSqlColumnArray{
					sqlColumn("district", "STRING"), sqlColumn("day", "DATETIME"), sqlColumn("event_type", "STRING"), sqlColumn("records", "INTEGER"),
				},
			},
		}},
		Permissions: quicksight.DataSetPermissionArray{&quicksight.DataSetPermissionArgs{
			Principal: pulumi.String(args.QuickSightPrincipal),
			Actions:   pulumi.ToStringArray(dataSetActions),
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("create the QuickSight data set: %w", err)
	}
	return dataSet, nil
}

// The dashboard's data set identifier.
const dataSetIdentifier = "cats"

func column(name string) pulumi.Map {
	return pulumi.Map{"dataSetIdentifier": pulumi.String(dataSetIdentifier), "columnName": pulumi.String(name)}
}

func title(text string) pulumi.Map {
	return pulumi.Map{"formatText": pulumi.Map{"plainText": pulumi.String(text)}}
}

// fieldID names a field of a visual. QuickSight requires a FieldId to be
// unique within its visual, and filters, actions and conditional formats
// refer to fields by id across the whole definition, so each id carries its
// visual's id and no two fields of the dashboard share one.
func fieldID(visualID, column string) string { return visualID + "." + column }

// dashboardDefinition is a one-sheet dashboard: records by district and event
// type, and records over time by event type.
func dashboardDefinition(dataSetArn pulumi.StringInput) pulumi.Map {
	records := func(visualID string) pulumi.Array {
		return pulumi.Array{pulumi.Map{"numericalMeasureField": pulumi.Map{
			"fieldId":             pulumi.String(fieldID(visualID, "records")),
			"column":              column("records"),
			"aggregationFunction": pulumi.Map{"simpleNumericalAggregation": pulumi.String("SUM")},
		}}}
	}
	eventType := func(visualID string) pulumi.Array {
		return pulumi.Array{pulumi.Map{"categoricalDimensionField": pulumi.Map{
			"fieldId": pulumi.String(fieldID(visualID, "event_type")), "column": column("event_type"),
		}}}
	}
	const byDistrictID, overTimeID = "records-by-district", "records-over-time"
	byDistrict := pulumi.Map{"barChartVisual": pulumi.Map{
		"visualId": pulumi.String(byDistrictID),
		"title":    title("地区別の報告件数"),
		"chartConfiguration": pulumi.Map{
			"orientation": pulumi.String("HORIZONTAL"),
			"fieldWells": pulumi.Map{"barChartAggregatedFieldWells": pulumi.Map{
				"category": pulumi.Array{pulumi.Map{"categoricalDimensionField": pulumi.Map{
					"fieldId": pulumi.String(fieldID(byDistrictID, "district")), "column": column("district"),
				}}},
				"values": records(byDistrictID),
				"colors": eventType(byDistrictID),
			}},
		},
	}}
	overTime := pulumi.Map{"lineChartVisual": pulumi.Map{
		"visualId": pulumi.String(overTimeID),
		"title":    title("週別の報告件数"),
		"chartConfiguration": pulumi.Map{
			"fieldWells": pulumi.Map{"lineChartAggregatedFieldWells": pulumi.Map{
				"category": pulumi.Array{pulumi.Map{"dateDimensionField": pulumi.Map{
					"fieldId": pulumi.String(fieldID(overTimeID, "day")), "column": column("day"), "dateGranularity": pulumi.String("WEEK"),
				}}},
				"values": records(overTimeID),
				"colors": eventType(overTimeID),
			}},
		},
	}}
	return pulumi.Map{
		"dataSetIdentifiersDeclarations": pulumi.Array{pulumi.Map{
			"dataSetArn": dataSetArn, "identifier": pulumi.String(dataSetIdentifier),
		}},
		"sheets": pulumi.Array{pulumi.Map{
			"sheetId": pulumi.String("cats"),
			"name":    pulumi.String("猫の状況"),
			"visuals": pulumi.Array{byDistrict, overTime},
		}},
	}
}

// The Go SDK of pulumi-aws v6 leaves out the dashboard's `definition` (the
// provider has it), so the dashboard is registered with the provider's own
// type token and these args.
type dashboardArgs struct {
	AwsAccountId       pulumi.StringInput
	DashboardId        pulumi.StringInput
	Name               pulumi.StringInput
	VersionDescription pulumi.StringInput
	Definition         pulumi.MapInput
	Permissions        pulumi.ArrayInput
	Tags               pulumi.StringMapInput // set by the platform's tag transformation
}

type dashboardInputs struct {
	AwsAccountId       string            `pulumi:"awsAccountId"`
	DashboardId        string            `pulumi:"dashboardId"`
	Name               string            `pulumi:"name"`
	VersionDescription string            `pulumi:"versionDescription"`
	Definition         map[string]any    `pulumi:"definition"`
	Permissions        []any             `pulumi:"permissions"`
	Tags               map[string]string `pulumi:"tags"`
}

func (dashboardArgs) ElementType() reflect.Type {
	return reflect.TypeOf((*dashboardInputs)(nil)).Elem()
}

type dashboard struct {
	pulumi.CustomResourceState

	Arn         pulumi.StringOutput `pulumi:"arn"`
	DashboardId pulumi.StringOutput `pulumi:"dashboardId"`
}

// DashboardType is the provider's type token of a QuickSight dashboard.
const DashboardType = "aws:quicksight/dashboard:Dashboard"

func newDashboard(ctx *pulumi.Context, name string, args *dashboardArgs, opts ...pulumi.ResourceOption) (*dashboard, error) {
	var d dashboard
	// Generated resources pin the provider plugin to the SDK's version; do
	// the same, so the dashboard uses the provider every other resource uses.
	if v := awsSDKVersion(); v != "" {
		opts = append([]pulumi.ResourceOption{pulumi.Version(v)}, opts...)
	}
	if err := ctx.RegisterResource(DashboardType, name, args, &d, opts...); err != nil {
		return nil, err
	}
	return &d, nil
}

// awsSDKVersion is the version of pulumi-aws the program is built with.
func awsSDKVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range info.Deps {
		if m.Path == "github.com/pulumi/pulumi-aws/sdk/v6" {
			return strings.TrimPrefix(m.Version, "v")
		}
	}
	return ""
}
