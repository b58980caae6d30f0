package firestore

import (
	"context"
	"fmt"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
)

// authStatesCollection holds pending authorizations, one document per
// state hash. Its expiresAt field carries a Firestore TTL policy
// (terraform), which deletes documents once they expire.
const authStatesCollection = "auth-states"

func (s *Store) authState(id string) *firestore.DocumentRef {
	return s.client.Collection(s.CollectionPrefix + authStatesCollection).Doc(id)
}

// PutAuthState implements connector.AuthStates.
func (s *Store) PutAuthState(ctx context.Context, st *connector.AuthState) error {
	if _, err := s.authState(st.ID).Create(ctx, st); err != nil {
		return fmt.Errorf("firestore: put auth state: %w", err)
	}
	return nil
}

// TakeAuthState implements connector.AuthStates: read and delete in one
// transaction, so of concurrent takers exactly one gets the state.
func (s *Store) TakeAuthState(ctx context.Context, id string) (*connector.AuthState, error) {
	ref := s.authState(id)
	var st *connector.AuthState
	err := s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		st = nil
		snap, err := tx.Get(ref)
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		var got connector.AuthState
		if err := snap.DataTo(&got); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		st = &got
		return tx.Delete(ref)
	})
	if err != nil {
		return nil, fmt.Errorf("firestore: take auth state: %w", err)
	}
	if st == nil {
		return nil, connector.ErrStateNotFound
	}
	st.ID = id
	return st, nil
}
