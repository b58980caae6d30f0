package mint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func ptr[T any](v T) *T { return &v }

// provider is the rotating token endpoint of these tests.
type provider = oauthtest.Provider

func newProvider(t *testing.T, refresh string) *provider { return oauthtest.NewProvider(t, refresh) }

// instance is one token-function instance over shared backends.
func instance(t *testing.T, b testenv.Backends, clk *clock.Fake, name string) *mint.Service {
	t.Helper()
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Now: clk.Now}
	client := &oauth.Client{
		HTTP: outbound.NewClient(outbound.Options{Policy: netguard.Policy{AllowLoopback: true}, Timeout: 5 * time.Second}),
		Now:  clk.Now,
	}
	return &mint.Service{
		Catalog:      cat,
		Cache:        b.Cache,
		Sealer:       &mint.Sealer{Secrets: b.Secrets},
		OAuth:        mint.OAuth{Client: client},
		Instance:     name,
		Now:          clk.Now,
		PollInterval: 10 * time.Millisecond,
	}
}

// stored returns the connector called name as stored and the secrets its
// pinned version holds; a pinned version that cannot be read fails t.
func stored(t *testing.T, b testenv.Backends, name string) (*connector.Connector, secret.Bundle) {
	t.Helper()
	c, err := b.Store.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("%s: get: %v", name, err)
	}
	bundle, err := b.Secrets.Get(context.Background(), c.SecretID, c.SecretVersion)
	if err != nil {
		t.Fatalf("%s: the version the connector pins (%s) is unreadable: %v", name, c.SecretVersion, err)
	}
	return c, bundle
}

// createConnector stores a connector, and the token-cache key on first use
// (a deployment provisions it once, before any instance starts).
func createConnector(t *testing.T, b testenv.Backends, in *connector.Input) {
	t.Helper()
	if _, err := b.Secrets.Get(context.Background(), mint.CacheKeySecretID, ""); err != nil {
		if err := mint.ProvisionKey(context.Background(), b.Secrets); err != nil {
			t.Fatal(err)
		}
	}
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
	if _, err := cat.Create(context.Background(), in, "admin"); err != nil {
		t.Fatal(err)
	}
}

func clientCredentials(name, url string) *connector.Input {
	return &connector.Input{
		Name: ptr(name), URL: ptr(url), GrantType: ptr("client_credentials"),
		ClientID: ptr("cid"), ClientSecret: ptr("client-secret-mint-test"), Agents: ptr([]string{"agent-1"}),
	}
}

func refreshing(name, url, refresh string) *connector.Input {
	return &connector.Input{
		Name: ptr(name), URL: ptr(url), GrantType: ptr("refresh_token"),
		ClientID: ptr("cid"), ClientSecret: ptr("client-secret-mint-test"), RefreshToken: ptr(refresh),
		Agents: ptr([]string{"agent-1"}),
	}
}

func TestTokenIsCached(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "")
		clk := clock.NewFake()
		createConnector(t, b, clientCredentials("Svc", p.URL))
		s := instance(t, b, clk, "i1")
		c1, err := s.Token(ctx, "Svc", "agent-1")
		if err != nil {
			t.Fatal(err)
		}
		if c1.AccessToken != "access-1" || c1.TokenType != "Bearer" || !c1.Expiry.Equal(clk.Now().Add(time.Hour)) {
			t.Fatalf("credential %+v", c1)
		}
		clk.Advance(30 * time.Minute)
		c2, err := s.Token(ctx, "Svc", "agent-1")
		if err != nil || c2.AccessToken != "access-1" || p.Calls.Load() != 1 {
			t.Fatalf("second call: %v %v, provider calls %d", c2, err, p.Calls.Load())
		}
		// A second instance finds it in the shared cache.
		other := instance(t, testenv.Instance(t, b), clk, "i2")
		if c3, err := other.Token(ctx, "Svc", "agent-1"); err != nil || c3.AccessToken != "access-1" || p.Calls.Load() != 1 {
			t.Fatalf("other instance: %v %v, provider calls %d", c3, err, p.Calls.Load())
		}
		// Within the refresh margin before expiry, a new token is minted.
		clk.Advance(30*time.Minute - 30*time.Second)
		if c4, err := s.Token(ctx, "Svc", "agent-1"); err != nil || c4.AccessToken != "access-2" || p.Calls.Load() != 2 {
			t.Fatalf("refresh ahead: %v %v, provider calls %d", c4, err, p.Calls.Load())
		}
	})
}

