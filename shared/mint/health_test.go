package mint_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/testenv"
)

// Connector health (docs/architecture.md, "Connector health"): recorded
// by the mints that reached the provider, never by a cache hit, one
// transition per change across instances.

// transitions counts the health transitions instances announce.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) hook(_ context.Context, conn *connector.Connector, from, to connector.HealthState, _ connector.HealthRecord) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, conn.Name+":"+string(from)+"->"+string(to))
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.got...)
}

// healthOf is the connector as connectors-list shows it.
func healthOf(t *testing.T, cat *catalog.Catalog, name string) *connector.Connector {
	t.Helper()
	page, err := cat.ListHealth(context.Background(), connector.ListOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range page.Connectors {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s not listed", name)
	return nil
}

// TestHealthFailingThenRecovers: a provider that starts refusing makes
// the connector failing with the provider's code, failures in the same
// state are written at most once a minute (and counted when written),
// and the first success makes it ok again; each change is announced once.
func TestHealthFailingThenRecovers(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "")
		createConnector(t, b, clientCredentials("Svc", p.URL))
		clk := clock.NewFake()
		var logs logtest.Buffer
		s := loggedInstance(t, b, clk, "i1", &logs)
		var tr transitions
		s.Catalog.OnHealthTransition = tr.hook

		if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if c := healthOf(t, s.Catalog, "Svc"); c.State != connector.HealthOK || c.LastSuccessAt.IsZero() || c.ConsecutiveFailures != 0 {
			t.Fatalf("after a mint: %+v", c.Health)
		}

		p.Status.Store(http.StatusUnauthorized)
		clk.Advance(2 * time.Hour) // past the credential's lifetime: the next call mints
		if _, err := s.Token(ctx, "Svc", "agent-1"); err == nil {
			t.Fatal("mint against a refusing provider succeeded")
		}
		c := healthOf(t, s.Catalog, "Svc")
		if c.State != connector.HealthFailing || c.LastErrorCode != "invalid_client" || c.ConsecutiveFailures != 1 || !c.LastFailureAt.Equal(clk.Now().UTC().Truncate(time.Millisecond)) || !c.StateSince.Equal(c.LastFailureAt) {
			t.Fatalf("after the provider refused: %+v (now %v)", c.Health, clk.Now())
		}
		// Same state within the minute: not written.
		if _, err := s.Token(ctx, "Svc", "agent-1"); err == nil {
			t.Fatal("mint against a refusing provider succeeded")
		}
		if c := healthOf(t, s.Catalog, "Svc"); c.ConsecutiveFailures != 1 {
			t.Fatalf("a failure in the same state was written within the minute: %+v", c.Health)
		}
		clk.Advance(61 * time.Second)
		if _, err := s.Token(ctx, "Svc", "agent-1"); err == nil {
			t.Fatal("mint against a refusing provider succeeded")
		}
		if c := healthOf(t, s.Catalog, "Svc"); c.ConsecutiveFailures != 3 || c.State != connector.HealthFailing {
			t.Fatalf("a minute later: %+v, want the 3 failures counted", c.Health)
		}

		p.Status.Store(0)
		clk.Advance(time.Second)
		if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatalf("mint after the provider recovered: %v", err)
		}
		c = healthOf(t, s.Catalog, "Svc")
		if c.State != connector.HealthOK || c.ConsecutiveFailures != 0 || !c.LastSuccessAt.Equal(clk.Now().UTC().Truncate(time.Millisecond)) || c.LastErrorCode != "invalid_client" {
			t.Fatalf("after recovery: %+v", c.Health)
		}
		want := []string{"Svc:ok->failing", "Svc:failing->ok"}
		if got := tr.list(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("transitions %v, want %v", got, want)
		}
		noSecretIn(t, "log", logs.String())
		if strings.Contains(logs.String(), "client authentication failed") {
			t.Fatalf("a log line quotes the provider's description:\n%s", logs.String())
		}
	})
}

// TestHealthInvalidGrantNeedsReconnect: invalid_grant on the stored
// refresh token makes the connector needs_reconnect (its mark, shown as
// the state), announced once; the first mint after a reconnect makes it ok.
func TestHealthInvalidGrantNeedsReconnect(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-live")
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-revoked"))
		clk := clock.NewFake()
		s := instance(t, b, clk, "i1")
		var tr transitions
		s.Catalog.OnHealthTransition = tr.hook

		if _, err := s.Token(ctx, "Mail", "agent-1"); err == nil {
			t.Fatal("mint with a revoked refresh token succeeded")
		}
		c := healthOf(t, s.Catalog, "Mail")
		if c.State != connector.HealthNeedsReconnect || c.LastErrorCode != "invalid_grant" || !c.NeedsReconnect || !c.StateSince.Equal(c.NeedsReconnectSince) {
			t.Fatalf("after invalid_grant: %+v (needsReconnect %v)", c.Health, c.NeedsReconnect)
		}
		page, err := s.Catalog.ListHealth(ctx, connector.ListOptions{}, connector.HealthNeedsReconnect)
		if err != nil || len(page.Connectors) != 1 || page.Connectors[0].Name != "Mail" {
			t.Fatalf("state=needs_reconnect: %v, %v", page, err)
		}
		if page, err := s.Catalog.ListHealth(ctx, connector.ListOptions{}, connector.HealthOK); err != nil || len(page.Connectors) != 0 {
			t.Fatalf("state=ok lists a connector that needs a reconnect: %v, %v", page, err)
		}

		// The admin reconnects (a new refresh token), the next mint works.
		admin := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
		if _, err := admin.Update(ctx, "Mail", "", &connector.Input{RefreshToken: ptr("refresh-live")}, "admin"); err != nil {
			t.Fatal(err)
		}
		s.Forget("Mail")
		clk.Advance(time.Second)
		if _, err := s.Token(ctx, "Mail", "agent-1"); err != nil {
			t.Fatalf("mint after the reconnect: %v", err)
		}
		if c := healthOf(t, s.Catalog, "Mail"); c.State != connector.HealthOK || c.NeedsReconnect {
			t.Fatalf("after the reconnect: %+v", c.Health)
		}
		want := []string{"Mail:ok->needs_reconnect", "Mail:needs_reconnect->ok"}
		if got := tr.list(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("transitions %v, want %v", got, want)
		}
	})
}

