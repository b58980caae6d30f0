package token_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/functions/connectors"
	"connectors.dev/connectors/functions/probe"
	"connectors.dev/connectors/functions/token"
	"connectors.dev/connectors/shared/auth"
	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/faulttest"
	"connectors.dev/connectors/shared/httpx"
	"connectors.dev/connectors/shared/logging"
	"connectors.dev/connectors/shared/logging/logtest"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/mint/oauth/oauthtest"
)

// Fault tests: a backend goes away for real (its proxy cuts or stalls every
// connection) while requests run, and comes back. Timing: faulttest.

// faultEnv serves token and the admin functions over proxied backends under
// the request deadline, as platform.Register does.
type faultEnv struct {
	t    *testing.T
	b    faulttest.Backends
	cat  *catalog.Catalog
	logs *logtest.Buffer
	url  string
	rec  *faulttest.Recorder
}

func newFaultEnv(t *testing.T, b faulttest.Backends) *faultEnv {
	t.Helper()
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	e := &faultEnv{
		t:    t,
		b:    b,
		logs: logs,
		cat:  &catalog.Catalog{Store: b.Store, Secrets: b.Secrets, Options: connector.Options{AllowInsecureURLs: true}, Log: logging.New(logs)},
		rec:  &faulttest.Recorder{Client: &http.Client{Timeout: faulttest.Deadline + faulttest.RecoveryBound}},
	}
	e.rec.SetPhase("setup")
	// Provisioned, as Terraform does, so that several instances share it.
	if err := mint.ProvisionKey(context.Background(), b.Secrets); err != nil {
		t.Fatal(err)
	}
	e.url = e.instance()
	return e
}

