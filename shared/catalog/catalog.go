// Package catalog keeps a connector's metadata (connector.Store) and its
// secret bundle (secret.Store) consistent with each other. The two backends
// have no shared transaction, so every mutation is ordered so that a failure
// at any step leaves either the old state or the new one visible, never a
// mix, and no secret that nothing refers to:
//
//   - secrets are written first, as a new version the metadata does not yet
//     point to;
//   - the metadata write (conditional on the revision read) is the commit
//     point: it switches the connector to the new secret version;
//   - afterwards the versions older than the one committed are destroyed
//     (never a newer one: a writer that read after this commit may have
//     committed it since); on failure the new version or secret is
//     removed again;
//   - a reader holding older metadata may find its pinned version gone:
//     that is a conflict to read again and retry, never a lasting error.
//
// A new secret is recorded in the metadata store (an orphan record) before
// it is created, and a doomed one before its connector is deleted; the
// record goes once the mutation is over. A mutation cut short by an outage
// therefore always leaves a record, and a later mutation's sweep deletes
// the secret once the record is older than OrphanGrace and no connector
// refers to it.
package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/secret"
)

// Store is what the catalog keeps connectors in: their metadata, and
// beside it, in the same database (so that SecretInUse sees the
// connectors as committed), its records of secrets that may have no
// connector, and each connector's health (health.go). Both connector
// stores (boltstore, firestore) implement it.
type Store interface {
	connector.Store
	Orphans
	connector.HealthStore
}

// Orphans records name secrets that may have no connector: one a create
// is about to write (recorded before the secret exists, so that whatever
// interrupts the create leaves a trace), one a delete is about to remove,
// or one whose removal failed. A sweep deletes those old enough that no
// mutation can still be using them and that no connector refers to
// (SecretInUse). Only the catalog writes them; the minting functions never
// need them, which is why they are not part of connector.Store.
type Orphans interface {
	// AddOrphan records secretID as of at; recording it again moves at.
	AddOrphan(ctx context.Context, secretID string, at time.Time) error
	// Orphans returns up to limit IDs recorded before before, oldest
	// first; a zero before means every record, in no set order. limit <= 0
	// means no limit.
	Orphans(ctx context.Context, before time.Time, limit int) ([]string, error)
	// RemoveOrphan forgets secretID; forgetting an absent ID is no error.
	RemoveOrphan(ctx context.Context, secretID string) error
	// SecretInUse reports whether a stored connector refers to secretID.
	SecretInUse(ctx context.Context, secretID string) (bool, error)
}

// Catalog is the one way to change connectors.
type Catalog struct {
	Store   Store
	Secrets secret.Store
	Options connector.Options
	Log     *slog.Logger
	// Events, when set, turns events on (events.go); nil: no events.
	Events Kicker
	// Now and NewID are replaceable in tests.
	Now   func() time.Time
	NewID func() string

	// OnHealthTransition, when set, hears each change of a connector's
	// health state exactly once across instances (health.go); set it
	// before use. HealthInterval bounds how often an instance writes a
	// connector's health otherwise (DefaultHealthInterval when 0), and
	// HealthTimeout each write (DefaultHealthTimeout when 0: minting's
	// answer waits for it).
	OnHealthTransition HealthTransition
	HealthInterval     time.Duration
	HealthTimeout      time.Duration

	watchMu  sync.Mutex
	watchers []func(name string)
	health   sync.Map // connector name → *healthLocal
}

// Watch registers f to hear the name of every connector a create, update
// or delete through c may have changed, once that mutation is over (whatever
// its outcome): an in-process cache of connectors (mint's) drops it at
// once instead of serving it until its TTL. f must not block. Other
// instances' caches still expire by their TTL.
func (c *Catalog) Watch(f func(name string)) {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	c.watchers = append(c.watchers, f)
}

func (c *Catalog) changed(name string) {
	c.watchMu.Lock()
	ws := c.watchers
	c.watchMu.Unlock()
	for _, f := range ws {
		f(name)
	}
}

// orphanSweepLimit bounds the cleanup work piggybacked on one mutation.
const orphanSweepLimit = 10

// OrphanGrace is how old an orphan record must be before a sweep acts on
// it: far longer than any mutation can run (the request deadline plus its
// detached cleanups), so that a create still between recording its secret
// and committing its connector is never swept.
const OrphanGrace = 10 * time.Minute

