package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
)

const window = 5 * time.Minute

// windowStart is an arrival window [10:00, 10:05) UTC.
var windowStart = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func record(id, municipality, district string, event catrecord.EventType, at time.Time) catrecord.Record {
	return catrecord.Record{
		MunicipalityCode: municipality, RecordID: id, EventTime: at, EventType: event,
		District: district, Reporter: catrecord.Volunteer, Sex: catrecord.SexUnknown,
	}
}

func input(t testing.TB, r catrecord.Record, arrival time.Time) Input {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return Input{SequenceNumber: "seq-" + r.RecordID, Arrival: arrival, Data: b}
}

func find(t *testing.T, rows []Aggregate, municipality, district string, start time.Time) Aggregate {
	t.Helper()
	for _, r := range rows {
		if r.Municipality == municipality && r.District == district && r.WindowStart.Equal(start) {
			return r
		}
	}
	t.Fatalf("no aggregate for %s/%s at %s in %+v", municipality, district, start, rows)
	return Aggregate{}
}

func TestWindowBoundaries(t *testing.T) {
	a := Aggregator{Window: window}
	s := NewState()
	arrival := windowStart.Add(4 * time.Minute)
	end := windowStart.Add(window)
	rejected := a.Add(s, windowStart, []Input{
		input(t, record("first-instant", "131016", "A", catrecord.Sighting, windowStart), arrival),
		input(t, record("last-instant", "131016", "A", catrecord.Sighting, end.Add(-time.Nanosecond)), arrival),
		// The end instant belongs to the next window: windows are [start, end).
		input(t, record("end-instant", "131016", "A", catrecord.Sighting, end), end.Add(time.Second)),
	})
	if len(rejected) != 0 {
		t.Fatalf("no record should be rejected: %+v", rejected)
	}
	rows := a.Aggregates(s)
	if got := find(t, rows, "131016", "A", windowStart); got.Sightings != 2 || !got.WindowEnd.Equal(end) {
		t.Errorf("window [10:00,10:05) must count its first and last instant and end at 10:05, got %+v", got)
	}
	if got := find(t, rows, "131016", "A", end); got.Sightings != 1 {
		t.Errorf("an event at exactly 10:05 belongs to [10:05,10:10), got %+v", got)
	}
}

func TestWindowsAlignToTheEpochForAnySize(t *testing.T) {
	for _, size := range []time.Duration{7 * time.Second, time.Minute, 900 * time.Second} {
		at := time.Date(2026, 4, 1, 10, 3, 17, 5, time.UTC)
		start := WindowStart(at, size)
		if start.Unix()%int64(size/time.Second) != 0 || start.After(at) || !at.Before(start.Add(size)) {
			t.Errorf("window of %s for %s starts at %s: must be an epoch multiple holding the instant", size, at, start)
		}
	}
}

func TestLateRecordsCountInTheirOwnWindow(t *testing.T) {
	a := Aggregator{Window: window}
	s := NewState()
	arrival := windowStart.Add(time.Minute)
	yesterday := windowStart.Add(-24 * time.Hour).Add(90 * time.Second)
	a.Add(s, windowStart, []Input{
		input(t, record("on-time", "131016", "A", catrecord.Capture, windowStart.Add(10*time.Second)), arrival),
		input(t, record("late", "131016", "A", catrecord.Capture, yesterday), arrival),
	})
	rows := a.Aggregates(s)
	late := find(t, rows, "131016", "A", WindowStart(yesterday, window))
	if late.Captures != 1 || late.LateRecords != 1 {
		t.Errorf("a report arriving a day late must count in its event window and be marked late, got %+v", late)
	}
	onTime := find(t, rows, "131016", "A", windowStart)
	if onTime.Captures != 1 || onTime.LateRecords != 0 {
		t.Errorf("the on-time capture must not be marked late, got %+v", onTime)
	}
	if s.Stats.Late != 1 || s.Stats.Records != 2 {
		t.Errorf("stats must count 2 records, 1 late: %+v", s.Stats)
	}
}

