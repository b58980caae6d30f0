package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"connectors.dev/connectors/shared/events"
)

// bucketOutbox maps event ID (which sorts by time) to an outboxRecord: the
// events committed with connector mutations, until a relay delivers them
// (shared/events).
const bucketOutbox = "events_outbox"

var _ events.Outbox = (*Store)(nil)

// outboxRecord is an event waiting for delivery; AvailableAt is when the
// next claim may take it (its time, then a lease's end).
type outboxRecord struct {
	Type        string      `json:"type"`
	Time        time.Time   `json:"time"`
	Data        events.Data `json:"data"`
	AvailableAt time.Time   `json:"availableAt"`
	ClaimedBy   string      `json:"claimedBy,omitempty"`
}

// recordEvent writes e into the outbox inside tx, when ctx asks for it
// (events.Record).
func recordEvent(ctx context.Context, tx *bolt.Tx, e events.Event) error {
	if !events.Recording(ctx) {
		return nil
	}
	if err := events.Check(&e); err != nil {
		return err
	}
	v, err := json.Marshal(outboxRecord{Type: e.Type, Time: e.Time, Data: e.Data, AvailableAt: e.Time})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return tx.Bucket([]byte(bucketOutbox)).Put([]byte(e.ID), v)
}

// ClaimEvents implements events.Outbox; bbolt's single writer makes the
// claim atomic.
func (s *Store) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]events.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: claim events: %w", err)
	}
	var out []events.Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketOutbox))
		type claim struct {
			k []byte
			r outboxRecord
		}
		var claims []claim
		cur := b.Cursor()
		for k, v := cur.First(); k != nil && len(claims) < limit; k, v = cur.Next() {
			var r outboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode event %s: %w", k, err)
			}
			if r.AvailableAt.After(now) {
				continue
			}
			claims = append(claims, claim{append([]byte(nil), k...), r})
		}
		for _, c := range claims {
			c.r.AvailableAt, c.r.ClaimedBy = now.Add(lease).UTC(), owner
			v, err := json.Marshal(c.r)
			if err != nil {
				return err
			}
			if err := b.Put(c.k, v); err != nil {
				return err
			}
			out = append(out, events.Event{ID: string(c.k), Type: c.r.Type, Time: c.r.Time, Data: c.r.Data})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: claim events: %w", err)
	}
	return out, nil
}

// EventDelivered implements events.Outbox.
func (s *Store) EventDelivered(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: forget event %q: %w", id, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketOutbox)).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("boltstore: forget event %q: %w", id, err)
	}
	return nil
}
