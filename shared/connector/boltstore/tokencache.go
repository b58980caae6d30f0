package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"connectors.dev/connectors/shared/tokencache"
)

const bucketTokens = "token_cache"

// TokenCache returns the shared token cache kept in the same file. In a
// local run one process serves every function, so the lease is mostly a
// formality here, but the semantics match Firestore's.
func (s *Store) TokenCache() tokencache.Cache { return tokenCache{db: s.db} }

type tokenCache struct{ db *bolt.DB }

func (c tokenCache) Load(_ context.Context, name string) (*tokencache.Entry, error) {
	var e *tokencache.Entry
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = readEntry(tx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: token cache load: %w", err)
	}
	return e, nil
}

func (c tokenCache) Acquire(_ context.Context, name, holder string, now, until time.Time) (*tokencache.Entry, bool, error) {
	var (
		read     *tokencache.Entry
		acquired bool
	)
	err := c.db.Update(func(tx *bolt.Tx) error {
		e, err := readEntry(tx, name)
		if err != nil {
			return err
		}
		read = e
		if e.Leased(holder, now) {
			return nil
		}
		next := tokencache.Entry{}
		if e != nil {
			next = *e
		}
		next.LeaseHolder, next.LeaseUntil = holder, until
		acquired = true
		return writeEntry(tx, name, &next)
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: token cache acquire: %w", err)
	}
	return read, acquired, nil
}

func (c tokenCache) Fill(_ context.Context, name, holder string, e *tokencache.Entry) error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		next := *e
		next.LeaseHolder, next.LeaseUntil = "", time.Time{}
		return writeEntry(tx, name, &next)
	})
	if err != nil {
		return fmt.Errorf("boltstore: token cache fill: %w", err)
	}
	return nil
}

func (c tokenCache) Release(_ context.Context, name, holder string) error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		e, err := readEntry(tx, name)
		if err != nil || e == nil || e.LeaseHolder != holder {
			return err
		}
		e.LeaseHolder, e.LeaseUntil = "", time.Time{}
		return writeEntry(tx, name, e)
	})
	if err != nil {
		return fmt.Errorf("boltstore: token cache release: %w", err)
	}
	return nil
}

func (c tokenCache) Forget(_ context.Context, name string) error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketTokens))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("boltstore: token cache forget: %w", err)
	}
	return nil
}

func readEntry(tx *bolt.Tx, name string) (*tokencache.Entry, error) {
	b := tx.Bucket([]byte(bucketTokens))
	if b == nil {
		return nil, nil
	}
	raw := b.Get([]byte(name))
	if raw == nil {
		return nil, nil
	}
	var e tokencache.Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode entry: %w", err)
	}
	return &e, nil
}

func writeEntry(tx *bolt.Tx, name string, e *tokencache.Entry) error {
	b, err := tx.CreateBucketIfNotExists([]byte(bucketTokens))
	if err != nil {
		return err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put([]byte(name), raw)
}
