// Package boltstore is a connector.Store in a single embedded bbolt file, for
// running the service without any cloud dependency (local development,
// single-node deployments, tests).
//
// Layout: bucket "connectors" maps name to the JSON of a record; bucket
// "by_agent" is an index whose keys are agent + "\x00" + name, so listing by
// agent is a cursor seek instead of a scan; bucket "orphans" maps secret ID to
// the time of its record; bucket "catalog" holds the catalog version
// (connector.Version), bumped in every mutation's transaction; bucket
// "events_outbox" holds the events committed with mutations until
// delivered (outbox.go). Every write runs in one bbolt read-write transaction, so the
// index never disagrees with the data and bbolt's single writer serialises
// the revision checks.
package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/events"
)

// openTimeout bounds the wait for bbolt's file lock, so a second process
// opening the same file fails with a clear error instead of hanging.
const openTimeout = 2 * time.Second

// Bucket names.
const (
	bucketConnectors = "connectors"
	bucketByAgent    = "by_agent"
	bucketOrphans    = "orphans"
	// bucketCatalog holds one key, versionKey: the catalog version
	// (connector.Version as JSON), written in every mutation's transaction.
	bucketCatalog = "catalog"
	versionKey    = "version"
)

// Store is a connector.Store backed by a bbolt file. It is safe for
// concurrent use.
type Store struct {
	db *bolt.DB
}

var _ connector.Versioned = (*Store)(nil)

// record is what the connectors bucket stores. Connector's JSON form is the
// public wire format, which omits SecretID and SecretVersion (json:"-"); the
// store must keep them, so they are re-declared here, shadowing the embedded
// ones. Embedding picks up new Connector fields without changes here.
type record struct {
	connector.Connector
	SecretID      string `json:"secretId"`
	SecretVersion string `json:"secretVersion"`
}

func toRecord(c *connector.Connector) record {
	r := record{Connector: *c.Clone(), SecretID: c.SecretID, SecretVersion: c.SecretVersion}
	r.Health = connector.Health{} // kept in its own bucket (health.go), never here
	return r
}

func (r *record) connector() *connector.Connector {
	c := r.Connector.Clone()
	c.SecretID = r.SecretID
	c.SecretVersion = r.SecretVersion
	return c
}

// Open opens (creating if needed) the database file at path with mode 0600.
// It fails after two seconds if another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: file is locked by another process (waited %s): %w", path, openTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{bucketConnectors, bucketByAgent, bucketOrphans, bucketCatalog, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// newRevision returns a fresh opaque revision; 128 random bits make a
// collision with any earlier revision of the same connector negligible.
func newRevision() string {
	return rand.Text()
}

func indexKey(agent, name string) []byte {
	return []byte(agent + "\x00" + name)
}

// checkAgents rejects agent names the index cannot represent: a NUL would
// make one agent's key range overlap another's.
func checkAgents(c *connector.Connector) error {
	for _, a := range c.Agents {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("agent %q contains a NUL byte", a)
		}
	}
	return nil
}

// load reads the record called name, or returns connector.ErrNotFound.
func load(tx *bolt.Tx, name string) (*record, error) {
	v := tx.Bucket([]byte(bucketConnectors)).Get([]byte(name))
	if v == nil {
		return nil, connector.ErrNotFound
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode %q: %w", name, err)
	}
	return &r, nil
}

// loadRevision is load for a write that expects revision (any when
// empty): connector.ErrConflict when the stored record has another.
func loadRevision(tx *bolt.Tx, name, revision string) (*record, error) {
	r, err := load(tx, name)
	if err != nil {
		return nil, err
	}
	if revision != "" && r.Revision != revision {
		return nil, connector.ErrConflict
	}
	return r, nil
}

// put writes r and its index entries.
func put(tx *bolt.Tx, r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %q: %w", r.Name, err)
	}
	if err := tx.Bucket([]byte(bucketConnectors)).Put([]byte(r.Name), data); err != nil {
		return fmt.Errorf("put %q: %w", r.Name, err)
	}
	idx := tx.Bucket([]byte(bucketByAgent))
	for _, a := range r.Agents {
		if err := idx.Put(indexKey(a, r.Name), nil); err != nil {
			return fmt.Errorf("index %q for agent %q: %w", r.Name, a, err)
		}
	}
	return nil
}

