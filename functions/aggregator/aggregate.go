// Package aggregator is the seed's real-time aggregation (Kinesis Analytics
// `cats-data-analysis`, 「猫の情報に基づく集計処理」) as the window logic of the
// Lambda of the same name.
//
// Why a Lambda and not Kinesis Analytics (DESIGN.md deviation 1): Kinesis Data
// Analytics for SQL accepts no new applications since 2025-10-15 and is being
// deleted from 2026-01-27. Its successor, Managed Service for Apache Flink,
// runs Java or Python artifacts that this Go repository can neither build nor
// test, and bills at least two KPUs per application around the clock, one
// application per municipality. Lambda's Kinesis tumbling windows give the
// same per-window aggregation in Go, tested here, at a cost that follows the
// number of reports.
//
// How a window works. Lambda groups the stream's records into tumbling
// windows by arrival time, per shard, and invokes the function several times
// per window, handing back the State the previous invocation returned; the
// last invocation of a window has IsFinalInvokeForWindow set. The aggregator
// counts each record in the event-time window its event_time falls into
// (windows of the same size, aligned to the Unix epoch, [start, end)). A
// record whose event window starts before the arrival window is late: it is
// still counted, in its own (earlier) event window, and the delta is written
// as a separate object, so summing the curated objects of an event window
// gives its exact count however late its reports arrive.
//
// Reports are corrected and withdrawn. Each change is a new revision of the
// record on the stream (catrecord.Record.Revision): an update carries what
// the previous revision counted (Replaces), which is taken back from that
// revision's own window and district before the update is counted; a
// deletion is a tombstone carrying the record's last content, which is taken
// back. So a correction moves a count rather than adding one, and the curated
// objects of a window still sum to its exact count; a delta object may hold
// negative numbers. Kinesis delivers at least once and producers retry, so
// revisions are deduplicated by (municipality, record id, revision) within a
// window. Invalid records are never dropped: each is returned with the
// reason, naming the field, for the handler to write under the data lake's
// errors/ prefix.
package aggregator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
)

// Counts are the per-window figures of one district.
type Counts struct {
	Sightings          int `json:"sightings"`
	EarTippedSightings int `json:"ear_tipped_sightings"` // sightings of TNR'd cats, for TNR coverage
	Captures           int `json:"captures"`
	Neutered           int `json:"neutered"`
	Returned           int `json:"returned"` // TNR completed: the cat is back in its district
	Adoptions          int `json:"adoptions"`
	Complaints         int `json:"complaints"`
	Deaths             int `json:"deaths"`
	// LateRecords counts the changes above (a report counted, or a corrected
	// or deleted one taken back) that arrived after their event window.
	LateRecords int `json:"late_records"`
}

// add counts an event n times: 1 for a report, -1 to take one back.
func (c *Counts) add(e catrecord.Counted, n int) {
	switch e.EventType {
	case catrecord.Sighting:
		c.Sightings += n
		if e.EarTipped {
			c.EarTippedSightings += n
		}
	case catrecord.Capture:
		c.Captures += n
	case catrecord.Neuter:
		c.Neutered += n
	case catrecord.Return:
		c.Returned += n
	case catrecord.Adoption:
		c.Adoptions += n
	case catrecord.Complaint:
		c.Complaints += n
	case catrecord.Death:
		c.Deaths += n
	}
}

// Key identifies one aggregate: a district of a municipality in one event window.
type Key struct {
	Municipality string `json:"municipality_code"`
	District     string `json:"district"`
	WindowStart  int64  `json:"window_start_unix"`
}

// Aggregate is one output row.
type Aggregate struct {
	Municipality string    `json:"municipality_code"`
	District     string    `json:"district"`
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	Counts
}

// Input is one stream record as the handler received it.
type Input struct {
	SequenceNumber string
	Arrival        time.Time
	Data           []byte
}