// sweepTimeout bounds the time that work may take from the mutation's own
// deadline: a secret store that does not answer must not make a mutation
// that never touches it (a metadata-only update) fail.
const sweepTimeout = time.Second

// updateAttempts is how often an update without a caller revision re-reads
// and retries when it loses a race; with a caller revision it never retries.
// Each lost round means another writer committed, so this bounds only how
// long a burst of writers to one connector can keep one of them waiting.
const updateAttempts = 8

// cleanupTimeout bounds each compensating step (the re-read that tells
// whether a failed write committed, a secret's removal, an orphan record).
// They run detached from the request's context: when a deadline or the
// caller cut the write short, that context is over, and a cleanup under
// it would fail at once and leave the secret behind unrecorded.
const cleanupTimeout = 2 * time.Second

// detach returns a context for one compensating step.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func (c *Catalog) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Catalog) newID() string {
	if c.NewID != nil {
		return c.NewID()
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func (c *Catalog) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Get returns a connector's metadata.
func (c *Catalog) Get(ctx context.Context, name string) (*connector.Connector, error) {
	if err := connector.ValidateName(name); err != nil {
		return nil, err
	}
	return c.Store.Get(ctx, name)
}

// List returns a page of connectors.
func (c *Catalog) List(ctx context.Context, opts connector.ListOptions) (*connector.Page, error) {
	return c.Store.List(ctx, opts)
}

// Bundle returns the secret bundle pinned by the connector's revision.
func (c *Catalog) Bundle(ctx context.Context, conn *connector.Connector) (secret.Bundle, error) {
	if conn.SecretID == "" {
		return secret.Bundle{}, nil
	}
	b, err := c.Secrets.Get(ctx, conn.SecretID, conn.SecretVersion)
	if err != nil {
		return secret.Bundle{}, fmt.Errorf("catalog: read secrets of %s: %w", conn.Name, err)
	}
	return b, nil
}

// currentBundle reads the bundle conn pins, where conn was just read from
// the store. A version that is gone means another writer committed since
// and pruned it (conn is stale): that is ErrConflict, for the caller to
// read again and retry, never a lasting failure.
func (c *Catalog) currentBundle(ctx context.Context, conn *connector.Connector) (secret.Bundle, error) {
	b, err := c.Bundle(ctx, conn)
	if err == nil || !errors.Is(err, secret.ErrNotFound) {
		return b, err
	}
	now, gerr := c.Store.Get(ctx, conn.Name)
	if gerr == nil && (now.Revision != conn.Revision || now.SecretVersion != conn.SecretVersion) {
		return secret.Bundle{}, fmt.Errorf("%w (its secret version %s was replaced meanwhile)", connector.ErrConflict, conn.SecretVersion)
	}
	if errors.Is(gerr, connector.ErrNotFound) {
		return secret.Bundle{}, gerr
	}
	return secret.Bundle{}, err
}

// Create validates in and stores it as a new connector.
func (c *Catalog) Create(ctx context.Context, in *connector.Input, principal string) (*connector.Connector, error) {
	conn := connector.Defaults()
	var b secret.Bundle
	in.Apply(conn, &b)
	if err := connector.Validate(conn, &b, c.Options); err != nil {
		return nil, err
	}
	// A connector of this name may have been deleted elsewhere while this
	// instance still caches it.
	defer c.changed(conn.Name)
	c.sweepOrphans(ctx)
	// A cheap early answer for the common mistake; the store's Create is
	// what actually guarantees uniqueness.
	if _, err := c.Store.Get(ctx, conn.Name); err == nil {
		return nil, fmt.Errorf("catalog: create %s: %w", conn.Name, connector.ErrExists)
	} else if !errors.Is(err, connector.ErrNotFound) {
		return nil, fmt.Errorf("catalog: create %s: %w", conn.Name, err)
	}
	now := c.now()
	conn.CreatedAt, conn.UpdatedAt = now, now
	conn.CreatedBy, conn.UpdatedBy = principal, principal
	if b != (secret.Bundle{}) {
		id, v, _, err := c.writeSecret(ctx, "", conn.Name, b)
		if err != nil {
			return nil, fmt.Errorf("catalog: create %s: %w", conn.Name, err)
		}
		conn.SecretID, conn.SecretVersion = id, v
	}
	stored, err := c.Store.Create(c.record(ctx), conn)
	defer c.kick(ctx)
	if conn.SecretID != "" {
		c.settle(ctx, conn.Name, conn.SecretID, conn.SecretVersion, true, err)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: create %s: %w", conn.Name, err)
	}
	return stored, nil
}

// Update applies changes to the connector called name. A non-empty revision
// must match the stored one.
func (c *Catalog) Update(ctx context.Context, name, revision string, changes *connector.Input, principal string) (*connector.Connector, error) {
	if err := connector.ValidateName(name); err != nil {
		return nil, err
	}
	defer c.changed(name)
	if changes.Name != nil && *changes.Name != name {
		// The new name may still be cached from before a delete elsewhere.
		defer c.changed(*changes.Name)
	}
	c.sweepOrphans(ctx)
	for attempt := 1; ; attempt++ {
		stored, err := c.updateOnce(ctx, name, revision, changes, principal)
		if errors.Is(err, connector.ErrConflict) && revision == "" && attempt < updateAttempts {
			// Concurrent writers of one connector collide in step; a
			// jittered pause lets one of them through each round.
			if serr := backoff(ctx, attempt); serr == nil {
				continue
			}
		}
		return stored, err
	}
}

func (c *Catalog) updateOnce(ctx context.Context, name, revision string, changes *connector.Input, principal string) (*connector.Connector, error) {
	cur, err := c.Store.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("catalog: update %s: %w", name, err)
	}
	if revision != "" && revision != cur.Revision {
		return nil, fmt.Errorf("catalog: update %s: %w", name, connector.ErrConflict)
	}
	if err := changes.CheckRebind(cur); err != nil {
		return nil, err
	}
	next := cur.Clone()
	var b secret.Bundle
	// The stored values are needed when secrets are rewritten (the new
	// version holds all of them) or when a service-account key must be
	// checked again under a grant type it was not checked for.
	grantChanged := changes.GrantType != nil && strings.TrimSpace(*changes.GrantType) != cur.GrantType
	needSecrets := changes.TouchesSecrets() || grantChanged
	if needSecrets {
		if b, err = c.currentBundle(ctx, cur); err != nil {
			return nil, fmt.Errorf("catalog: update %s: %w", name, err)
		}
	}
	changes.Apply(next, &b)
	var known *secret.Bundle
	if needSecrets {
		known = &b
	}
	if err := connector.Validate(next, known, c.Options); err != nil {
		return nil, err
	}
	next.UpdatedAt = c.now()
	next.UpdatedBy = principal

	newSecret := false
	if changes.TouchesSecrets() {
		var err error
		if next.SecretID, next.SecretVersion, newSecret, err = c.writeSecret(ctx, next.SecretID, next.Name, b); err != nil {
			return nil, fmt.Errorf("catalog: update %s: %w", name, err)
		}
	}

	stored, err := c.Store.Update(c.record(ctx), name, cur.Revision, next)
	defer c.kick(ctx)
	if changes.TouchesSecrets() {
		c.settle(ctx, next.Name, next.SecretID, next.SecretVersion, newSecret, err)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: update %s: %w", name, err)
	}
	if stored.Name != name {
		c.forgetHealth(ctx, name)
	}
	return stored, nil
}