// remove deletes r and its index entries.
func remove(tx *bolt.Tx, r *record) error {
	if err := tx.Bucket([]byte(bucketConnectors)).Delete([]byte(r.Name)); err != nil {
		return fmt.Errorf("delete %q: %w", r.Name, err)
	}
	idx := tx.Bucket([]byte(bucketByAgent))
	for _, a := range r.Agents {
		if err := idx.Delete(indexKey(a, r.Name)); err != nil {
			return fmt.Errorf("unindex %q for agent %q: %w", r.Name, a, err)
		}
	}
	return nil
}

// Create stores c under c.Name with a new revision.
func (s *Store) Create(ctx context.Context, c *connector.Connector) (*connector.Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: create %q: %w", c.Name, err)
	}
	if err := checkAgents(c); err != nil {
		return nil, fmt.Errorf("boltstore: create %q: %w", c.Name, err)
	}
	r := toRecord(c)
	r.Revision = newRevision()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(bucketConnectors)).Get([]byte(c.Name)) != nil {
			return connector.ErrExists
		}
		if err := bump(tx, r.Name); err != nil {
			return err
		}
		if events.Recording(ctx) { // built only when asked for: a fresh ID is not free
			if err := recordEvent(ctx, tx, events.New(events.ConnectorCreated, events.FromConnector(&r.Connector), time.Now())); err != nil {
				return err
			}
		}
		return put(tx, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: create %q: %w", c.Name, err)
	}
	return r.connector(), nil
}

// readVersion reads the catalog version in tx.
func readVersion(tx *bolt.Tx) (*connector.Version, error) {
	var v connector.Version
	if raw := tx.Bucket([]byte(bucketCatalog)).Get([]byte(versionKey)); raw != nil {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decode the catalog version: %w", err)
		}
	}
	return &v, nil
}

// bump records a mutation touching names in the catalog version, in the
// mutation's tx (bbolt has one writer: reading the record costs nothing).
func bump(tx *bolt.Tx, names ...string) error {
	v, err := readVersion(tx)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v.Bump(names...))
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketCatalog)).Put([]byte(versionKey), raw)
}

// Version returns the catalog version.
func (s *Store) Version(ctx context.Context) (*connector.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: version: %w", err)
	}
	var v *connector.Version
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readVersion(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: version: %w", err)
	}
	return v, nil
}

// Get returns the connector called name.
func (s *Store) Get(ctx context.Context, name string) (*connector.Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: get %q: %w", name, err)
	}
	var r *record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = load(tx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get %q: %w", name, err)
	}
	return r.connector(), nil
}

// Update replaces the connector called name by c, renaming it when c.Name
// differs, in one transaction.
func (s *Store) Update(ctx context.Context, name, revision string, c *connector.Connector) (*connector.Connector, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: update %q: %w", name, err)
	}
	if err := checkAgents(c); err != nil {
		return nil, fmt.Errorf("boltstore: update %q: %w", name, err)
	}
	r := toRecord(c)
	r.Revision = newRevision()
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, err := loadRevision(tx, name, revision)
		if err != nil {
			return err
		}
		if c.Name != name && tx.Bucket([]byte(bucketConnectors)).Get([]byte(c.Name)) != nil {
			return fmt.Errorf("rename to %q: %w", c.Name, connector.ErrExists)
		}
		touched := []string{name}
		if c.Name != name {
			touched = append(touched, c.Name)
		}
		if err := bump(tx, touched...); err != nil {
			return err
		}
		if events.Recording(ctx) {
			d := events.FromConnector(&r.Connector)
			if c.Name != name {
				d.PreviousName = name
			}
			if err := recordEvent(ctx, tx, events.New(events.ConnectorUpdated, d, time.Now())); err != nil {
				return err
			}
		}
		// Removing first drops index entries of agents that c no longer
		// has; put then adds the current ones.
		if err := remove(tx, old); err != nil {
			return err
		}
		return put(tx, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: update %q: %w", name, err)
	}
	return r.connector(), nil
}

// Delete removes the connector called name.
func (s *Store) Delete(ctx context.Context, name, revision string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delete %q: %w", name, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		old, err := loadRevision(tx, name, revision)
		if err != nil {
			return err
		}
		if err := bump(tx, name); err != nil {
			return err
		}
		if events.Recording(ctx) {
			if err := recordEvent(ctx, tx, events.New(events.ConnectorDeleted, events.FromConnector(&old.Connector), time.Now())); err != nil {
				return err
			}
		}
		return remove(tx, old)
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete %q: %w", name, err)
	}
	return nil
}

