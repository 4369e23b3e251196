package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Sink stores objects in the data lake.
type Sink interface {
	Put(ctx context.Context, key string, body []byte) error
}

// Data lake prefixes the handler writes to (components/datalake owns them).
const (
	AggregatesPrefix = "curated/aggregates/"
	ErrorsPrefix     = "errors/aggregator/"
)

// MetricsNamespace is the CloudWatch namespace of the window metrics.
const MetricsNamespace = "CatsAnalytics"

// Handler is the Lambda function cats-data-analysis.
type Handler struct {
	Aggregator Aggregator
	Sink       Sink
	// Metrics receives CloudWatch embedded metric format lines: Lambda sends
	// stdout to the function's log group, where CloudWatch extracts the
	// metrics, so the function needs no cloudwatch:PutMetricData permission.
	Metrics io.Writer
}

// Handle processes one invocation of a tumbling window.
func (h Handler) Handle(ctx context.Context, event events.KinesisTimeWindowEvent) (events.KinesisTimeWindowEventResponse, error) {
	var resp events.KinesisTimeWindowEventResponse
	state, err := DecodeState(event.State)
	if err != nil {
		return resp, err
	}
	windowStart := event.Window.Start.UTC()
	batch := make([]Input, len(event.Records))
	for i, r := range event.Records {
		batch[i] = Input{
			SequenceNumber: r.Kinesis.SequenceNumber,
			Arrival:        r.Kinesis.ApproximateArrivalTimestamp.UTC(),
			Data:           r.Kinesis.Data,
		}
	}
	rejected := h.Aggregator.Add(state, windowStart, batch)
	if len(rejected) > 0 {
		// Keyed by the batch's first sequence number: a retried batch
		// overwrites its own error object rather than duplicating it.
		key := fmt.Sprintf("%sdt=%s/%s-%s.jsonl", ErrorsPrefix, windowStart.Format("2006-01-02"),
			safe(event.ShardID), batch[0].SequenceNumber)
		if err := h.Sink.Put(ctx, key, jsonLines(rejected)); err != nil {
			return resp, fmt.Errorf("write %d rejected records to %s: %w", len(rejected), key, err)
		}
	}

	encoded, err := state.Encode()
	if err != nil {
		return resp, err
	}
	full := Size(encoded) > MaxStateBytes
	if !event.IsFinalInvokeForWindow && !event.IsWindowTerminatedEarly && !full {
		resp.State = encoded
		return resp, nil
	}
	if err := h.flush(ctx, event, state); err != nil {
		return resp, err
	}
	if full && !event.IsFinalInvokeForWindow {
		// Continue the window afresh: the next records start a new state,
		// whose first sequence number names its own objects.
		if resp.State, err = NewState().Encode(); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// flush writes the window's aggregates under curated/, one object per
// municipality and event date, and its metrics.
func (h Handler) flush(ctx context.Context, event events.KinesisTimeWindowEvent, state *State) error {
	rows := h.Aggregator.Aggregates(state)
	type partition struct{ municipality, date string }
	byPartition := map[partition][]Aggregate{}
	for _, row := range rows {
		p := partition{row.Municipality, row.WindowStart.Format("2006-01-02")}
		byPartition[p] = append(byPartition[p], row)
	}
	parts := make([]partition, 0, len(byPartition))
	for p := range byPartition {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].municipality != parts[j].municipality {
			return parts[i].municipality < parts[j].municipality
		}
		return parts[i].date < parts[j].date
	})
	for _, p := range parts {
		key := AggregateKey(p.municipality, p.date, event.Window.Start.UTC(), event.ShardID, state.First)
		if err := h.Sink.Put(ctx, key, jsonLines(byPartition[p])); err != nil {
			return fmt.Errorf("write aggregates to %s: %w", key, err)
		}
	}
	if h.Metrics != nil {
		if err := writeMetrics(h.Metrics, event.Window.End.UTC(), rows, state.Stats); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// AggregateKey is where a flush writes the aggregates of one municipality and
// event date: partitioned like the raw records, and named after the arrival
// window, shard and the state's first sequence number, so a retried flush
// overwrites itself, an early-flushed window never overwrites its earlier
// part, and the deltas of late records sit beside the window's first count.
func AggregateKey(municipality, date string, arrivalWindow time.Time, shardID, firstSequence string) string {
	return path.Join(AggregatesPrefix, "municipality="+municipality, "dt="+date,
		fmt.Sprintf("%s-%s-%s.jsonl", arrivalWindow.Format("20060102T150405Z"), safe(shardID), safe(firstSequence)))
}

func safe(s string) string {
	if s == "" {
		return "shard"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func jsonLines[T any](rows []T) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rows {
		_ = enc.Encode(r) // plain structs of strings, ints and times always encode
	}
	return buf.Bytes()
}

// writeMetrics prints CloudWatch embedded metric format records: one per
// municipality and district, and one with the window's totals. The only
// metric dimension is the municipality: CloudWatch bills each distinct
// dimension value as a custom metric, and a municipality has hundreds of
// districts. The district stays a property of each line, so Logs Insights
// can break a metric down, and CloudWatch's Sum over the lines of a window
// is the municipality's figure; per-district history is in curated/.
func writeMetrics(w io.Writer, at time.Time, rows []Aggregate, stats Stats) error {
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	count := func(names ...string) []metric {
		m := make([]metric, len(names))
		for i, n := range names {
			m[i] = metric{n, "Count"}
		}
		return m
	}
	directive := func(dims [][]string, metrics []metric) map[string]any {
		return map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": MetricsNamespace, "Dimensions": dims, "Metrics": metrics,
			}},
		}
	}
	enc := json.NewEncoder(w)
	// Sum over event windows: the metric is what arrived in this window.
	type district struct{ municipality, district string }
	sums := map[district]*Counts{}
	var order []district
	for _, r := range rows {
		d := district{r.Municipality, r.District}
		if sums[d] == nil {
			sums[d] = &Counts{}
			order = append(order, d)
		}
		s := sums[d]
		s.Sightings += r.Sightings
		s.EarTippedSightings += r.EarTippedSightings
		s.Captures += r.Captures
		s.Neutered += r.Neutered
		s.Returned += r.Returned
		s.Adoptions += r.Adoptions
		s.Complaints += r.Complaints
		s.Deaths += r.Deaths
	}
	for _, d := range order {
		s := sums[d]
		if err := enc.Encode(map[string]any{
			"_aws":         directive([][]string{{"Municipality"}}, count("Sightings", "EarTippedSightings", "Captures", "Neutered", "Returned", "Adoptions", "Complaints", "Deaths")),
			"Municipality": d.municipality, "District": d.district,
			"Sightings": s.Sightings, "EarTippedSightings": s.EarTippedSightings, "Captures": s.Captures,
			"Neutered": s.Neutered, "Returned": s.Returned, "Adoptions": s.Adoptions,
			"Complaints": s.Complaints, "Deaths": s.Deaths,
		}); err != nil {
			return err
		}
	}
	return enc.Encode(map[string]any{
		"_aws":    directive([][]string{{}}, count("Records", "UpdatedRecords", "DeletedRecords", "DuplicateRecords", "InvalidRecords", "LateRecords")),
		"Records": stats.Records, "UpdatedRecords": stats.Updates, "DeletedRecords": stats.Deletions,
		"DuplicateRecords": stats.Duplicates, "InvalidRecords": stats.Invalid, "LateRecords": stats.Late,
	})
}