// instance serves the functions as one more function instance would: its
// own minting service, with empty in-process caches, over the same
// backends. It returns the base URL.
func (e *faultEnv) instance() string {
	e.t.Helper()
	authn, err := auth.New(auth.Config{Local: true}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	log := logging.New(e.logs)
	// Its own catalog too: another process hears only its own edits.
	cat := &catalog.Catalog{Store: e.cat.Store, Secrets: e.cat.Secrets, Options: e.cat.Options, Log: log}
	svc := mint.NewService(cat, e.b.Cache, mint.KeyProvisioned, config.Config{AllowInsecureURLs: true, TokenConnectTimeout: time.Second, TokenTimeout: time.Second})
	// A fill outlives its request by LeaseTTL + 5 s; keep that short here.
	svc.LeaseTTL = 3 * time.Second
	mux := http.NewServeMux()
	for _, hs := range []map[string]http.Handler{
		(&token.Server{Mint: svc, Auth: authn, Log: log}).Handlers(),
		(&connectors.Server{Catalog: cat, Auth: authn, Log: log}).Handlers(),
		(&probe.Server{Tester: svc, Auth: authn, Log: log}).Handlers(),
	} {
		for name, h := range hs {
			mux.Handle("/"+name, httpx.WithDeadline(h, faulttest.Deadline))
		}
	}
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	return srv.URL
}

func (e *faultEnv) post(base, fn string, body any) (int, map[string]any) {
	return e.rec.Post(base+"/"+fn, fn, body)
}

func (e *faultEnv) mustPost(base, fn string, body any, want int) map[string]any {
	e.t.Helper()
	code, out := e.post(base, fn, body)
	if code != want {
		e.t.Fatalf("%s %v: %d %v, want %d", fn, body, code, out, want)
	}
	return out
}

// anyClientProvider issues a token to any client: the load rotates its
// connectors' secrets.
func anyClientProvider(t *testing.T) string {
	p := oauthtest.NewProvider(t, "")
	p.AccessToken = accessToken
	return p.URL
}

// seed creates a connector straight through the catalog, without the
// request deadline, and mints from it once on this instance (retrying
// while the backends warm up), so its credential, secrets and the
// token-cache key are held in-process.
func (e *faultEnv) seed(in map[string]any) {
	e.t.Helper()
	raw, _ := json.Marshal(in)
	var input connector.Input
	if err := json.Unmarshal(raw, &input); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.cat.Create(ctx, &input, "setup"); err != nil {
		e.t.Fatal(err)
	}
	faulttest.Until(e.t, "first token", func() bool {
		code, _ := e.post(e.url, token.FnToken, tokenReq(in["name"].(string)))
		return code == http.StatusOK
	})
}

func tokenReq(name string) map[string]any {
	return map[string]any{"connector": name, "agent": "agent-1"}
}

// adminFn names the function of each faulttest.Writer operation.
var adminFn = map[string]string{"create": connectors.FnCreate, "update": connectors.FnUpdate, "delete": connectors.FnDelete}

// load is one goroutine's share of the mixed load: connector writes of its
// own (faulttest.Writer, no deletes: its connectors are minted from), and
// reads, lists and mints of the seeded ones and its own.
func (e *faultEnv) load(g int, seeds []string, providerURL string, h *faulttest.History, stop <-chan struct{}) {
	w := &faulttest.Writer{G: g, H: h,
		Post: func(op string, body any) int {
			code, _ := e.post(e.url, adminFn[op], body)
			return code
		},
		New: func(name string) map[string]any { return clientCreds(name, providerURL, "agent-1") },
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		seed := seeds[(g+i)%len(seeds)]
		switch i % 7 {
		case 0:
			w.Create(i)
		case 1, 2:
			w.Update(i, i%7 == 1)
		case 3:
			e.post(e.url, connectors.FnGet, map[string]any{"name": seed})
		case 4:
			e.post(e.url, connectors.FnList, map[string]any{"agent": "agent-1"})
		case 5:
			e.post(e.url, token.FnToken, tokenReq(seed))
		case 6:
			if name, ok := w.Newest(); ok {
				e.post(e.url, token.FnToken, tokenReq(name))
			}
		}
	}
}

// TestFaultFirestoreOutage stops Firestore under a mixed load and brings it
// back: requests during the outage end as 503 unavailable (or succeed from
// a cache) within the deadline, none as 500; afterwards every connector is
// whole, every write answered 503 happened entirely or not at all, and
// minting works again on the same instance.
func TestFaultFirestoreOutage(t *testing.T) {
	for _, fault := range faulttest.Faults {
		t.Run(fault.Name, func(t *testing.T) {
			t.Parallel()
			b := faulttest.NewBackends(t)
			p := newProvider(t)
			loadProvider := anyClientProvider(t)
			e := newFaultEnv(t, b)

			seeds := []string{"Seed0", "Seed1", "Seed2", "Seed3"}
			for _, name := range seeds {
				e.seed(clientCreds(name, p.URL, "agent-1"))
			}
			before := faulttest.Observe(t, b.Direct)

			e.rec.SetPhase("before")
			var h faulttest.History
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.load(g, seeds, loadProvider, &h, stop)
				}()
			}
			time.Sleep(time.Second)
			e.rec.SetPhase("outage")
			fault.Start(b.Firestore)
			time.Sleep(faulttest.Outage)
			e.rec.SetPhase("after")
			b.Firestore.Restore()

			// The same instance recovers: a new connector is created and
			// minted from (the shared token cache written), and a seeded
			// one is minted again at the provider.
			n := 0
			took := faulttest.Until(t, "create and mint after the restore", func() bool {
				n++
				name := fmt.Sprintf("After%d", n)
				if code, _ := e.post(e.url, connectors.FnCreate, clientCreds(name, p.URL, "agent-1")); code != http.StatusCreated {
					return false
				}
				code, _ := e.post(e.url, token.FnToken, tokenReq(name))
				return code == http.StatusOK
			})
			tested := faulttest.Until(t, "connectors-test after the restore", func() bool {
				code, _ := e.post(e.url, probe.FnTest, map[string]any{"name": seeds[0]})
				return code == http.StatusOK
			})
			time.Sleep(time.Second) // the load goes on against the recovered backend
			close(stop)
			wg.Wait()
			t.Logf("recovered %v after the restore (connectors-test %v later)\n%s", took.Round(time.Millisecond), tested.Round(time.Millisecond), e.rec.Summary())

			e.rec.Check(t, faulttest.Deadline+faulttest.Slack, http.StatusOK, http.StatusCreated, http.StatusServiceUnavailable)
			if e.rec.Count("outage", http.StatusServiceUnavailable) == 0 {
				t.Error("no request failed during the outage: the fault did not bite")
			}

			after := faulttest.Observe(t, b.Direct)
			faulttest.CheckUnchanged(t, before, after, seeds)
			checked, applied := h.Check(t, after)
			strays := faulttest.CheckStrays(t, b.Direct)
			t.Logf("%d load connectors checked; %d requests answered 503 took effect anyway; %d stray secrets", checked, applied, len(strays))
		})
	}
}