// List returns one page of connectors sorted by name. With an agent it walks
// that agent's range of the index; without, the connectors bucket in key
// order. Both start just after the name in the page token.
func (s *Store) List(ctx context.Context, opts connector.ListOptions) (*connector.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: list: %w", err)
	}
	after, err := opts.After()
	if err != nil {
		return nil, fmt.Errorf("boltstore: list: %w", err)
	}
	size := opts.Size()
	// One extra tells whether another page follows, so the last page never
	// carries a token.
	var out []*connector.Connector
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		if opts.Agent == "" {
			out, err = listAll(tx, after, size+1)
		} else {
			out, err = listAgent(tx, opts.Agent, after, size+1)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list: %w", err)
	}
	page := &connector.Page{Connectors: out}
	if len(out) > size {
		page.Connectors = out[:size]
		page.NextPageToken = connector.EncodePageToken(out[size-1].Name)
	}
	return page, nil
}

func listAll(tx *bolt.Tx, after string, limit int) ([]*connector.Connector, error) {
	cur := tx.Bucket([]byte(bucketConnectors)).Cursor()
	k, v := cur.First()
	if after != "" {
		k, v = cur.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = cur.Next()
		}
	}
	var out []*connector.Connector
	for ; k != nil && len(out) < limit; k, v = cur.Next() {
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, r.connector())
	}
	return out, nil
}

func listAgent(tx *bolt.Tx, agent, after string, limit int) ([]*connector.Connector, error) {
	prefix := indexKey(agent, "")
	start := prefix
	if after != "" {
		start = indexKey(agent, after)
	}
	cur := tx.Bucket([]byte(bucketByAgent)).Cursor()
	k, _ := cur.Seek(start)
	if after != "" && k != nil && bytes.Equal(k, start) {
		k, _ = cur.Next()
	}
	var out []*connector.Connector
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = cur.Next() {
		name := string(k[len(prefix):])
		r, err := load(tx, name)
		if errors.Is(err, connector.ErrNotFound) {
			// Writes keep the index in step within one transaction, so
			// this is corruption, not a race: say so rather than hide it.
			return nil, fmt.Errorf("index entry for agent %q names missing connector %q", agent, name)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.connector())
	}
	return out, nil
}

// AddOrphan records secretID as of at (the value, in RFC 3339).
func (s *Store) AddOrphan(ctx context.Context, secretID string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: add orphan %q: %w", secretID, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketOrphans)).Put([]byte(secretID), []byte(at.UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return fmt.Errorf("boltstore: add orphan %q: %w", secretID, err)
	}
	return nil
}

// Orphans returns up to limit IDs recorded before before, oldest first. The
// bucket is keyed by ID, so this scans it: it holds only the few secrets
// whose mutation is in flight or was interrupted.
func (s *Store) Orphans(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: orphans: %w", err)
	}
	type rec struct {
		id string
		at time.Time
	}
	var recs []rec
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketOrphans)).ForEach(func(k, v []byte) error {
			// A record without a time, from a data directory older than
			// record times, counts as old.
			at, _ := time.Parse(time.RFC3339Nano, string(v))
			if before.IsZero() || at.Before(before) {
				recs = append(recs, rec{string(k), at})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: orphans: %w", err)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at.Before(recs[j].at) })
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.id
	}
	return ids, nil
}

// SecretInUse scans the connectors for one that refers to secretID; the
// local store is small, and a sweep asks only about its few records.
func (s *Store) SecretInUse(ctx context.Context, secretID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("boltstore: secret in use: %w", err)
	}
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket([]byte(bucketConnectors)).Cursor()
		for k, v := cur.First(); k != nil && !found; k, v = cur.Next() {
			var r struct {
				SecretID string `json:"secretId"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			found = r.SecretID == secretID
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: secret in use: %w", err)
	}
	return found, nil
}

// RemoveOrphan forgets secretID; removing an absent ID is not an error.
func (s *Store) RemoveOrphan(ctx context.Context, secretID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: remove orphan %q: %w", secretID, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketOrphans)).Delete([]byte(secretID))
	})
	if err != nil {
		return fmt.Errorf("boltstore: remove orphan %q: %w", secretID, err)
	}
	return nil
}
