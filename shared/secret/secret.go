// Package secret defines where a connector's secret values live: one secret
// per connector, named by an opaque ID that a rename does not change, holding
// a Bundle as a sequence of versions.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// ErrNotFound is returned when a secret or one of its versions does not
// exist (or was destroyed).
var ErrNotFound = errors.New("secret not found")

// ErrCorrupt is returned when stored data fails its integrity check.
var ErrCorrupt = errors.New("secret data corrupt")

// Bundle is every write-only value of one connector. Its String and
// GoString methods are redacted so that a stray %v never logs a secret.
type Bundle struct {
	ClientSecret string `json:"clientSecret,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	Password     string `json:"password,omitempty"`
	// NextClientSecret is the client secret that replaces ClientSecret
	// once the provider refuses the current one (secret rotation).
	NextClientSecret string `json:"nextClientSecret,omitempty"`
}

// String redacts the bundle.
func (Bundle) String() string { return "secret.Bundle{REDACTED}" }

// GoString redacts the bundle.
func (b Bundle) GoString() string { return b.String() }

// Marshal encodes the bundle as stored.
func (b Bundle) Marshal() []byte {
	data, _ := json.Marshal(b) // cannot fail: strings only
	return data
}

// UnmarshalBundle decodes a stored bundle.
func UnmarshalBundle(data []byte) (Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		// The error from encoding/json may quote input; never wrap it.
		return Bundle{}, fmt.Errorf("secret: decode bundle: %w", ErrCorrupt)
	}
	return b, nil
}

// Store keeps secret bundles. Versions are opaque strings.
type Store interface {
	// Put adds b as a new version of secret id, creating the secret (with
	// labels) when it does not exist, and returns the new version. Versions
	// are decimal numbers that grow with every Put of the same secret. Older
	// versions are kept until Prune, so a caller can still fall back to them
	// if its metadata write fails.
	Put(ctx context.Context, id string, labels map[string]string, b Bundle) (string, error)
	// Get returns the bundle at version; ErrNotFound if the secret or the
	// version is absent or destroyed.
	Get(ctx context.Context, id, version string) (Bundle, error)
	// DestroyVersion destroys one version; destroying an absent or already
	// destroyed version is not an error.
	DestroyVersion(ctx context.Context, id, version string) error
	// Prune destroys every version of id older than keep, and never keep
	// or a version added after it: a writer that committed keep must not
	// destroy what a later writer committed meanwhile (docs: catalog's
	// consistency model). ErrNotFound if keep is absent or destroyed.
	Prune(ctx context.Context, id, keep string) error
	// Delete removes the secret and all its versions; deleting an absent
	// secret is not an error.
	Delete(ctx context.Context, id string) error
	// IDs lists every secret the store holds, for audits and tests.
	IDs(ctx context.Context) ([]string, error)
	Close() error
}

// Older reports whether version v was added before version keep, for
// Prune. A version that is not a decimal number is never older: what
// cannot be ordered is kept.
func Older(v, keep string) bool {
	a, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return false
	}
	b, err := strconv.ParseUint(keep, 10, 64)
	return err == nil && a < b
}