// Delete removes the connector called name and its secret.
func (c *Catalog) Delete(ctx context.Context, name, revision string) error {
	if err := connector.ValidateName(name); err != nil {
		return err
	}
	defer c.changed(name)
	c.sweepOrphans(ctx)
	cur, err := c.Store.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("catalog: delete %s: %w", name, err)
	}
	if revision == "" {
		revision = cur.Revision
	} else if revision != cur.Revision {
		// Refused before anything is recorded: a record left for a live
		// secret would only cost a sweep, and race with a real delete's.
		return fmt.Errorf("catalog: delete %s: %w", name, connector.ErrConflict)
	}
	if cur.SecretID != "" {
		// Recorded before the connector goes, so that an outage between
		// the two deletes leaves the secret findable. If the connector
		// stays after all, the sweep finds its secret in use and only
		// drops the record.
		if err := c.Store.AddOrphan(ctx, cur.SecretID, c.now()); err != nil {
			return fmt.Errorf("catalog: delete %s: record its secret: %w", name, err)
		}
	}
	defer c.kick(ctx)
	if err := c.Store.Delete(c.record(ctx), name, revision); err != nil && !c.deleted(ctx, cur, err) {
		return fmt.Errorf("catalog: delete %s: %w", name, err)
	}
	if cur.SecretID != "" {
		c.discardSecret(ctx, cur.SecretID)
	}
	c.forgetHealth(ctx, name)
	return nil
}

