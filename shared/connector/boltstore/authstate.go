package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"connectors.dev/connectors/shared/connector"
)

const bucketAuthStates = "auth_states"

// PutAuthState implements connector.AuthStates; each put also drops the
// states that expired, so the bucket holds only pending ones.
func (s *Store) PutAuthState(_ context.Context, st *connector.AuthState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("boltstore: encode auth state: %w", err)
	}
	now := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketAuthStates))
		if err != nil {
			return err
		}
		var expired [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			var old connector.AuthState
			if json.Unmarshal(v, &old) != nil || now.After(old.ExpiresAt) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put([]byte(st.ID), data)
	})
	if err != nil {
		return fmt.Errorf("boltstore: put auth state: %w", err)
	}
	return nil
}

// TakeAuthState implements connector.AuthStates: read and delete in one
// write transaction.
func (s *Store) TakeAuthState(_ context.Context, id string) (*connector.AuthState, error) {
	var st *connector.AuthState
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketAuthStates))
		if b == nil {
			return nil
		}
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		st = &connector.AuthState{}
		if err := json.Unmarshal(v, st); err != nil {
			return fmt.Errorf("decode auth state: %w", err)
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: take auth state: %w", err)
	}
	if st == nil {
		return nil, connector.ErrStateNotFound
	}
	st.ID = id
	return st, nil
}