// Rejected is an invalid record and why.
type Rejected struct {
	SequenceNumber string    `json:"sequence_number"`
	Arrival        time.Time `json:"approximate_arrival"`
	Reason         string    `json:"reason"`
	Data           string    `json:"data"` // the record as sent, for replay after a fix
}

// Stats count what one arrival window saw.
type Stats struct {
	Records    int `json:"records"`   // valid, unique revisions counted
	Updates    int `json:"updates"`   // of them, corrections of an earlier revision
	Deletions  int `json:"deletions"` // of them, tombstones
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	Late       int `json:"late"`
}

// State is what carries over between the invocations of one arrival window.
type State struct {
	Groups map[Key]*Counts
	seen   map[uint64]struct{}
	Stats  Stats
	// First is the sequence number of the first record counted into this
	// state. It names the state's output objects: a retried flush rewrites
	// its own objects, and a window flushed early (its state outgrew
	// Lambda's limit, or Lambda ended it early) continues into new ones.
	First string
}

// NewState returns the empty state of a new window.
func NewState() *State {
	return &State{Groups: map[Key]*Counts{}, seen: map[uint64]struct{}{}}
}

// Aggregator aggregates records into event-time tumbling windows.
type Aggregator struct {
	// Window is the tumbling window size: the event source mapping's
	// TumblingWindowInSeconds.
	Window time.Duration
}

// Add counts a batch of records into the state of the arrival window that
// starts at windowStart, and returns the records it rejected.
func (a Aggregator) Add(s *State, windowStart time.Time, batch []Input) []Rejected {
	var rejected []Rejected
	if s.First == "" && len(batch) > 0 {
		s.First = batch[0].SequenceNumber
	}
	for _, in := range batch {
		// Event times are bounded by the arrival time (plus clock skew): a
		// report cannot describe a future it was sent before.
		r, err := catrecord.Parse(in.Data, in.Arrival)
		if err != nil {
			s.Stats.Invalid++
			rejected = append(rejected, Rejected{
				SequenceNumber: in.SequenceNumber, Arrival: in.Arrival.UTC(),
				Reason: reason(err), Data: string(in.Data),
			})
			continue
		}
		id := recordHash(r.MunicipalityCode, r.RecordID, r.Version())
		if _, dup := s.seen[id]; dup {
			s.Stats.Duplicates++
			continue
		}
		s.seen[id] = struct{}{}
		s.Stats.Records++
		var late bool
		switch {
		case r.Deleted:
			s.Stats.Deletions++
			late = a.count(s, windowStart, r.MunicipalityCode, r.Counted(), -1)
		case r.Replaces != nil:
			s.Stats.Updates++
			lateBack := a.count(s, windowStart, r.MunicipalityCode, *r.Replaces, -1)
			late = a.count(s, windowStart, r.MunicipalityCode, r.Counted(), 1) || lateBack
		default:
			late = a.count(s, windowStart, r.MunicipalityCode, r.Counted(), 1)
		}
		if late {
			s.Stats.Late++
		}
	}
	return rejected
}

// count adds an event n times to its event window's group and tells whether
// that window lies before the arrival window (the change is late).
func (a Aggregator) count(s *State, windowStart time.Time, municipality string, e catrecord.Counted, n int) bool {
	start := WindowStart(e.EventTime, a.Window)
	key := Key{Municipality: municipality, District: e.District, WindowStart: start.Unix()}
	c := s.Groups[key]
	if c == nil {
		c = &Counts{}
		s.Groups[key] = c
	}
	c.add(e, n)
	late := start.Before(windowStart)
	if late {
		c.LateRecords++
	}
	return late
}