// writeSecret stores b as a new version of the secret id, or of a new
// secret when id is empty: recorded first (an orphan record), so that
// whatever interrupts the mutation leaves the secret findable. On failure
// nothing is left unrecorded.
func (c *Catalog) writeSecret(ctx context.Context, id, name string, b secret.Bundle) (secretID, version string, isNew bool, err error) {
	if isNew = id == ""; isNew {
		id = c.newID()
		if err := c.Store.AddOrphan(ctx, id, c.now()); err != nil {
			return "", "", false, fmt.Errorf("record the new secret: %w", err)
		}
	}
	v, err := c.Secrets.Put(ctx, id, labels(name), b)
	if err != nil {
		if isNew {
			// Put may have created the secret before failing on the version.
			c.discardSecret(ctx, id)
		}
		return "", "", false, fmt.Errorf("store secrets: %w", err)
	}
	return id, v, isNew, nil
}

// settle finishes a secret write once the metadata write meant to pin it
// (conditional, to the connector now called name) returned writeErr, and
// reports whether that write committed. Committed: a new secret's record
// goes, and an existing secret's older versions are destroyed. Not
// committed: the new secret, or the new version, is removed again.
func (c *Catalog) settle(ctx context.Context, name, id, version string, isNew bool, writeErr error) bool {
	if writeErr != nil && !c.committed(ctx, name, id, version, writeErr) {
		if isNew {
			c.discardSecret(ctx, id)
		} else if err := c.destroyVersion(ctx, id, version); err != nil {
			// Harmless: the version is unreferenced and the next
			// successful write prunes it.
			c.log().Warn("catalog: destroy unused secret version", "connector", name, "error", err.Error())
		}
		return false
	}
	if writeErr != nil {
		// Committed, or unknown: the record (if any) stays for the sweep,
		// which finds the secret in use, or not.
		return true
	}
	if isNew {
		c.forgetOrphan(ctx, id)
	} else if err := c.Secrets.Prune(ctx, id, version); err != nil {
		c.log().Warn("catalog: prune old secret versions", "connector", name, "error", err.Error())
	}
	return true
}

