// Package firestore is a connector.Store on Cloud Firestore, the production
// backend.
//
// Connectors live in collection <prefix>connectors with the connector name as
// document ID, so name uniqueness is enforced by Firestore itself;
// orphaned secret IDs live in <prefix>secret-orphans with the secret ID as
// document ID; the catalog version (connector.Version) is the document
// <prefix>catalog/version, added to by every mutation's transaction;
// events committed with a mutation wait in <prefix>events-outbox
// (outbox.go); each connector's health (connector.HealthRecord) is the
// document <prefix>connector-health/{name} (health.go), which no mutation
// touches. Revision checks run inside read-write transactions, which
// Firestore serialises per document.
package firestore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
)

// Collection names, after the prefix.
const (
	connectorsCollection = "connectors"
	orphansCollection    = "secret-orphans"
	// catalogCollection holds one document, versionDoc: the catalog
	// version (connector.Version), written in every mutation's transaction.
	catalogCollection = "catalog"
	versionDoc        = "version"
)

// txAttempts raises RunTransaction's retry budget above its default of 5:
// each retry is caused by a competing writer that has now committed, and
// under a burst of writers to one connector a transaction may lose several
// rounds before it reads a settled revision and fails with ErrConflict.
const txAttempts = 20

// Store is a connector.Store on Firestore. It is safe for concurrent use.
type Store struct {
	// CollectionPrefix is put in front of every collection name, so that
	// several stores (tests, environments) can share one database. Set it
	// before the first call; New leaves it empty.
	CollectionPrefix string

	client *firestore.Client
	locks  nameLocks
}

var _ connector.Versioned = (*Store)(nil)

// New connects to Firestore's default database in projectID. opts are passed
// to the client; FIRESTORE_EMULATOR_HOST, when set, points it at an emulator.
func New(ctx context.Context, projectID string, opts ...option.ClientOption) (*Store, error) {
	client, err := firestore.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, fmt.Errorf("firestore: new client: %w", err)
	}
	return &Store{client: client}, nil
}

// NewInDatabase is New on the named database of projectID (a Firestore
// project may hold several; IAM conditions can tell them apart).
func NewInDatabase(ctx context.Context, projectID, databaseID string, opts ...option.ClientOption) (*Store, error) {
	client, err := firestore.NewClientWithDatabase(ctx, projectID, databaseID, opts...)
	if err != nil {
		return nil, fmt.Errorf("firestore: new client for database %s: %w", databaseID, err)
	}
	return &Store{client: client}, nil
}

// Close closes the client.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("firestore: close: %w", err)
	}
	return nil
}

func (s *Store) connectors() *firestore.CollectionRef {
	return s.client.Collection(s.CollectionPrefix + connectorsCollection)
}

func (s *Store) version() *firestore.DocumentRef {
	return s.client.Collection(s.CollectionPrefix + catalogCollection).Doc(versionDoc)
}

// Version reads the catalog version document: one document read.
func (s *Store) Version(ctx context.Context) (*connector.Version, error) {
	snap, err := s.version().Get(ctx)
	if status.Code(err) == codes.NotFound {
		return &connector.Version{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firestore: version: %w", err)
	}
	var v connector.Version
	if err := snap.DataTo(&v); err != nil {
		return nil, fmt.Errorf("firestore: version: decode: %w", err)
	}
	return &v, nil
}

// bump adds a mutation touching names to the catalog version in tx, with
// server-side increments and without reading the document: no transaction
// holds a lock on it, so mutations of different connectors never wait for
// each other there (connector.Version says why that matters).
func (s *Store) bump(tx *firestore.Transaction, names ...string) error {
	counts := map[string]int{}
	for _, name := range names {
		counts[connector.VersionSlot(name)]++
	}
	slots := map[string]any{}
	for k, n := range counts {
		slots[k] = firestore.Increment(n)
	}
	return tx.Set(s.version(), map[string]any{"seq": firestore.Increment(len(names)), "slots": slots}, firestore.MergeAll)
}

func (s *Store) orphans() *firestore.CollectionRef {
	return s.client.Collection(s.CollectionPrefix + orphansCollection)
}

// validID reports whether id can be a Firestore document ID. Connector names
// are validated elsewhere, but a name Firestore cannot hold must give a
// clear error here rather than a nil DocumentRef.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && len(id) <= 1500 &&
		!strings.Contains(id, "/") && utf8.ValidString(id) &&
		!(strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"))
}

func (s *Store) doc(name string) (*firestore.DocumentRef, error) {
	if !validID(name) {
		return nil, fmt.Errorf("name %q is not a valid Firestore document ID", name)
	}
	return s.connectors().Doc(name), nil
}

// newRevision returns a fresh opaque revision; 128 random bits make a
// collision with any earlier revision of the same connector negligible.
func newRevision() string {
	return rand.Text()
}

// mapErr turns Firestore's gRPC errors into the store's sentinels where one
// exists. Other errors (Unavailable, DeadlineExceeded, ...) are returned as
// they are, for the caller to wrap: their gRPC status stays reachable with
// errors.As and status.FromError.
func mapErr(err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return connector.ErrNotFound
	case codes.AlreadyExists:
		return connector.ErrExists
	}
	return err
}