func TestDuplicatesCountOnceAcrossInvocations(t *testing.T) {
	a := Aggregator{Window: window}
	r := record("r-1", "131016", "A", catrecord.Adoption, windowStart.Add(time.Minute))
	s := NewState()
	a.Add(s, windowStart, []Input{input(t, r, windowStart.Add(time.Minute)), input(t, r, windowStart.Add(time.Minute))})
	// The next invocation of the window gets the state back through Lambda.
	encoded, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s, err = DecodeState(encoded)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(s, windowStart, []Input{input(t, r, windowStart.Add(2*time.Minute))})
	// The same record id in another municipality is another record.
	other := r
	other.MunicipalityCode = "271004"
	a.Add(s, windowStart, []Input{input(t, other, windowStart.Add(2*time.Minute))})

	rows := a.Aggregates(s)
	if got := find(t, rows, "131016", "A", windowStart); got.Adoptions != 1 {
		t.Errorf("a record delivered three times (Kinesis is at-least-once) must count once, got %d", got.Adoptions)
	}
	if got := find(t, rows, "271004", "A", windowStart); got.Adoptions != 1 {
		t.Errorf("record ids are per municipality: 271004's r-1 must count, got %d", got.Adoptions)
	}
	if s.Stats.Duplicates != 2 || s.Stats.Records != 2 {
		t.Errorf("stats must show 2 records and 2 duplicates, got %+v", s.Stats)
	}
}

// revise returns the next revision of r with edit applied, as the API
// streams an update: it carries what the previous revision counted.
func revise(r catrecord.Record, edit func(*catrecord.Record)) catrecord.Record {
	next := r
	edit(&next)
	next.Revision = r.Version() + 1
	previous := r.Counted()
	next.Replaces = &previous
	return next
}

// tombstone returns the deletion of r, as the API streams it.
func tombstone(r catrecord.Record) catrecord.Record {
	d := r
	d.Revision, d.Deleted, d.Replaces = r.Version()+1, true, nil
	return d
}

// TestCorrectionsMoveCountsAndDeletionsTakeThemBack: an update counted in a
// later arrival window takes its previous revision back from that revision's
// window and district; a deletion takes the record back. Summing the delta
// objects of every arrival window gives the true counts.
func TestCorrectionsMoveCountsAndDeletionsTakeThemBack(t *testing.T) {
	a := Aggregator{Window: window}
	at := windowStart.Add(time.Minute)
	sighting := record("s-1", "131016", "A", catrecord.Sighting, at)
	sighting.EarTipped = true
	complaint := record("c-1", "131016", "A", catrecord.Complaint, at)

	first := NewState()
	a.Add(first, windowStart, []Input{input(t, sighting, at), input(t, complaint, at)})

	// An hour later: the sighting was in district B, and not of an
	// ear-tipped cat; the complaint was a mistake.
	later := windowStart.Add(time.Hour)
	moved := revise(sighting, func(r *catrecord.Record) { r.District, r.EarTipped = "B", false })
	second := NewState()
	if rejected := a.Add(second, later, []Input{input(t, moved, later), input(t, tombstone(complaint), later)}); len(rejected) != 0 {
		t.Fatalf("revisions rejected: %+v", rejected)
	}
	deltaA := find(t, a.Aggregates(second), "131016", "A", windowStart)
	if deltaA.Sightings != -1 || deltaA.EarTippedSightings != -1 || deltaA.Complaints != -1 || deltaA.LateRecords != 2 {
		t.Errorf("district A's delta = %+v, want the sighting and the complaint taken back, both late", deltaA)
	}
	deltaB := find(t, a.Aggregates(second), "131016", "B", windowStart)
	if deltaB.Sightings != 1 || deltaB.EarTippedSightings != 0 || deltaB.LateRecords != 1 {
		t.Errorf("district B's delta = %+v, want the corrected sighting, late", deltaB)
	}
	if second.Stats.Records != 2 || second.Stats.Updates != 1 || second.Stats.Deletions != 1 || second.Stats.Late != 2 {
		t.Errorf("stats = %+v, want 2 revisions: 1 update, 1 deletion, both late", second.Stats)
	}

	// What a reader of curated/ sees: the sum of both windows' objects.
	total := map[string]Counts{}
	for _, s := range []*State{first, second} {
		for _, row := range a.Aggregates(s) {
			c := total[row.District]
			c.Sightings += row.Sightings
			c.EarTippedSightings += row.EarTippedSightings
			c.Complaints += row.Complaints
			total[row.District] = c
		}
	}
	if total["A"] != (Counts{}) || total["B"] != (Counts{Sightings: 1}) {
		t.Errorf("summed counts %+v, want nothing left in A and one plain sighting in B", total)
	}
}

