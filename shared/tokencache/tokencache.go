// Package tokencache is the cache that minted tokens share across function
// instances: one entry per connector, holding the token sealed with a key
// only the token function can read, and a lease so that when the token must
// be minted again exactly one instance calls the provider while the others
// wait for its result. Stores implement Cache on Firestore (production) and
// on the embedded database (local run); cachetest is their conformance
// suite.
package tokencache

import (
	"context"
	"time"
)

// Entry is one connector's cached credential and lease.
type Entry struct {
	// Revision is the connector revision the credential was minted from; a
	// reader whose connector has another revision must not use it.
	Revision string
	// Sealed is the credential, encrypted and bound to the connector name
	// and revision. Empty while no credential is cached.
	Sealed []byte
	// Expiry is when the credential stops being valid.
	Expiry time.Time
	// LeaseHolder is the instance minting a new credential, until LeaseUntil.
	LeaseHolder string
	LeaseUntil  time.Time
}

// Leased reports whether another holder than holder holds an unexpired
// lease at now.
func (e *Entry) Leased(holder string, now time.Time) bool {
	return e != nil && e.LeaseHolder != "" && e.LeaseHolder != holder && now.Before(e.LeaseUntil)
}

// Cache stores entries by connector name. Implementations are safe for
// concurrent use by many instances.
type Cache interface {
	// Load returns the entry for name, or nil when there is none.
	Load(ctx context.Context, name string) (*Entry, error)
	// Acquire atomically takes the lease on name for holder until until,
	// unless another holder's lease is unexpired at now. It returns the
	// entry as it was read (nil if none) and whether the lease was taken;
	// the cached credential is left in place.
	Acquire(ctx context.Context, name, holder string, now, until time.Time) (*Entry, bool, error)
	// Fill stores a new credential for name and ends holder's lease.
	Fill(ctx context.Context, name, holder string, e *Entry) error
	// Release ends holder's lease without storing a credential (minting
	// failed), so another instance may try at once.
	Release(ctx context.Context, name, holder string) error
	// Forget removes name's entry (connector deleted).
	Forget(ctx context.Context, name string) error
}