// Aggregates returns the state's rows, ordered by municipality, window and district.
func (a Aggregator) Aggregates(s *State) []Aggregate {
	out := make([]Aggregate, 0, len(s.Groups))
	for k, c := range s.Groups {
		if *c == (Counts{}) {
			continue // a report and its withdrawal in one window: nothing to say
		}
		start := time.Unix(k.WindowStart, 0).UTC()
		out = append(out, Aggregate{
			Municipality: k.Municipality, District: k.District,
			WindowStart: start, WindowEnd: start.Add(a.Window), Counts: *c,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Municipality != y.Municipality {
			return x.Municipality < y.Municipality
		}
		if !x.WindowStart.Equal(y.WindowStart) {
			return x.WindowStart.Before(y.WindowStart)
		}
		return x.District < y.District
	})
	return out
}

// WindowStart returns the start of the event window holding t: windows are
// aligned to the Unix epoch, so every shard and every invocation agrees.
func WindowStart(t time.Time, window time.Duration) time.Time {
	size := int64(window / time.Second)
	u := t.Unix()
	return time.Unix(u-((u%size)+size)%size, 0).UTC()
}

func reason(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		msg := ""
		for i, e := range joined.Unwrap() {
			if i > 0 {
				msg += "; "
			}
			msg += e.Error()
		}
		return msg
	}
	return err.Error()
}

// recordHash identifies a revision of a record for deduplication in 8 bytes,
// so a window's seen-set fits Lambda's 1 MB state limit; a collision among the
// ~10^5 records of a window has a probability below 10^-9.
func recordHash(municipality, recordID string, revision int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(municipality))
	h.Write([]byte{0})
	h.Write([]byte(recordID))
	h.Write([]byte{0})
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(revision)))
	return h.Sum64()
}

// State encoding: Lambda carries the state between the invocations of a
// window as a map of strings, at most 1 MB in all.
const (
	stateGroups = "groups"
	stateSeen   = "seen"
	stateStats  = "stats"
	stateFirst  = "first"
)

// MaxStateBytes is the state size beyond which the handler flushes the
// window early: Lambda's limit is 1 MB.
const MaxStateBytes = 768 << 10

type groupJSON struct {
	Key
	Counts
}

// Encode returns the state as Lambda carries it.
func (s *State) Encode() (map[string]string, error) {
	groups := make([]groupJSON, 0, len(s.Groups))
	for k, c := range s.Groups {
		groups = append(groups, groupJSON{k, *c})
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i].Key, groups[j].Key
		if a.Municipality != b.Municipality {
			return a.Municipality < b.Municipality
		}
		if a.WindowStart != b.WindowStart {
			return a.WindowStart < b.WindowStart
		}
		return a.District < b.District
	})
	g, err := json.Marshal(groups)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(s.seen))
	for id := range s.seen {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	seen := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.LittleEndian.PutUint64(seen[8*i:], id)
	}
	st, err := json.Marshal(s.Stats)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		stateGroups: string(g),
		stateSeen:   base64.StdEncoding.EncodeToString(seen),
		stateStats:  string(st),
		stateFirst:  s.First,
	}, nil
}

// Size is the encoded state's size in bytes.
func Size(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// DecodeState reads the state Lambda handed back; an empty map is a new window.
func DecodeState(m map[string]string) (*State, error) {
	s := NewState()
	if len(m) == 0 {
		return s, nil
	}
	var groups []groupJSON
	if err := json.Unmarshal([]byte(m[stateGroups]), &groups); err != nil {
		return nil, fmt.Errorf("decode window state %s: %w", stateGroups, err)
	}
	for _, g := range groups {
		c := g.Counts
		s.Groups[g.Key] = &c
	}
	seen, err := base64.StdEncoding.DecodeString(m[stateSeen])
	if err != nil || len(seen)%8 != 0 {
		return nil, fmt.Errorf("decode window state %s: not a list of 8-byte ids", stateSeen)
	}
	for i := 0; i < len(seen); i += 8 {
		s.seen[binary.LittleEndian.Uint64(seen[i:])] = struct{}{}
	}
	if err := json.Unmarshal([]byte(m[stateStats]), &s.Stats); err != nil {
		return nil, fmt.Errorf("decode window state %s: %w", stateStats, err)
	}
	s.First = m[stateFirst]
	return s, nil
}