// TestRevisionsInOneWindow: a report corrected twice and another created and
// deleted within one window count as their last revision only, and a
// redelivered revision counts once.
func TestRevisionsInOneWindow(t *testing.T) {
	a := Aggregator{Window: window}
	at := windowStart.Add(time.Minute)
	r1 := record("r-1", "131016", "A", catrecord.Capture, at)
	r2 := revise(r1, func(r *catrecord.Record) { r.EventType = catrecord.Neuter })
	r3 := revise(r2, func(r *catrecord.Record) { r.District = "C" })
	gone := record("g-1", "131016", "A", catrecord.Adoption, at)
	s := NewState()
	a.Add(s, windowStart, []Input{
		input(t, r1, at), input(t, r2, at), input(t, r2, at), input(t, r3, at),
		input(t, gone, at), input(t, tombstone(gone), at),
	})
	rows := a.Aggregates(s)
	if len(rows) != 1 {
		t.Fatalf("rows %+v, want only district C: A nets to nothing and is left out", rows)
	}
	if c := find(t, rows, "131016", "C", windowStart); c.Neutered != 1 || c.Captures != 0 || c.Adoptions != 0 {
		t.Errorf("district C = %+v, want the one neuter of r-1's last revision", c)
	}
	if s.Stats.Duplicates != 1 || s.Stats.Records != 5 {
		t.Errorf("stats = %+v, want 5 revisions and the redelivered one as a duplicate", s.Stats)
	}
}

func TestMixedMunicipalitiesAndDistricts(t *testing.T) {
	a := Aggregator{Window: window}
	s := NewState()
	at := windowStart.Add(time.Minute)
	var batch []Input
	events := []struct {
		municipality, district string
		event                  catrecord.EventType
		earTipped              bool
	}{
		{"131016", "神田", catrecord.Sighting, true},
		{"131016", "神田", catrecord.Sighting, false},
		{"131016", "神田", catrecord.Neuter, false},
		{"131016", "丸の内", catrecord.Return, true},
		{"271004", "神田", catrecord.Complaint, false}, // same district name, other municipality
		{"271004", "北区", catrecord.Death, false},
	}
	for i, e := range events {
		r := record(fmt.Sprintf("m-%d", i), e.municipality, e.district, e.event, at)
		r.EarTipped = e.earTipped
		batch = append(batch, input(t, r, at))
	}
	a.Add(s, windowStart, batch)
	rows := a.Aggregates(s)
	if len(rows) != 4 {
		t.Fatalf("want 4 (municipality, district) aggregates, got %d: %+v", len(rows), rows)
	}
	kanda := find(t, rows, "131016", "神田", windowStart)
	if kanda.Sightings != 2 || kanda.EarTippedSightings != 1 || kanda.Neutered != 1 || kanda.Complaints != 0 {
		t.Errorf("131016/神田 must not mix with 271004/神田: %+v", kanda)
	}
	if got := find(t, rows, "131016", "丸の内", windowStart); got.Returned != 1 {
		t.Errorf("131016/丸の内 returned: %+v", got)
	}
	if got := find(t, rows, "271004", "神田", windowStart); got.Complaints != 1 || got.Sightings != 0 {
		t.Errorf("271004/神田: %+v", got)
	}
	if rows[0].Municipality != "131016" || rows[len(rows)-1].Municipality != "271004" {
		t.Errorf("aggregates must be ordered by municipality: %+v", rows)
	}
}