func TestAuthorizationAndState(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t, "")
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("Svc", p.URL))
	s := instance(t, b, clk, "i1")
	if _, err := s.Token(ctx, "Svc", "agent-2"); !errors.Is(err, mint.ErrAgentNotAllowed) {
		t.Fatalf("foreign agent: %v", err)
	}
	if _, err := s.Token(ctx, "Nope", "agent-1"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("absent connector: %v", err)
	}
	if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
		t.Fatal(err)
	}
	// Deactivate: within MetadataTTL the cached metadata may still serve;
	// after it, the connector refuses.
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
	if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Active: ptr(false)}, "admin"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(mint.DefaultMetadataTTL + time.Millisecond)
	if _, err := s.Token(ctx, "Svc", "agent-1"); !errors.Is(err, mint.ErrInactive) {
		t.Fatalf("inactive: %v", err)
	}
	if p.Calls.Load() != 1 {
		t.Fatalf("provider calls %d", p.Calls.Load())
	}
	// Reactivated with another scope: a new revision, so a new token.
	if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Active: ptr(true), Scope: ptr("more")}, "admin"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(mint.DefaultMetadataTTL + time.Millisecond)
	if c, err := s.Token(ctx, "Svc", "agent-1"); err != nil || c.AccessToken != "access-2" {
		t.Fatalf("after update: %v %v", c, err)
	}
	// Deleted: not found once the metadata cache has expired.
	if err := cat.Delete(ctx, "Svc", ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(mint.DefaultMetadataTTL + time.Millisecond)
	if _, err := s.Token(ctx, "Svc", "agent-1"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

// TestSameInstanceChangesApplyAtOnce: an update or delete served by the
// instance that mints (the local run, an admin's Test after an edit)
// applies to its next mint at once, not after MetadataTTL.
func TestSameInstanceChangesApplyAtOnce(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t, "")
	createConnector(t, b, clientCredentials("Svc", p.URL))
	cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
	s := mint.NewService(cat, b.Cache, mint.KeyProvisioned, config.Config{AllowInsecureURLs: true})
	s.MetadataTTL = time.Hour // what a TTL alone would serve
	if _, err := s.Token(ctx, "Svc", "agent-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Active: ptr(false)}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "Svc", "agent-1"); !errors.Is(err, mint.ErrInactive) {
		t.Fatalf("deactivated: %v", err)
	}
	if _, err := cat.Update(ctx, "Svc", "", &connector.Input{Active: ptr(true), Name: ptr("Svc2")}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "Svc", "agent-1"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("renamed away: %v", err)
	}
	if _, err := s.Token(ctx, "Svc2", "agent-1"); err != nil {
		t.Fatal(err)
	}
	if err := cat.Delete(ctx, "Svc2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "Svc2", "agent-1"); !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestProviderErrorReleasesLease(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t, "")
	p.Status.Store(401)
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("Svc", p.URL))
	s := instance(t, b, clk, "i1")
	_, err := s.Token(ctx, "Svc", "agent-1")
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 401 || ue.Code != "invalid_client" {
		t.Fatalf("want the provider's 401 invalid_client, got %v", err)
	}
	if strings.Contains(err.Error(), "client-secret-mint-test") {
		t.Fatal("error carries the client secret")
	}
	if p.Calls.Load() != 1 {
		t.Fatalf("a refusal was retried: %d calls", p.Calls.Load())
	}
	// The lease was released: the next call tries at once, from another
	// instance too.
	p.Status.Store(0)
	other := instance(t, testenv.Instance(t, b), clk, "i2")
	if c, err := other.Token(ctx, "Svc", "agent-1"); err != nil || c.AccessToken == "" {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestRotatedRefreshTokenStoredBeforeReturn(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		ctx := context.Background()
		p := newProvider(t, "refresh-0")
		clk := clock.NewFake()
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-0"))
		s := instance(t, b, clk, "i1")
		if _, err := s.Token(ctx, "Mail", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if _, bundle := stored(t, b, "Mail"); bundle.RefreshToken != p.CurrentRefresh() || bundle.ClientSecret != "client-secret-mint-test" {
			t.Fatal("stored refresh token is not the rotated one")
		}
		ids, _ := b.Secrets.IDs(ctx)
		if len(ids) != 2 { // the connector's secret and the token-cache key
			t.Fatalf("secrets %v", ids)
		}
	})
}

// TestConcurrencySingleUpstream: 4 instances × 250 concurrent requests for
// a connector whose token has expired cause exactly one provider call.
func TestConcurrencySingleUpstream(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		p := newProvider(t, "")
		p.Delay = 50 * time.Millisecond
		clk := clock.NewFake()
		createConnector(t, b, clientCredentials("Svc", p.URL))
		instances := fourInstances(t, b, clk)
		if _, err := instances[0].Token(context.Background(), "Svc", "agent-1"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Hour) // expired everywhere
		before := p.Calls.Load()
		tokens := burst(t, instances, "Svc", 250)
		calls := p.Calls.Load() - before
		t.Logf("%s: %d instances x 250 concurrent requests after expiry: %d upstream call(s), %d distinct token(s)", b.Kind, len(instances), calls, len(tokens))
		if calls != 1 || len(tokens) != 1 {
			t.Fatalf("upstream calls %d, distinct tokens %v; want exactly 1 and 1", calls, tokens)
		}
	})
}