func decode(snap *firestore.DocumentSnapshot) (*connector.Connector, error) {
	var c connector.Connector
	if err := snap.DataTo(&c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", snap.Ref.ID, err)
	}
	// The document ID is the name; trust it over the stored field.
	c.Name = snap.Ref.ID
	return &c, nil
}

// Create stores c under c.Name with a new revision, in one transaction
// with the catalog version; Transaction.Create makes Firestore refuse an
// existing name atomically.
func (s *Store) Create(ctx context.Context, c *connector.Connector) (*connector.Connector, error) {
	ref, err := s.doc(c.Name)
	if err != nil {
		return nil, fmt.Errorf("firestore: create: %w", err)
	}
	out := c.Clone()
	out.Revision = newRevision()
	var ev *events.Event
	if events.Recording(ctx) {
		// The event commits with the connector, or neither does.
		e := events.New(events.ConnectorCreated, events.FromConnector(out), time.Now())
		ev = &e
	}
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		if err := tx.Create(ref, out); err != nil {
			return err
		}
		if err := s.bump(tx, out.Name); err != nil {
			return err
		}
		if ev != nil {
			return s.recordEvent(ctx, tx, *ev)
		}
		return nil
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return nil, fmt.Errorf("firestore: create %q: %w", c.Name, mapErr(err))
	}
	return out, nil
}

// Get returns the connector called name.
func (s *Store) Get(ctx context.Context, name string) (*connector.Connector, error) {
	if !validID(name) {
		// No such document can exist.
		return nil, fmt.Errorf("firestore: get %q: %w", name, connector.ErrNotFound)
	}
	snap, err := s.connectors().Doc(name).Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("firestore: get %q: %w", name, mapErr(err))
	}
	c, err := decode(snap)
	if err != nil {
		return nil, fmt.Errorf("firestore: get %q: %w", name, err)
	}
	return c, nil
}

// Update replaces the connector called name by c in one transaction,
// renaming it when c.Name differs.
//
// ErrConflict, ErrExists and ErrNotFound are returned from the transaction
// function, which RunTransaction passes through without retrying; it
// retries only when Firestore aborts the commit because of contention, and
// the retry then re-reads the document and sees the winner's revision.
// Writers in this process queue on a per-name lock first (see nameLocks).
func (s *Store) Update(ctx context.Context, name, revision string, c *connector.Connector) (*connector.Connector, error) {
	if !validID(name) {
		return nil, fmt.Errorf("firestore: update %q: %w", name, connector.ErrNotFound)
	}
	oldRef := s.connectors().Doc(name)
	newRef, err := s.doc(c.Name)
	if err != nil {
		return nil, fmt.Errorf("firestore: update %q: %w", name, err)
	}
	unlock, err := s.locks.lock(ctx, name, c.Name)
	if err != nil {
		return nil, fmt.Errorf("firestore: update %q: %w", name, err)
	}
	defer unlock()
	out := c.Clone()
	out.Revision = newRevision()
	rename := c.Name != name
	var ev *events.Event
	if events.Recording(ctx) { // built only when asked for: a fresh ID is not free
		d := events.FromConnector(out)
		if rename {
			d.PreviousName = name
		}
		e := events.New(events.ConnectorUpdated, d, time.Now())
		ev = &e
	}
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		refs := []*firestore.DocumentRef{oldRef}
		if rename {
			refs = append(refs, newRef)
		}
		// All reads precede all writes, as Firestore transactions require.
		snaps, err := tx.GetAll(refs)
		if err != nil {
			return err
		}
		if !snaps[0].Exists() {
			return connector.ErrNotFound
		}
		if err := checkRevision(snaps[0], revision); err != nil {
			return err
		}
		if ev != nil {
			if err := s.recordEvent(ctx, tx, *ev); err != nil {
				return err
			}
		}
		if !rename {
			if err := s.bump(tx, name); err != nil {
				return err
			}
			return tx.Set(oldRef, out)
		}
		if snaps[1].Exists() {
			return fmt.Errorf("rename to %q: %w", c.Name, connector.ErrExists)
		}
		if err := s.bump(tx, name, c.Name); err != nil {
			return err
		}
		if err := tx.Create(newRef, out); err != nil {
			return err
		}
		return tx.Delete(oldRef)
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return nil, fmt.Errorf("firestore: update %q: %w", name, mapErr(err))
	}
	return out, nil
}

// checkRevision returns ErrConflict unless revision is empty or the
// document's current one.
func checkRevision(snap *firestore.DocumentSnapshot, revision string) error {
	if revision == "" {
		return nil
	}
	current, err := snap.DataAt("revision")
	if err != nil {
		return fmt.Errorf("read revision: %w", err)
	}
	if current != revision {
		return connector.ErrConflict
	}
	return nil
}