func TestInvalidRecordsAreRejectedWithTheirReason(t *testing.T) {
	a := Aggregator{Window: window}
	s := NewState()
	at := windowStart.Add(time.Minute)
	good := record("ok", "131016", "A", catrecord.Sighting, at)
	badType := record("bad-type", "131016", "A", "feeding", at)
	future := record("future", "131016", "A", catrecord.Sighting, at.Add(time.Hour))
	rejected := a.Add(s, windowStart, []Input{
		input(t, good, at),
		input(t, badType, at),
		input(t, future, at),
		{SequenceNumber: "seq-garbage", Arrival: at, Data: []byte("{not json")},
	})
	if len(rejected) != 3 || s.Stats.Invalid != 3 || s.Stats.Records != 1 {
		t.Fatalf("3 invalid records must be returned, none dropped: rejected=%+v stats=%+v", rejected, s.Stats)
	}
	for i, want := range []string{"event_type", "event_time", "(record)"} {
		if !strings.Contains(rejected[i].Reason, want) {
			t.Errorf("rejection %d must name %s: %q", i, want, rejected[i].Reason)
		}
	}
	if rejected[2].Data != "{not json" || rejected[2].SequenceNumber != "seq-garbage" {
		t.Errorf("a rejection must keep the record as sent and its sequence number: %+v", rejected[2])
	}
	if got := find(t, a.Aggregates(s), "131016", "A", windowStart); got.Sightings != 1 {
		t.Errorf("the valid record must still count: %+v", got)
	}
}

type memorySink struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func (m *memorySink) Put(_ context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string][]byte{}
	}
	m.objects[key] = append([]byte(nil), body...)
	return nil
}

func kinesisEvent(t *testing.T, state map[string]string, final bool, records ...catrecord.Record) events.KinesisTimeWindowEvent {
	var e events.KinesisTimeWindowEvent
	for _, r := range records {
		in := input(t, r, windowStart.Add(time.Minute))
		var er events.KinesisEventRecord
		er.Kinesis.Data = in.Data
		er.Kinesis.SequenceNumber = in.SequenceNumber
		er.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: in.Arrival}
		e.Records = append(e.Records, er)
	}
	e.Window.Start = events.RFC3339EpochTime{Time: windowStart}
	e.Window.End = events.RFC3339EpochTime{Time: windowStart.Add(window)}
	e.State = state
	e.ShardID = "shardId-000000000001"
	e.IsFinalInvokeForWindow = final
	return e
}