// TestConcurrencyRotation: the same burst against a provider that rotates
// refresh tokens and rejects reuse, several expiries in a row: never an
// invalid_grant, and the stored refresh token is always the newest.
func TestConcurrencyRotation(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		p := newProvider(t, "refresh-0")
		p.Delay = 20 * time.Millisecond
		clk := clock.NewFake()
		createConnector(t, b, refreshing("Mail", p.URL, "refresh-0"))
		instances := fourInstances(t, b, clk)
		const rounds = 3
		for round := 1; round <= rounds; round++ {
			clk.Advance(2 * time.Hour)
			if tokens := burst(t, instances, "Mail", 250); len(tokens) != 1 {
				t.Fatalf("round %d: distinct tokens %v", round, tokens)
			}
		}
		_, bundle := stored(t, b, "Mail")
		t.Logf("%s: %d rounds of 4 x 250: %d upstream calls, %d invalid_grant, stored refresh token newest: %v",
			b.Kind, rounds, p.Calls.Load(), p.InvalidGrants.Load(), bundle.RefreshToken == p.CurrentRefresh())
		if p.Calls.Load() != rounds || p.InvalidGrants.Load() != 0 {
			t.Fatalf("upstream calls %d (want %d), invalid_grant %d (want 0)", p.Calls.Load(), rounds, p.InvalidGrants.Load())
		}
		if bundle.RefreshToken != p.CurrentRefresh() {
			t.Fatal("stored refresh token is not the provider's current one")
		}
	})
}

func fourInstances(t *testing.T, b testenv.Backends, clk *clock.Fake) []*mint.Service {
	var out []*mint.Service
	for i := range 4 {
		ib := b
		if i > 0 {
			ib = testenv.Instance(t, b)
		}
		out = append(out, instance(t, ib, clk, fmt.Sprintf("instance-%d", i)))
	}
	return out
}

// burst sends n concurrent requests to each instance and returns the
// distinct access tokens they got; any error fails the test.
func burst(t *testing.T, instances []*mint.Service, name string, n int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		tokens = map[string]int{}
		errs   []error
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for _, s := range instances {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := s.Token(ctx, name, "agent-1")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				tokens[c.AccessToken]++
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", len(errs), n*len(instances), errs[0])
	}
	return tokens
}

// TestRetries: failures after which asking again is safe are retried with
// backoff; a refresh_token request whose outcome is unknown is not.
func TestRetries(t *testing.T) {
	cases := []struct {
		name              string
		refresh           bool
		failFirst, resets int32
		// replaced: while the provider fails, an admin stores a new refresh
		// token, and the provider accepts only that one from then on.
		replaced  bool
		wantOK    bool
		wantCalls int32
	}{
		{"client_credentials after two 503s", false, 2, 0, false, true, 3},
		{"client_credentials after three 503s gives up", false, 3, 0, false, false, 3},
		{"client_credentials after a reset", false, 0, 1, false, true, 2},
		{"refresh_token after a 503", true, 1, 0, false, true, 2},
		{"refresh_token after a 503 retries with the token stored meanwhile", true, 1, 0, true, true, 2},
		{"refresh_token after a reset is not retried", true, 0, 1, false, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			b := testenv.New(t, testenv.Embedded)
			p := newProvider(t, "refresh-0")
			p.FailFirst.Store(c.failFirst)
			p.ResetFirst.Store(c.resets)
			clk := clock.NewFake()
			in := clientCredentials("Svc", p.URL)
			if c.refresh {
				in = refreshing("Svc", p.URL, "refresh-0")
			}
			createConnector(t, b, in)
			if c.replaced {
				cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
				p.OnFail = func() {
					if _, err := cat.Update(ctx, "Svc", "", &connector.Input{RefreshToken: ptr("refresh-admin")}, "admin"); err != nil {
						t.Error(err)
					}
					p.SetRefresh("refresh-admin")
				}
			}
			_, err := instance(t, b, clk, "i1").Token(ctx, "Svc", "agent-1")
			if (err == nil) != c.wantOK || p.Calls.Load() != c.wantCalls {
				t.Fatalf("err %v after %d calls; want ok=%v after %d", err, p.Calls.Load(), c.wantOK, c.wantCalls)
			}
			if p.InvalidGrants.Load() != 0 {
				t.Fatal("a retry reused a refresh token")
			}
			if c.refresh && c.wantOK {
				if _, bundle := stored(t, b, "Svc"); bundle.RefreshToken != p.CurrentRefresh() {
					t.Fatal("stored refresh token is not the provider's current one")
				}
			}
		})
	}
}
