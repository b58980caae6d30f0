package firestore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
)

// healthCollection holds one connector.HealthRecord per connector name.
// Its writes are transactions on that document alone: they never touch
// the connector, its revision or the catalog version document.
const healthCollection = "connector-health"

var _ connector.HealthStore = (*Store)(nil)

func (s *Store) health(name string) *firestore.DocumentRef {
	return s.client.Collection(s.CollectionPrefix + healthCollection).Doc(name)
}

// RecordHealth implements connector.HealthStore: a read-write transaction
// on the record, so of instances recording the same change at once,
// exactly one sees the state move.
func (s *Store) RecordHealth(ctx context.Context, name string, d connector.HealthDelta) (before, after connector.HealthRecord, err error) {
	if !validID(name) {
		return before, after, fmt.Errorf("firestore: record health of %q: %w", name, connector.ErrNotFound)
	}
	ref := s.health(name)
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		before = connector.HealthRecord{}
		snap, err := tx.Get(ref)
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			return err
		default:
			if err := snap.DataTo(&before); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		after = before.Apply(d)
		// The transition's event commits with it (events on): exactly
		// the writer that moved the state records one.
		if e, ok := events.HealthTransition(name, string(before.Current()), string(after.Current()), after.LastErrorCode, time.Now()); ok && events.Recording(ctx) {
			if err := s.recordEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return tx.Set(ref, after)
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return before, after, fmt.Errorf("firestore: record health of %q: %w", name, mapErr(err))
	}
	return before, after, nil
}

// Health implements connector.HealthStore: one batched read.
func (s *Store) Health(ctx context.Context, names []string) (map[string]connector.HealthRecord, error) {
	out := make(map[string]connector.HealthRecord, len(names))
	refs := make([]*firestore.DocumentRef, 0, len(names))
	for _, n := range names {
		if validID(n) {
			refs = append(refs, s.health(n))
		}
	}
	if len(refs) == 0 {
		return out, nil
	}
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("firestore: read health: %w", mapErr(err))
	}
	for _, snap := range snaps {
		if !snap.Exists() {
			continue
		}
		var r connector.HealthRecord
		if err := snap.DataTo(&r); err != nil {
			return nil, fmt.Errorf("firestore: read health of %q: decode: %w", snap.Ref.ID, err)
		}
		out[snap.Ref.ID] = r
	}
	return out, nil
}

// DeleteHealth implements connector.HealthStore.
func (s *Store) DeleteHealth(ctx context.Context, name string) error {
	if !validID(name) {
		return nil
	}
	if _, err := s.health(name).Delete(ctx); err != nil {
		return fmt.Errorf("firestore: delete health of %q: %w", name, mapErr(err))
	}
	return nil
}
