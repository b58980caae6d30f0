package storetest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sort"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
)

// memStore is the simplest correct store (connector.Store and catalog.Orphans): a reference that shows
// the suite passes a store doing exactly what the contract says, independent
// of any real backend's quirks.
type memStore struct {
	mu         sync.Mutex
	connectors map[string]*connector.Connector
	orphans    map[string]time.Time
	version    connector.Version
	health     map[string]connector.HealthRecord
}

func (m *memStore) RecordHealth(_ context.Context, name string, d connector.HealthDelta) (before, after connector.HealthRecord, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before = m.health[name]
	after = before.Apply(d)
	m.health[name] = after
	return before, after, nil
}

func (m *memStore) Health(_ context.Context, names []string) (map[string]connector.HealthRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]connector.HealthRecord{}
	for _, n := range names {
		if r, ok := m.health[n]; ok {
			out[n] = r
		}
	}
	return out, nil
}

func (m *memStore) DeleteHealth(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.health, name)
	return nil
}

func (m *memStore) Version(context.Context) (*connector.Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.version.Bump() // a copy
	return &v, nil
}

func newMemStore(*testing.T) catalog.Store {
	return &memStore{connectors: map[string]*connector.Connector{}, orphans: map[string]time.Time{}, health: map[string]connector.HealthRecord{}}
}

func (m *memStore) Create(_ context.Context, c *connector.Connector) (*connector.Connector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.connectors[c.Name]; ok {
		return nil, connector.ErrExists
	}
	c = c.Clone()
	c.Revision = rand.Text()
	m.connectors[c.Name] = c
	m.version = m.version.Bump(c.Name)
	return c.Clone(), nil
}

func (m *memStore) Get(_ context.Context, name string) (*connector.Connector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.connectors[name]
	if !ok {
		return nil, connector.ErrNotFound
	}
	return c.Clone(), nil
}

func (m *memStore) List(_ context.Context, opts connector.ListOptions) (*connector.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var after string
	if opts.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(opts.PageToken)
		if err != nil || len(b) == 0 {
			return nil, connector.ErrInvalidPageToken
		}
		after = string(b)
	}
	size := opts.PageSize
	if size <= 0 {
		size = connector.DefaultPageSize
	}
	size = min(size, connector.MaxPageSize)
	var names []string
	for n, c := range m.connectors {
		if n > after && (opts.Agent == "" || c.HasAgent(opts.Agent)) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	page := &connector.Page{}
	if len(names) > size {
		names = names[:size]
		page.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(names[size-1]))
	}
	for _, n := range names {
		page.Connectors = append(page.Connectors, m.connectors[n].Clone())
	}
	return page, nil
}

func (m *memStore) Update(_ context.Context, name, revision string, c *connector.Connector) (*connector.Connector, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.connectors[name]
	if !ok {
		return nil, connector.ErrNotFound
	}
	if revision != "" && old.Revision != revision {
		return nil, connector.ErrConflict
	}
	if _, taken := m.connectors[c.Name]; taken && c.Name != name {
		return nil, connector.ErrExists
	}
	c = c.Clone()
	c.Revision = rand.Text()
	delete(m.connectors, name)
	m.connectors[c.Name] = c
	if c.Name != name {
		m.version = m.version.Bump(name)
	}
	m.version = m.version.Bump(c.Name)
	return c.Clone(), nil
}

func (m *memStore) Delete(_ context.Context, name, revision string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.connectors[name]
	if !ok {
		return connector.ErrNotFound
	}
	if revision != "" && old.Revision != revision {
		return connector.ErrConflict
	}
	delete(m.connectors, name)
	m.version = m.version.Bump(name)
	return nil
}

func (m *memStore) AddOrphan(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orphans[id] = at
	return nil
}

func (m *memStore) Orphans(_ context.Context, before time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, at := range m.orphans {
		if before.IsZero() || at.Before(before) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return m.orphans[ids[i]].Before(m.orphans[ids[j]]) })
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

func (m *memStore) SecretInUse(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.connectors {
		if c.SecretID == id {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) RemoveOrphan(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.orphans, id)
	return nil
}

func (m *memStore) Close() error { return nil }

func TestRunOnReferenceStore(t *testing.T) {
	Run(t, newMemStore)
}
