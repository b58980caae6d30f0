package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
)

// bucketHealth maps a connector name to its connector.HealthRecord as
// JSON. Its writes never touch the connectors or the catalog bucket, so
// they change no revision and no catalog version.
const bucketHealth = "health"

var _ connector.HealthStore = (*Store)(nil)

// RecordHealth implements connector.HealthStore; bbolt's single writer
// makes the read and the write one step.
func (s *Store) RecordHealth(ctx context.Context, name string, d connector.HealthDelta) (before, after connector.HealthRecord, err error) {
	if err := ctx.Err(); err != nil {
		return before, after, fmt.Errorf("boltstore: record health of %q: %w", name, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketHealth))
		if err != nil {
			return err
		}
		before = connector.HealthRecord{}
		if raw := b.Get([]byte(name)); raw != nil {
			if err := json.Unmarshal(raw, &before); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		after = before.Apply(d)
		raw, err := json.Marshal(after)
		if err != nil {
			return err
		}
		// The transition's event commits with it (events on): exactly
		// the writer that moved the state records one.
		if e, ok := events.HealthTransition(name, string(before.Current()), string(after.Current()), after.LastErrorCode, time.Now()); ok && events.Recording(ctx) {
			if err := recordEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return b.Put([]byte(name), raw)
	})
	if err != nil {
		return before, after, fmt.Errorf("boltstore: record health of %q: %w", name, err)
	}
	return before, after, nil
}

// Health implements connector.HealthStore.
func (s *Store) Health(ctx context.Context, names []string) (map[string]connector.HealthRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: read health: %w", err)
	}
	out := make(map[string]connector.HealthRecord, len(names))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketHealth))
		if b == nil {
			return nil
		}
		for _, name := range names {
			raw := b.Get([]byte(name))
			if raw == nil {
				continue
			}
			var r connector.HealthRecord
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("decode %q: %w", name, err)
			}
			out[name] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: read health: %w", err)
	}
	return out, nil
}

// DeleteHealth implements connector.HealthStore.
func (s *Store) DeleteHealth(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delete health of %q: %w", name, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucketHealth)); b != nil {
			return b.Delete([]byte(name))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete health of %q: %w", name, err)
	}
	return nil
}
