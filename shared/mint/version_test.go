package mint_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/testenv"
)

// countingStore counts the metadata reads an instance makes.
type countingStore struct {
	catalog.Store
	gets, versions atomic.Int64
	failVersion    atomic.Bool
}

func (c *countingStore) Get(ctx context.Context, name string) (*connector.Connector, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, name)
}

func (c *countingStore) Version(ctx context.Context) (*connector.Version, error) {
	c.versions.Add(1)
	if c.failVersion.Load() {
		return nil, errors.New("countingStore: the version read fails")
	}
	return c.Store.(connector.Versioned).Version(ctx)
}

// Two instances serving busy connectors read the catalog version once per
// MetadataTTL and no connector while none changes; an edit, a deactivation,
// a rename and a delete made elsewhere apply on both within MetadataTTL,
// each costing a read of the connector it changed only.
func TestCatalogVersionBoundsReadsAndStaleness(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "")
		clk := clock.NewFake()
		names := []string{"A", "B", "C"}
		for _, n := range names {
			createConnector(t, b, clientCredentials(n, p.URL))
		}
		var stores []*countingStore
		var services []*mint.Service
		for _, id := range []string{"i1", "i2"} {
			ib := testenv.Instance(t, b)
			cs := &countingStore{Store: ib.Store}
			ib.Store = cs
			stores = append(stores, cs)
			services = append(services, instance(t, ib, clk, id))
		}
		// The admin writes through a catalog of its own: no instance hears
		// of its mutations (Catalog.Watch) but through the version.
		admin := &catalog.Catalog{Store: testenv.Instance(t, b).Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Now: clk.Now}
		mintAll := func(want map[string]error) {
			t.Helper()
			for i, s := range services {
				for _, n := range []string{"A", "B", "C", "A2"} {
					_, err := s.Token(ctx, n, "agent-1")
					if w := want[n]; (w == nil) != (err == nil) || (w != nil && !errors.Is(err, w)) {
						t.Fatalf("instance %d, %s at %s: %v, want %v", i+1, n, clk.Now().Format(time.TimeOnly), err, w)
					}
				}
			}
		}
		reads := func() (gets, versions [2]int64) {
			for i, cs := range stores {
				gets[i], versions[i] = cs.gets.Swap(0), cs.versions.Swap(0)
			}
			return
		}
		serving := map[string]error{"A2": connector.ErrNotFound}
		mintAll(serving)
		reads()

		// Steady state: a minute of requests every second, nothing changing.
		for range 60 {
			clk.Advance(time.Second)
			mintAll(serving)
		}
		gets, versions := reads()
		for i := range 2 {
			if gets[i] != 0 || versions[i] > 13 {
				t.Fatalf("instance %d read %d connectors and the version %d times in 60 s with nothing changing; want 0 and at most 60 s / 5 s + 1",
					i+1, gets[i], versions[i])
			}
		}

		// Each mutation made elsewhere applies on both instances within
		// MetadataTTL, and costs each one read per connector it changed.
		mutations := []struct {
			what    string
			do      func() error
			touched []string
			now     map[string]error
		}{
			{"deactivate A", func() error {
				_, err := admin.Update(ctx, "A", "", &connector.Input{Active: ptr(false)}, "admin")
				return err
			}, []string{"A"}, map[string]error{"A": mint.ErrInactive, "A2": connector.ErrNotFound}},
			{"rename A to A2, active", func() error {
				_, err := admin.Update(ctx, "A", "", &connector.Input{Name: ptr("A2"), Active: ptr(true)}, "admin")
				return err
			}, []string{"A", "A2"}, map[string]error{"A": connector.ErrNotFound}},
			{"take agent-1 off B", func() error {
				_, err := admin.Update(ctx, "B", "", &connector.Input{Agents: ptr([]string{"agent-2"})}, "admin")
				return err
			}, []string{"B"}, map[string]error{"A": connector.ErrNotFound, "B": mint.ErrAgentNotAllowed}},
			{"delete C", func() error {
				return admin.Delete(ctx, "C", "")
			}, []string{"C"}, map[string]error{"A": connector.ErrNotFound, "B": mint.ErrAgentNotAllowed, "C": connector.ErrNotFound}},
		}
		for _, m := range mutations {
			clk.Advance(time.Second)
			mintAll(serving) // both instances hold a version read before the mutation
			reads()
			if err := m.do(); err != nil {
				t.Fatalf("%s: %v", m.what, err)
			}
			clk.Advance(mint.DefaultMetadataTTL)
			serving = m.now
			mintAll(serving)
			gets, versions := reads()
			// The names cached in the slots of the names touched are read
			// again (those touched, and any sharing their slots).
			slots := map[string]bool{}
			for _, n := range m.touched {
				slots[connector.VersionSlot(n)] = true
			}
			var want int64
			for _, n := range []string{"A", "B", "C", "A2"} {
				if slots[connector.VersionSlot(n)] {
					want++
				}
			}
			for i := range 2 {
				if versions[i] != 1 || gets[i] != want {
					t.Fatalf("%s: instance %d made %d connector reads and %d version reads to see it; want %d and 1",
						m.what, i+1, gets[i], versions[i], want)
				}
			}
		}
	})
}

// A catalog version that cannot be read is asked again once per
// MetadataTTL, not on every request, and meanwhile each connector is read
// again once per MetadataTTL, as without the version; once it reads again,
// no connector is.
func TestCatalogVersionReadFailing(t *testing.T) {
	b := testenv.New(t, testenv.Embedded)
	ctx := context.Background()
	p := newProvider(t, "")
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("A", p.URL))
	cs := &countingStore{Store: b.Store}
	ib := b
	ib.Store = cs
	s := instance(t, ib, clk, "i1")
	cs.failVersion.Store(true)
	for range 20 { // 20 s, a request every 250 ms
		for range 4 {
			if _, err := s.Token(ctx, "A", "agent-1"); err != nil {
				t.Fatal(err)
			}
			clk.Advance(250 * time.Millisecond)
		}
	}
	if v, g := cs.versions.Swap(0), cs.gets.Swap(0); v > 5 || g > 5 || g < 4 {
		t.Fatalf("with the version unreadable, 80 requests over 20 s made %d version reads and %d connector reads; want about one of each per 5 s", v, g)
	}
	cs.failVersion.Store(false)
	for range 20 {
		clk.Advance(time.Second)
		if _, err := s.Token(ctx, "A", "agent-1"); err != nil {
			t.Fatal(err)
		}
	}
	// The first poll that reads again cannot tell what changed meanwhile:
	// one read of A; none after.
	if v, g := cs.versions.Load(), cs.gets.Load(); v > 5 || g > 1 {
		t.Fatalf("with the version readable again, 20 s made %d version reads and %d connector reads; want about 4 and at most 1", v, g)
	}
}