// TestHealthOneTransitionAcrossInstances: four instances see the same
// refusal at once; the store's transaction lets exactly one of them
// announce the change, and every failure is counted.
func TestHealthOneTransitionAcrossInstances(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		p := newProvider(t, "")
		p.Status.Store(http.StatusUnauthorized)
		createConnector(t, b, clientCredentials("Svc", p.URL))
		clk := clock.NewFake()
		var tr transitions
		instances := fourInstances(t, b, clk)
		for _, s := range instances {
			s.Catalog.OnHealthTransition = tr.hook
			// Four transactions on one record at once: the emulator
			// serialises them slowly on a loaded machine, and a write
			// past its bound is carried, not retried (no later mint).
			s.Catalog.HealthTimeout = 30 * time.Second
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var failed atomic.Int32
		for _, s := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := s.Token(context.Background(), "Svc", "agent-1"); err != nil {
					failed.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if failed.Load() != 4 || p.Calls.Load() != 4 {
			t.Fatalf("%d of 4 mints failed, %d provider calls; want 4 and 4", failed.Load(), p.Calls.Load())
		}
		if got := tr.list(); len(got) != 1 || got[0] != "Svc:ok->failing" {
			t.Fatalf("transitions %v, want exactly one ok->failing", got)
		}
		if c := healthOf(t, instances[0].Catalog, "Svc"); c.State != connector.HealthFailing || c.ConsecutiveFailures != 4 {
			t.Fatalf("health %+v, want failing after 4 failures", c.Health)
		}
	})
}

// writeCounter counts every write an instance makes to the connector
// store, health records included.
type writeCounter struct {
	catalog.Store
	writes atomic.Int64
}

func (w *writeCounter) Update(ctx context.Context, name, rev string, c *connector.Connector) (*connector.Connector, error) {
	w.writes.Add(1)
	return w.Store.Update(ctx, name, rev, c)
}

func (w *writeCounter) RecordHealth(ctx context.Context, name string, d connector.HealthDelta) (connector.HealthRecord, connector.HealthRecord, error) {
	w.writes.Add(1)
	return w.Store.RecordHealth(ctx, name, d)
}

func (w *writeCounter) Version(ctx context.Context) (*connector.Version, error) {
	return w.Store.(connector.Versioned).Version(ctx)
}

// TestHealthNoWriteOnCacheHit: once a credential is cached, calls served
// from this instance's cache or from the shared one write nothing, even
// past the minute that would allow a health write.
func TestHealthNoWriteOnCacheHit(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "")
		createConnector(t, b, clientCredentials("Svc", p.URL))
		clk := clock.NewFake()
		var services []*mint.Service
		var counters []*writeCounter
		for _, id := range []string{"i1", "i2"} {
			ib := testenv.Instance(t, b)
			wc := &writeCounter{Store: ib.Store}
			ib.Store = wc
			counters = append(counters, wc)
			services = append(services, instance(t, ib, clk, id))
		}
		if _, err := services[0].Token(ctx, "Svc", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if n := counters[0].writes.Load(); n != 1 {
			t.Fatalf("the first mint made %d writes, want 1 (its health)", n)
		}
		before := counters[0].writes.Load() + counters[1].writes.Load()
		for i := range 50 {
			if i == 25 {
				clk.Advance(2 * time.Minute) // still well inside the token's hour
			}
			for _, s := range services {
				if _, layer, err := s.TokenLayer(ctx, "Svc", "agent-1"); err != nil || layer == mint.LayerMinted {
					t.Fatalf("call %d: layer %v, %v", i, layer, err)
				}
			}
		}
		if after := counters[0].writes.Load() + counters[1].writes.Load(); after != before {
			t.Fatalf("cache hits made %d store writes, want 0", after-before)
		}
		if p.Calls.Load() != 1 {
			t.Fatalf("provider calls %d, want 1", p.Calls.Load())
		}
	})
}

// TestHealthSkipped: an instance told to record no health (files, whose
// identity only reads the connectors' database) writes none.
func TestHealthSkipped(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		p := newProvider(t, "")
		p.Status.Store(http.StatusUnauthorized)
		createConnector(t, b, clientCredentials("Svc", p.URL))
		wc := &writeCounter{Store: b.Store}
		b.Store = wc
		s := instance(t, b, clock.NewFake(), "files-1")
		s.SkipHealth = true
		if _, err := s.Token(context.Background(), "Svc", "agent-1"); err == nil {
			t.Fatal("mint against a refusing provider succeeded")
		}
		if n := wc.writes.Load(); n != 0 {
			t.Fatalf("%d store writes, want none", n)
		}
		if c := healthOf(t, s.Catalog, "Svc"); c.State != connector.HealthOK || c.ConsecutiveFailures != 0 {
			t.Fatalf("health recorded: %+v", c.Health)
		}
	})
}