// Delete removes the connector called name, checking revision in a
// transaction as Update does.
func (s *Store) Delete(ctx context.Context, name, revision string) error {
	if !validID(name) {
		return fmt.Errorf("firestore: delete %q: %w", name, connector.ErrNotFound)
	}
	unlock, err := s.locks.lock(ctx, name)
	if err != nil {
		return fmt.Errorf("firestore: delete %q: %w", name, err)
	}
	defer unlock()
	ref := s.connectors().Doc(name)
	err = s.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil {
			return err // NotFound is mapped below
		}
		if err := checkRevision(snap, revision); err != nil {
			return err
		}
		if err := s.bump(tx, name); err != nil {
			return err
		}
		if events.Recording(ctx) {
			old, err := decode(snap)
			if err != nil {
				return err
			}
			if err := s.recordEvent(ctx, tx, events.New(events.ConnectorDeleted, events.FromConnector(old), time.Now())); err != nil {
				return err
			}
		}
		return tx.Delete(ref)
	}, firestore.MaxAttempts(txAttempts))
	if err != nil {
		return fmt.Errorf("firestore: delete %q: %w", name, mapErr(err))
	}
	return nil
}

// List returns one page of connectors sorted by name. An agent filter is an
// array-contains query, served by Firestore's automatic single-field index
// on agents; ordering by document ID needs no composite index.
func (s *Store) List(ctx context.Context, opts connector.ListOptions) (*connector.Page, error) {
	after, err := opts.After()
	if err == nil && after != "" && !validID(after) {
		// A forged token must not make the query fail in a confusing way.
		err = connector.ErrInvalidPageToken
	}
	if err != nil {
		return nil, fmt.Errorf("firestore: list: %w", err)
	}
	size := opts.Size()
	q := s.connectors().Query
	if opts.Agent != "" {
		q = q.Where("agents", "array-contains", opts.Agent)
	}
	q = q.OrderBy(firestore.DocumentID, firestore.Asc)
	if after != "" {
		q = q.StartAfter(after)
	}
	// One extra tells whether another page follows, so the last page never
	// carries a token.
	q = q.Limit(size + 1)

	it := q.Documents(ctx)
	defer it.Stop()
	var out []*connector.Connector
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("firestore: list: %w", mapErr(err))
		}
		c, err := decode(snap)
		if err != nil {
			return nil, fmt.Errorf("firestore: list: %w", err)
		}
		out = append(out, c)
	}
	page := &connector.Page{Connectors: out}
	if len(out) > size {
		page.Connectors = out[:size]
		page.NextPageToken = connector.EncodePageToken(out[size-1].Name)
	}
	return page, nil
}

// orphan is the document stored per orphan record. The ID is also the
// document ID; keeping it as a field makes the collection readable in the
// console.
type orphan struct {
	SecretID string    `firestore:"secretId"`
	Since    time.Time `firestore:"since"`
}

// AddOrphan records secretID as of at; Set makes recording it again move
// the time.
func (s *Store) AddOrphan(ctx context.Context, secretID string, at time.Time) error {
	if !validID(secretID) {
		return fmt.Errorf("firestore: add orphan: secret ID %q is not a valid Firestore document ID", secretID)
	}
	if _, err := s.orphans().Doc(secretID).Set(ctx, orphan{SecretID: secretID, Since: at.UTC()}); err != nil {
		return fmt.Errorf("firestore: add orphan %q: %w", secretID, mapErr(err))
	}
	return nil
}

// Orphans returns up to limit IDs recorded before before, oldest first
// (every record, in ID order, for a zero before), from the automatic
// single-field index on since.
func (s *Store) Orphans(ctx context.Context, before time.Time, limit int) ([]string, error) {
	q := s.orphans().OrderBy(firestore.DocumentID, firestore.Asc)
	if !before.IsZero() {
		q = s.orphans().Where("since", "<", before.UTC()).OrderBy("since", firestore.Asc)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	it := q.Documents(ctx)
	defer it.Stop()
	var ids []string
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("firestore: orphans: %w", mapErr(err))
		}
		ids = append(ids, snap.Ref.ID)
	}
}

// SecretInUse asks for one connector whose secretId is secretID, from the
// automatic single-field index.
func (s *Store) SecretInUse(ctx context.Context, secretID string) (bool, error) {
	it := s.connectors().Where("secretId", "==", secretID).Limit(1).Documents(ctx)
	defer it.Stop()
	_, err := it.Next()
	if errors.Is(err, iterator.Done) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("firestore: secret in use: %w", mapErr(err))
	}
	return true, nil
}

// RemoveOrphan forgets secretID; Firestore deletes of absent documents
// succeed, so removing an absent ID is not an error.
func (s *Store) RemoveOrphan(ctx context.Context, secretID string) error {
	if !validID(secretID) {
		return nil // it cannot have been added
	}
	if _, err := s.orphans().Doc(secretID).Delete(ctx); err != nil {
		return fmt.Errorf("firestore: remove orphan %q: %w", secretID, mapErr(err))
	}
	return nil
}