func TestHandlerCarriesStateAndFlushesOnTheFinalInvoke(t *testing.T) {
	sink := &memorySink{}
	var metrics bytes.Buffer
	h := Handler{Aggregator: Aggregator{Window: window}, Sink: sink, Metrics: &metrics}
	at := windowStart.Add(time.Minute)
	ctx := context.Background()

	resp, err := h.Handle(ctx, kinesisEvent(t, nil, false,
		record("a", "131016", "神田", catrecord.Sighting, at),
		record("b", "131016", "神田", "feeding", at)))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.State) == 0 {
		t.Fatal("a non-final invocation must hand its state back to Lambda")
	}
	if len(sink.objects) != 1 {
		t.Fatalf("the invalid record must be written to the errors prefix at once, got %v", keys(sink.objects))
	}
	for k, body := range sink.objects {
		if !strings.HasPrefix(k, ErrorsPrefix) || !strings.Contains(string(body), "event_type") {
			t.Errorf("rejected record must land under %s with its reason: %s %s", ErrorsPrefix, k, body)
		}
	}

	resp, err = h.Handle(ctx, kinesisEvent(t, resp.State, true, record("c", "131016", "神田", catrecord.Sighting, at)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.State != nil {
		t.Errorf("the final invocation must not carry state into the next window: %v", resp.State)
	}
	key := AggregateKey("131016", "2026-04-01", windowStart, "shardId-000000000001", "seq-a")
	body, ok := sink.objects[key]
	if !ok {
		t.Fatalf("the final invocation must write %s, got %v", key, keys(sink.objects))
	}
	var row Aggregate
	if err := json.Unmarshal(bytes.TrimSpace(body), &row); err != nil || row.Sightings != 2 {
		t.Errorf("the curated aggregate must count both invocations' sightings: %s (%v)", body, err)
	}
	if !strings.Contains(metrics.String(), `"Namespace":"CatsAnalytics"`) || !strings.Contains(metrics.String(), `"Sightings":2`) ||
		!strings.Contains(metrics.String(), `"InvalidRecords":1`) {
		t.Errorf("the flush must emit embedded-metric-format lines for CloudWatch: %s", metrics.String())
	}
	if !strings.Contains(metrics.String(), `"Dimensions":[["Municipality"]]`) || strings.Contains(metrics.String(), `"District"]`) ||
		!strings.Contains(metrics.String(), `"District":"神田"`) {
		t.Errorf("metrics must be dimensioned by municipality only (a custom metric per district would cost per district), with the district kept as a log property: %s", metrics.String())
	}
}

func TestHandlerFlushesEarlyWhenTheStateOutgrowsLambdasLimit(t *testing.T) {
	sink := &memorySink{}
	h := Handler{Aggregator: Aggregator{Window: window}, Sink: sink}
	at := windowStart.Add(time.Minute)
	// ~120k distinct records: the seen-set alone exceeds MaxStateBytes.
	s := NewState()
	for i := 0; i < 120_000; i++ {
		s.seen[recordHash("131016", fmt.Sprint(i), 1)] = struct{}{}
	}
	s.Groups[Key{"131016", "A", WindowStart(at, window).Unix()}] = &Counts{Sightings: 120_000}
	s.First = "seq-0"
	state, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(context.Background(), kinesisEvent(t, state, false, record("x", "131016", "A", catrecord.Sighting, at)))
	if err != nil {
		t.Fatal(err)
	}
	if Size(resp.State) > MaxStateBytes {
		t.Errorf("the returned state (%d bytes) must fit Lambda's 1 MB limit", Size(resp.State))
	}
	next, err := DecodeState(resp.State)
	if err != nil || next.First != "" || len(next.Groups) != 0 {
		t.Errorf("after an early flush the window continues with an empty state: %+v %v", next, err)
	}
	first := AggregateKey("131016", "2026-04-01", windowStart, "shardId-000000000001", "seq-0")
	if _, ok := sink.objects[first]; !ok {
		t.Fatalf("the early flush must write the first part, named by its first sequence number: %v", keys(sink.objects))
	}
	// The rest of the window, flushed by the final invoke, must not overwrite it.
	if _, err := h.Handle(context.Background(), kinesisEvent(t, resp.State, true, record("y", "131016", "A", catrecord.Sighting, at))); err != nil {
		t.Fatal(err)
	}
	second := AggregateKey("131016", "2026-04-01", windowStart, "shardId-000000000001", "seq-y")
	if _, ok := sink.objects[second]; !ok || len(sink.objects) != 2 {
		t.Errorf("the rest of the window must land in its own object beside the first: %v", keys(sink.objects))
	}
	var firstRow Aggregate
	if err := json.Unmarshal(bytes.TrimSpace(sink.objects[first]), &firstRow); err != nil || firstRow.Sightings != 120_001 {
		t.Errorf("the first part must keep its 120,001 sightings: %+v %v", firstRow, err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BenchmarkAggregate10k measures one window of 10,000 records: parse,
// validate, deduplicate, count and emit the aggregates.
func BenchmarkAggregate10k(b *testing.B) {
	const n = 10_000
	districts := []string{"神田", "丸の内", "永田町", "番町", "麹町", "飯田橋", "神保町", "秋葉原"}
	municipalities := []string{"131016", "131130", "271004"}
	batch := make([]Input, n)
	for i := range batch {
		r := record(fmt.Sprintf("bench-%06d", i), municipalities[i%len(municipalities)], districts[i%len(districts)],
			catrecord.EventTypes[i%len(catrecord.EventTypes)], windowStart.Add(time.Duration(i%300)*time.Second))
		r.EarTipped = i%3 == 0
		batch[i] = input(b, r, windowStart.Add(4*time.Minute))
	}
	a := Aggregator{Window: window}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := NewState()
		if rejected := a.Add(s, windowStart, batch); len(rejected) != 0 {
			b.Fatalf("benchmark records must be valid: %+v", rejected[0])
		}
		if rows := a.Aggregates(s); len(rows) == 0 {
			b.Fatal("no aggregates")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
