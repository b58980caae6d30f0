package firestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"connectors.dev/connectors/shared/events"
)

// outboxCollection holds the events committed with connector mutations
// until a relay delivers them (shared/events), one document per event,
// keyed by event ID.
const outboxCollection = "events-outbox"

var _ events.Outbox = (*Store)(nil)

func (s *Store) outbox() *firestore.CollectionRef {
	return s.client.Collection(s.CollectionPrefix + outboxCollection)
}

// outboxDoc is an event waiting for delivery. AvailableAt is when the next
// claim may take it: its time when written, a lease's end once claimed.
// Data is the event's allow-listed JSON, kept as a string so the document
// has no field of its own for anything else.
type outboxDoc struct {
	Type        string    `firestore:"type"`
	Time        time.Time `firestore:"time"`
	Data        string    `firestore:"data"`
	AvailableAt time.Time `firestore:"availableAt"`
	ClaimedBy   string    `firestore:"claimedBy"`
}

// recordEvent writes e into the outbox inside tx, when ctx asks for it
// (events.Record).
func (s *Store) recordEvent(ctx context.Context, tx *firestore.Transaction, e events.Event) error {
	if !events.Recording(ctx) {
		return nil
	}
	if err := events.Check(&e); err != nil {
		return err
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return tx.Create(s.outbox().Doc(e.ID), outboxDoc{Type: e.Type, Time: e.Time, Data: string(data), AvailableAt: e.Time})
}

// ClaimEvents implements events.Outbox: one transaction reads the oldest
// available events and moves their AvailableAt to the lease's end, so that
// of several instances claiming at once exactly one gets each event (the
// others' transactions conflict, retry and find them leased).
func (s *Store) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]events.Event, error) {
	q := s.outbox().Where("availableAt", "<=", now.UTC()).OrderBy("availableAt", firestore.Asc).Limit(limit)
	var out []events.Event
	err := s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		out = out[:0]
		it := tx.Documents(q)
		defer it.Stop()
		var snaps []*firestore.DocumentSnapshot
		for {
			snap, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return err
			}
			snaps = append(snaps, snap)
		}
		for _, snap := range snaps {
			var d outboxDoc
			if err := snap.DataTo(&d); err != nil {
				return fmt.Errorf("decode event %s: %w", snap.Ref.ID, err)
			}
			e := events.Event{ID: snap.Ref.ID, Type: d.Type, Time: d.Time}
			if err := json.Unmarshal([]byte(d.Data), &e.Data); err != nil {
				return fmt.Errorf("decode event %s: %w", snap.Ref.ID, err)
			}
			if err := tx.Update(snap.Ref, []firestore.Update{
				{Path: "availableAt", Value: now.Add(lease).UTC()},
				{Path: "claimedBy", Value: owner},
			}); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return nil, fmt.Errorf("firestore: claim events: %w", mapErr(err))
	}
	return out, nil
}

// EventDelivered implements events.Outbox.
func (s *Store) EventDelivered(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	if _, err := s.outbox().Doc(id).Delete(ctx); err != nil {
		return fmt.Errorf("firestore: forget event %q: %w", id, mapErr(err))
	}
	return nil
}
