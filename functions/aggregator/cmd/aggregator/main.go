// Command aggregator is the Lambda function cats-data-analysis (provided.al2023,
// arm64): the seed's real-time aggregation on the cat record stream, with
// Kinesis tumbling windows. The window logic lives in package aggregator.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cats-analytics/cats-analytics/functions/aggregator"
)

// Environment the streaming tier sets on the function.
const (
	envBucket        = "DATA_LAKE_BUCKET"
	envWindowSeconds = "WINDOW_SECONDS"
)

type s3Sink struct {
	client *s3.Client
	bucket string
}

func (s s3Sink) Put(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/x-ndjson"),
	})
	return err
}

func run(ctx context.Context, getenv func(string) string) (aggregator.Handler, error) {
	bucket := getenv(envBucket)
	if bucket == "" {
		return aggregator.Handler{}, fmt.Errorf("%s is not set", envBucket)
	}
	seconds, err := strconv.Atoi(getenv(envWindowSeconds))
	if err != nil || seconds < 1 || seconds > 900 {
		return aggregator.Handler{}, fmt.Errorf("%s=%q must be the tumbling window in seconds, 1 to 900", envWindowSeconds, getenv(envWindowSeconds))
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aggregator.Handler{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return aggregator.Handler{
		Aggregator: aggregator.Aggregator{Window: time.Duration(seconds) * time.Second},
		Sink:       s3Sink{client: s3.NewFromConfig(cfg), bucket: bucket},
		Metrics:    os.Stdout,
	}, nil
}

func main() {
	h, err := run(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cats-data-analysis:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