// TestFaultSecretManagerOutage stops Secret Manager: writes that need it
// are refused with 503 and leave nothing behind, what an instance already
// holds (a cached credential, a connector's secrets, the token-cache key)
// keeps working, an instance with cold caches gets 503 until Secret Manager
// is back and then 200 from the shared cache, without a restart.
func TestFaultSecretManagerOutage(t *testing.T) {
	for _, fault := range faulttest.Faults {
		t.Run(fault.Name, func(t *testing.T) {
			t.Parallel()
			b := faulttest.NewBackends(t)
			p := newProvider(t)
			e := newFaultEnv(t, b)
			for _, name := range []string{"Warm", "Meta", "Rotate"} {
				e.seed(clientCreds(name, p.URL, "agent-1"))
			}
			before := faulttest.Observe(t, b.Direct)

			e.rec.SetPhase("outage")
			fault.Start(b.SecretManager)
			// Writes that need Secret Manager are refused.
			e.mustPost(e.url, connectors.FnCreate, clientCreds("New", p.URL, "agent-1"), http.StatusServiceUnavailable)
			e.mustPost(e.url, connectors.FnUpdate, map[string]any{"name": "Rotate", "changes": map[string]any{"clientSecret": "rotated"}}, http.StatusServiceUnavailable)
			// What needs only Firestore works.
			e.mustPost(e.url, connectors.FnGet, map[string]any{"name": "Warm"}, http.StatusOK)
			e.mustPost(e.url, connectors.FnList, map[string]any{}, http.StatusOK)
			e.mustPost(e.url, connectors.FnUpdate, map[string]any{"name": "Meta", "changes": map[string]any{"scope": "other"}}, http.StatusOK)
			// This instance holds the credential, the secrets and the key.
			e.mustPost(e.url, token.FnToken, tokenReq("Warm"), http.StatusOK)
			// A new revision mints anew, from the secrets held in-process.
			e.mustPost(e.url, token.FnToken, tokenReq("Meta"), http.StatusOK)
			e.mustPost(e.url, probe.FnTest, map[string]any{"name": "Warm"}, http.StatusOK)
			calls := p.Calls.Load()
			// A cold instance has none of it.
			cold := e.instance()
			e.mustPost(cold, token.FnToken, tokenReq("Warm"), http.StatusServiceUnavailable)

			e.rec.SetPhase("after")
			b.SecretManager.Restore()
			took := faulttest.Until(t, "the cold instance", func() bool {
				code, _ := e.post(cold, token.FnToken, tokenReq("Warm"))
				return code == http.StatusOK
			})
			if n := p.Calls.Load(); n != calls {
				t.Errorf("the cold instance called the provider %d times; the shared cache had the credential", n-calls)
			}
			e.mustPost(e.url, connectors.FnCreate, clientCreds("New", p.URL, "agent-1"), http.StatusCreated)
			e.mustPost(e.url, connectors.FnUpdate, map[string]any{"name": "Rotate", "changes": map[string]any{"clientSecret": "rotated"}}, http.StatusOK)
			e.mustPost(cold, token.FnToken, tokenReq("New"), http.StatusOK)
			t.Logf("the cold instance recovered %v after the restore\n%s", took.Round(time.Millisecond), e.rec.Summary())

			e.rec.Check(t, faulttest.Deadline+faulttest.Slack, http.StatusOK, http.StatusCreated, http.StatusServiceUnavailable)
			after := faulttest.Observe(t, b.Direct)
			faulttest.CheckUnchanged(t, before, after, []string{"Warm"})
			if after["Meta"].Connector.Scope != "other" || after["Meta"].Bundle != before["Meta"].Bundle {
				t.Error("Meta's update went wrong")
			}
			if after["Rotate"].Bundle.ClientSecret != "rotated" {
				t.Error("Rotate's secret was not rotated after the restore")
			}
			faulttest.CheckStrays(t, b.Direct)
		})
	}
}
