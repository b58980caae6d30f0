package mint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/outbound"
	"connectors.dev/connectors/shared/secret"
	"connectors.dev/connectors/shared/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func ptr[T any](v T) *T { return &v }

// provider is a token endpoint that rotates refresh tokens the way strict
// providers do: each refresh token works once, and reusing one is
// invalid_grant. It counts calls and refusals.
type provider struct {
	mu           sync.Mutex
	srv          *httptest.Server
	calls        atomic.Int32
	invalidGrant atomic.Int32
	refresh      string // the one valid refresh token
	issued       int
	expiresIn    int
	delay        time.Duration
	status       int          // non-zero: answer every request with this status
	failFirst    atomic.Int32 // answer this many requests 503 first
	resetFirst   atomic.Int32 // drop this many connections after reading the request
	onFail       func()       // run before each failFirst answer
}

func newProvider(t *testing.T, refresh string) *provider {
	p := &provider{refresh: refresh, expiresIn: 3600}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	if p.resetFirst.Add(-1) >= 0 {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if p.failFirst.Add(-1) >= 0 {
		if p.onFail != nil {
			p.onFail()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	time.Sleep(p.delay)
	w.Header().Set("Content-Type", "application/json")
	if p.status != 0 {
		w.WriteHeader(p.status)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
		return
	}
	p.issued++
	resp := map[string]any{"access_token": fmt.Sprintf("access-%d", p.issued), "token_type": "bearer", "expires_in": p.expiresIn}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != p.refresh {
			p.invalidGrant.Add(1)
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"refresh token reused or revoked"}`)
			return
		}
		p.refresh = fmt.Sprintf("refresh-%d", p.issued)
		resp["refresh_token"] = p.refresh
	default:
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (p *provider) currentRefresh() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refresh
}

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
		createConnector(t, b, clientCredentials("Svc", p.srv.URL))
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
		if err != nil || c2.AccessToken != "access-1" || p.calls.Load() != 1 {
			t.Fatalf("second call: %v %v, provider calls %d", c2, err, p.calls.Load())
		}
		// A second instance finds it in the shared cache.
		other := instance(t, testenv.Instance(t, b), clk, "i2")
		if c3, err := other.Token(ctx, "Svc", "agent-1"); err != nil || c3.AccessToken != "access-1" || p.calls.Load() != 1 {
			t.Fatalf("other instance: %v %v, provider calls %d", c3, err, p.calls.Load())
		}
		// Within the refresh margin before expiry, a new token is minted.
		clk.Advance(30*time.Minute - 30*time.Second)
		if c4, err := s.Token(ctx, "Svc", "agent-1"); err != nil || c4.AccessToken != "access-2" || p.calls.Load() != 2 {
			t.Fatalf("refresh ahead: %v %v, provider calls %d", c4, err, p.calls.Load())
		}
	})
}

func TestAuthorizationAndState(t *testing.T) {
	ctx := context.Background()
	b := testenv.New(t, testenv.Embedded)
	p := newProvider(t, "")
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("Svc", p.srv.URL))
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
	if p.calls.Load() != 1 {
		t.Fatalf("provider calls %d", p.calls.Load())
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
	createConnector(t, b, clientCredentials("Svc", p.srv.URL))
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
	p.status = 401
	clk := clock.NewFake()
	createConnector(t, b, clientCredentials("Svc", p.srv.URL))
	s := instance(t, b, clk, "i1")
	_, err := s.Token(ctx, "Svc", "agent-1")
	var ue *oauth.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 401 || ue.Code != "invalid_client" {
		t.Fatalf("want the provider's 401 invalid_client, got %v", err)
	}
	if strings.Contains(err.Error(), "client-secret-mint-test") {
		t.Fatal("error carries the client secret")
	}
	if p.calls.Load() != 1 {
		t.Fatalf("a refusal was retried: %d calls", p.calls.Load())
	}
	// The lease was released: the next call tries at once, from another
	// instance too.
	p.mu.Lock()
	p.status = 0
	p.mu.Unlock()
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
		createConnector(t, b, refreshing("Mail", p.srv.URL, "refresh-0"))
		s := instance(t, b, clk, "i1")
		if _, err := s.Token(ctx, "Mail", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if _, bundle := stored(t, b, "Mail"); bundle.RefreshToken != p.currentRefresh() || bundle.ClientSecret != "client-secret-mint-test" {
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
		p.delay = 50 * time.Millisecond
		clk := clock.NewFake()
		createConnector(t, b, clientCredentials("Svc", p.srv.URL))
		instances := fourInstances(t, b, clk)
		if _, err := instances[0].Token(context.Background(), "Svc", "agent-1"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(2 * time.Hour) // expired everywhere
		before := p.calls.Load()
		tokens := burst(t, instances, "Svc", 250)
		calls := p.calls.Load() - before
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
		p.delay = 20 * time.Millisecond
		clk := clock.NewFake()
		createConnector(t, b, refreshing("Mail", p.srv.URL, "refresh-0"))
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
			b.Kind, rounds, p.calls.Load(), p.invalidGrant.Load(), bundle.RefreshToken == p.currentRefresh())
		if p.calls.Load() != rounds || p.invalidGrant.Load() != 0 {
			t.Fatalf("upstream calls %d (want %d), invalid_grant %d (want 0)", p.calls.Load(), rounds, p.invalidGrant.Load())
		}
		if bundle.RefreshToken != p.currentRefresh() {
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
			p.failFirst.Store(c.failFirst)
			p.resetFirst.Store(c.resets)
			clk := clock.NewFake()
			in := clientCredentials("Svc", p.srv.URL)
			if c.refresh {
				in = refreshing("Svc", p.srv.URL, "refresh-0")
			}
			createConnector(t, b, in)
			if c.replaced {
				cat := &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}}
				p.onFail = func() {
					if _, err := cat.Update(ctx, "Svc", "", &connector.Input{RefreshToken: ptr("refresh-admin")}, "admin"); err != nil {
						t.Error(err)
					}
					p.mu.Lock()
					p.refresh = "refresh-admin"
					p.mu.Unlock()
				}
			}
			_, err := instance(t, b, clk, "i1").Token(ctx, "Svc", "agent-1")
			if (err == nil) != c.wantOK || p.calls.Load() != c.wantCalls {
				t.Fatalf("err %v after %d calls; want ok=%v after %d", err, p.calls.Load(), c.wantOK, c.wantCalls)
			}
			if p.invalidGrant.Load() != 0 {
				t.Fatal("a retry reused a refresh token")
			}
			if c.refresh && c.wantOK {
				if _, bundle := stored(t, b, "Svc"); bundle.RefreshToken != p.currentRefresh() {
					t.Fatal("stored refresh token is not the provider's current one")
				}
			}
		})
	}
}
