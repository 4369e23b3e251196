// Command catsapi is the cats-api write-path Lambda (provided.al2023, arm64):
// the executable named bootstrap in the function's zip.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/cats-analytics/cats-analytics/functions/catsapi"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	table, stream := getenv("TABLE_NAME"), getenv("STREAM_NAME")
	if table == "" || stream == "" {
		return fmt.Errorf("TABLE_NAME and STREAM_NAME must be set (the api tier sets them)")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	h := &catsapi.Handler{
		DB:               dynamodb.NewFromConfig(cfg),
		Stream:           kinesis.NewFromConfig(cfg),
		TableName:        table,
		StreamName:       stream,
		MunicipalityCode: getenv("MUNICIPALITY_CODE"),
		Logger:           slog.New(slog.NewJSONHandler(os.Stdout, nil)),
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil
}