// committed resolves a metadata write whose error may hide a success (a
// timeout after the commit): it re-reads and reports whether the stored
// connector points at the secret version just written. Definite refusals
// need no re-read.
func (c *Catalog) committed(ctx context.Context, name, secretID, version string, writeErr error) bool {
	if errors.Is(writeErr, connector.ErrExists) || errors.Is(writeErr, connector.ErrConflict) || errors.Is(writeErr, connector.ErrNotFound) {
		return false
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	cur, err := c.Store.Get(ctx, name)
	if errors.Is(err, connector.ErrNotFound) {
		return false
	}
	if err != nil {
		// Unknown either way; removing the secret could break a live
		// connector, and its orphan record lets the sweep decide later.
		c.log().Warn("catalog: cannot tell whether a write committed; keeping its secret for the sweep", "connector", name, "secretId", secretID, "error", err.Error())
		return true
	}
	return cur.SecretID == secretID && cur.SecretVersion == version
}

// deleted resolves a delete whose error may hide a success, like
// committed: the connector is gone when a re-read finds nothing, or finds a
// different connector (with another secret) created since under its name.
func (c *Catalog) deleted(ctx context.Context, old *connector.Connector, deleteErr error) bool {
	if errors.Is(deleteErr, connector.ErrConflict) || errors.Is(deleteErr, connector.ErrNotFound) {
		return false
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	cur, err := c.Store.Get(ctx, old.Name)
	if errors.Is(err, connector.ErrNotFound) {
		return true
	}
	if err != nil {
		// Unknown either way, as in committed: keep the secret (and its
		// orphan record, for the sweep), and say so.
		if old.SecretID != "" {
			c.log().Warn("catalog: cannot tell whether a delete committed; keeping its secret for the sweep", "connector", old.Name, "secretId", old.SecretID, "error", err.Error())
		}
		return false
	}
	return cur.Revision != old.Revision && cur.SecretID != old.SecretID
}

// destroyVersion destroys a secret version nothing refers to.
func (c *Catalog) destroyVersion(ctx context.Context, id, version string) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	return c.Secrets.DestroyVersion(ctx, id, version)
}

// discardSecret deletes a secret nothing refers to, then its orphan
// record. When the delete fails the record stays, for a later sweep.
func (c *Catalog) discardSecret(ctx context.Context, id string) {
	dctx, cancel := detach(ctx)
	err := c.Secrets.Delete(dctx, id)
	cancel()
	if err != nil {
		c.log().Warn("catalog: secret left for the sweep", "secretId", id, "error", err.Error())
		return
	}
	c.forgetOrphan(ctx, id)
}

// forgetOrphan drops the orphan record of a secret whose mutation is over.
// Best effort: a record left behind costs the sweep one check.
func (c *Catalog) forgetOrphan(ctx context.Context, id string) {
	ctx, cancel := detach(ctx)
	defer cancel()
	_ = c.Store.RemoveOrphan(ctx, id)
}

// sweepOrphans finishes mutations that an outage or a crash interrupted:
// for each orphan record older than OrphanGrace, the secret is deleted
// unless a connector refers to it, and the record goes. Best effort: a
// failure here must not fail the caller's mutation.
func (c *Catalog) sweepOrphans(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	ids, err := c.Store.Orphans(ctx, c.now().Add(-OrphanGrace), orphanSweepLimit)
	if err != nil {
		return
	}
	for _, id := range ids {
		if c.sweepOne(ctx, id) != nil {
			return
		}
	}
}

// labels tag a secret with the connector it was created for, so an operator
// browsing Secret Manager can tell what it is. Label values allow only
// lowercase letters, digits, _ and -.
func labels(name string) map[string]string {
	v := strings.ToLower(name)
	if len(v) > 63 {
		v = v[:63]
	}
	return map[string]string{"connector": v, "managed-by": "connectors"}
}

// RotateRefreshToken stores newToken, which the provider issued in exchange
// for oldToken, as conn's refresh token: a new secret version, then the
// metadata pointing at it (which gives the connector a new revision). The
// provider has already made oldToken worthless, and sending it again would
// make it revoke the whole grant, so newToken must be stored whatever else
// happens to the connector meanwhile: an admin's concurrent edit of other
// fields, or an edit that replaced conn's secret version, only makes it
// read the connector again and retry, for as long as ctx (the minting
// lease) lasts. Only an admin who replaced (or cleared) the refresh token
// itself wins: theirs is kept. It returns the connector as now stored.
func (c *Catalog) RotateRefreshToken(ctx context.Context, conn *connector.Connector, oldToken, newToken string) (*connector.Connector, error) {
	return c.retryWrite(ctx, "rotate", conn, 0, func(cur *connector.Connector) (*connector.Connector, bool, error) {
		return c.rotateOnce(ctx, cur, oldToken, newToken)
	})
}

// rotateOnce is one attempt of RotateRefreshToken against cur as read.
// done is false when another attempt, with the connector read again, may
// succeed. A rotation proves the grant alive: it clears needsReconnect.
func (c *Catalog) rotateOnce(ctx context.Context, cur *connector.Connector, oldToken, newToken string) (stored *connector.Connector, done bool, err error) {
	b, err := c.Bundle(ctx, cur)
	if err != nil {
		// Most often: cur is stale and its version was pruned.
		return nil, false, err
	}
	if b.RefreshToken != oldToken {
		return cur, true, nil
	}
	b.RefreshToken = newToken
	return c.commitBundle(ctx, cur, b, func(next *connector.Connector) {
		next.HasRefreshToken = true
		next.ClearNeedsReconnect()
	})
}

// backoff waits before attempt+1 of a write that lost a race or failed:
// a few milliseconds growing to about a quarter second, jittered so that
// writers colliding in step spread out.
func backoff(ctx context.Context, attempt int) error {
	return clock.Sleep(ctx, 5*time.Millisecond<<min(attempt-1, 6))
}
