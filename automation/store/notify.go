package store

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Topics of the store's notifications. A notification only says "look
// again": whoever wakes reads the database, so a coalesced or missed wake-up
// delays a reader until its next one and loses nothing.
const (
	// TopicJobs: a job became claimable or a job ended (the next of its
	// stack may be claimable), or a cancellation was requested.
	TopicJobs = "jobs"
)

// TopicEvents is the topic of a job's new events and of its end.
func TopicEvents(jobID int64) string { return "events:" + strconv.FormatInt(jobID, 10) }

// pgChannel is the one PostgreSQL channel the store notifies on; the payload
// is the topic.
const pgChannel = "cats"

// hub delivers notifications to this process's subscribers.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan struct{}]struct{}{}} }

func (h *hub) subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan struct{}]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		h.mu.Unlock()
	}
}

// publish wakes the subscribers of a topic; a subscriber already woken and
// not yet reading keeps one pending wake-up.
func (h *hub) publish(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// publishAll wakes every subscriber: after the PostgreSQL listener
// reconnects, notifications sent meanwhile are lost.
func (h *hub) publishAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Subscribe returns a channel woken when the topic is notified, by this
// replica or (on PostgreSQL) any other, and the function that ends the
// subscription.
func (s *DB) Subscribe(topic string) (<-chan struct{}, func()) { return s.hub.subscribe(topic) }

// SubscribeJob returns a channel woken when a job has new events or ends.
func (s *DB) SubscribeJob(jobID int64) (<-chan struct{}, func()) {
	return s.hub.subscribe(TopicEvents(jobID))
}

// notify wakes the topic's subscribers. On PostgreSQL it goes through
// pg_notify on ex, so inside a transaction it is delivered at the commit,
// to every replica; on SQLite (one server) it stays in this process.
func (s *DB) notify(ctx context.Context, ex execer, topic string) error {
	if s.dialect != postgres {
		s.hub.publish(topic)
		return nil
	}
	if _, err := ex.ExecContext(ctx, `SELECT pg_notify(?, ?)`, pgChannel, topic); err != nil {
		return err
	}
	return nil
}

// listen starts the PostgreSQL listener: one connection per replica, kept
// open and reconnected on failure, that hands the notifications to the hub.
func (s *DB) listen(ctx context.Context) error {
	conn, err := s.connectListener(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	s.stopListener = func() { cancel(); <-done }
	go func() {
		defer close(done)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err == nil {
				s.hub.publish(n.Payload)
				continue
			}
			conn.Close(context.Background())
			if lctx.Err() != nil {
				return
			}
			slog.Warn("the PostgreSQL listener lost its connection; reconnecting", "err", err)
			for {
				select {
				case <-lctx.Done():
					return
				case <-time.After(time.Second):
				}
				if conn, err = s.connectListener(lctx); err == nil {
					break
				}
				slog.Warn("reconnect the PostgreSQL listener", "err", err)
			}
			s.hub.publishAll()
		}
	}()
	return nil
}

func (s *DB) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.listenConfig)
	if err != nil {
		return nil, errors.Join(errors.New("open the PostgreSQL listener's connection"), err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		conn.Close(ctx)
		return nil, errors.Join(errors.New("listen for notifications"), err)
	}
	return conn, nil
}
