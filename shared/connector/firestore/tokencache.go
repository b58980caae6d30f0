package firestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/tokencache"
)

const tokensCollection = "token-cache"

// TokenCache returns the token cache shared by every instance, one document
// per connector in <prefix>token-cache. Leases are taken in transactions,
// so among instances racing for an expired token exactly one wins.
func (s *Store) TokenCache() tokencache.Cache { return tokenCache{s} }

type tokenCache struct{ s *Store }

// tokenDoc is the stored form of tokencache.Entry.
type tokenDoc struct {
	Revision    string    `firestore:"revision"`
	Sealed      []byte    `firestore:"sealed"`
	Expiry      time.Time `firestore:"expiry"`
	LeaseHolder string    `firestore:"leaseHolder"`
	LeaseUntil  time.Time `firestore:"leaseUntil"`
}

func (d tokenDoc) entry() *tokencache.Entry {
	return &tokencache.Entry{Revision: d.Revision, Sealed: d.Sealed, Expiry: d.Expiry, LeaseHolder: d.LeaseHolder, LeaseUntil: d.LeaseUntil}
}

func (c tokenCache) doc(name string) *firestore.DocumentRef {
	return c.s.client.Collection(c.s.CollectionPrefix + tokensCollection).Doc(name)
}

func readTokenDoc(snap *firestore.DocumentSnapshot, err error) (*tokenDoc, error) {
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d tokenDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &d, nil
}

func (c tokenCache) Load(ctx context.Context, name string) (*tokencache.Entry, error) {
	d, err := readTokenDoc(c.doc(name).Get(ctx))
	if err != nil {
		return nil, fmt.Errorf("firestore: token cache load: %w", err)
	}
	if d == nil {
		return nil, nil
	}
	return d.entry(), nil
}

func (c tokenCache) Acquire(ctx context.Context, name, holder string, now, until time.Time) (*tokencache.Entry, bool, error) {
	ref := c.doc(name)
	var (
		read     *tokencache.Entry
		acquired bool
	)
	err := c.s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		read, acquired = nil, false
		d, err := readTokenDoc(tx.Get(ref))
		if err != nil {
			return err
		}
		next := tokenDoc{}
		if d != nil {
			read = d.entry()
			next = *d
		}
		if read.Leased(holder, now) {
			return nil
		}
		next.LeaseHolder, next.LeaseUntil = holder, until
		acquired = true
		return tx.Set(ref, next)
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return nil, false, fmt.Errorf("firestore: token cache acquire: %w", err)
	}
	return read, acquired, nil
}

func (c tokenCache) Fill(ctx context.Context, name, holder string, e *tokencache.Entry) error {
	d := tokenDoc{Revision: e.Revision, Sealed: e.Sealed, Expiry: e.Expiry}
	if _, err := c.doc(name).Set(ctx, d); err != nil {
		return fmt.Errorf("firestore: token cache fill: %w", err)
	}
	return nil
}

// errNotHolder ends a release transaction that has nothing to do.
var errNotHolder = errors.New("lease held by another instance")

func (c tokenCache) Release(ctx context.Context, name, holder string) error {
	ref := c.doc(name)
	err := c.s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		d, err := readTokenDoc(tx.Get(ref))
		if err != nil {
			return err
		}
		if d == nil || d.LeaseHolder != holder {
			return errNotHolder
		}
		return tx.Update(ref, []firestore.Update{{Path: "leaseHolder", Value: ""}, {Path: "leaseUntil", Value: time.Time{}}})
	}, firestore.MaxAttempts(txAttempts))
	if err != nil && !errors.Is(err, errNotHolder) {
		return fmt.Errorf("firestore: token cache release: %w", err)
	}
	return nil
}

func (c tokenCache) Forget(ctx context.Context, name string) error {
	if _, err := c.doc(name).Delete(ctx); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("firestore: token cache forget: %w", err)
	}
	return nil
}
